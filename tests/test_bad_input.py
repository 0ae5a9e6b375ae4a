"""The bad-input catalogue: every case exits 2 with one line `nnexp: error: ...` that names what was
wrong and what is allowed, creates no RUNNING run, and leaves the existing MLflow store and Optuna
study byte for byte as they were."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, all_runs
from nnexp.data.idx import write_idx

NOT_A_DIR = "<tmp>/a-file"  # a regular file where a directory is expected


def mnist_dir(problem):
    """Writers of an MNIST directory with one problem, for dataset=mnist dataset.data_dir=<tmp>/data."""
    def write(d):
        d.mkdir()
        rng = np.random.default_rng(0)
        for part, n in (("train", 40), ("t10k", 20)):
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            if problem == "nan" and part == "train":
                images = images.astype(np.float32)
                images[3, 4, 5] = np.nan
            if problem == "count" and part == "train":
                labels = labels[:-1]
            write_idx(d / f"{part}-images-idx3-ubyte", images)
            write_idx(d / f"{part}-labels-idx1-ubyte", labels)
        target = d / "train-images-idx3-ubyte"
        if problem == "magic":
            target.write_bytes(b"\x89PNG\r\n\x1a\n" + target.read_bytes()[8:])
        elif problem == "truncated":
            target.write_bytes(target.read_bytes()[:-100])
        elif problem == "not-gzip":
            target.unlink()
            (d / "train-images-idx3-ubyte.gz").write_text("<html>404 Not Found</html>")
        elif problem == "corrupt-gzip":
            data = target.read_bytes()
            target.unlink()
            (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data)[:200])
        elif problem == "missing":
            for f in d.iterdir():
                f.unlink()
    return write


MNIST = ["dataset=mnist", "dataset.data_dir=<tmp>/data", "dataset.download=false"]
SEARCH = ["+search=digits"]
CATALOGUE = [
    # unknown options and misspelled keys, in every group
    ("dataset option", ["dataset=mnits"], "dataset=mnits: unknown option; available: circle, csv, digits"),
    ("dataset key", ["dataset.clases=[0,1]"], "dataset.clases: unknown key; dataset has:"),
    ("model key", ["model.hiden=[3]"], "model.hiden: unknown key; model has: bias, budget, depth, dtype, hidden"),
    ("model key added", ["+model.hiden=3"], "model.hiden: unknown key"),
    ("init option", ["init=kaiming"], "init=kaiming: unknown option; available: constant, he, normal"),
    ("init key", ["init.bais=0.1"], "init.bais: unknown key; init has: bias"),
    ("activation option", ["activation=swish"], "activation=swish: unknown option; available: leaky_relu, linear"),
    ("activation key", ["activation.slop=0.1"], "activation.slop: unknown key"),
    ("loss option", ["loss=hinge"], "loss=hinge: unknown option; available: cross_entropy, mse"),
    ("loss key", ["loss.reductoin=sum"], "loss.reductoin: unknown key; loss has:"),
    ("optim option", ["optim=adam"], "optim=adam: unknown option; available: momentum, sgd"),
    ("optim key", ["optim.l=0.1"], "optim.l: unknown key; optim has:"),
    ("trainer key", ["trainer.epoch=3"], "trainer.epoch: unknown key; trainer has:"),
    ("tracking key", ["tracking.ur=x"], "tracking.ur: unknown key; tracking has:"),
    ("experiment option", ["+experiment=width_sweeep"], "experiment=width_sweeep: unknown option; available:"),
    ("search option", ["+search=mnits"], "search=mnits: unknown option; available: digits, mnist"),
    ("unparsable override", ["model.hidden=[1"], "cannot parse this override"),
    ("preset's launcher key on the basic launcher", ["+experiment=init_schemes_quick", "hydra/launcher=basic"],
     "hydra.launcher.n_jobs: Key 'n_jobs' not in 'BasicLauncherConf' (In 'experiment/init_schemes"),
    # out-of-range or wrongly typed values
    ("zero width", ["model.hidden=[0]"], "model.hidden[0]: 0 is not allowed; expected a positive integer width"),
    ("negative width", ["model.hidden=[-3]"], "model.hidden[0]: -3 is not allowed"),
    ("width as a string", ["model.hidden=[a]"], "model.hidden[0]: 'a' is not allowed"),
    ("width as a quoted number", ["model.hidden=['64']"], "model.hidden[0]: '64' is not allowed"),
    ("zero width in a sweep", ["-m", "model.hidden=[4],[0]"], "model.hidden[0]: 0 is not allowed"),
    # the pre-flight sets a swept value on one composed job (no composition per value): still every value checked
    ("bad value late in a grid", ["-m", "seed=0,1", "optim.lr=0.1,0.3,-1"], "optim.lr: -1 is not allowed; expected a number > 0"),
    ("width as a string in a grid", ["-m", "trainer.epochs=1,2", "model.hidden=[4],x"], "model.hidden: 'x' is not allowed"),
    ("unknown option in a second group sweep", ["-m", "activation=relu,tanh", "init=he,nope"], "init=nope: unknown option"),
    ("diagnostics_every zero", ["trainer.diagnostics_every=0"], "trainer.diagnostics_every: 0 is not allowed"),
    ("learning_curve not a bool", ["tracking.learning_curve=maybe"], "tracking.learning_curve: 'maybe' is not allowed"),
    ("dtype", ["model.dtype=float16"], "model.dtype: 'float16' is not allowed; expected one of: float32, float64"),
    ("lr zero", ["optim.lr=0"], "optim.lr: 0 is not allowed; expected a number > 0"),
    ("lr negative", ["optim.lr=-1"], "optim.lr: -1 is not allowed; expected a number > 0"),
    ("lr a word", ["optim.lr=fast"], "optim.lr: 'fast' is not allowed; expected a number > 0"),
    ("momentum 1", ["optim.momentum=1.0"], "optim.momentum: 1.0 is not allowed; expected a number >= 0 and < 1"),
    ("weight decay", ["optim.weight_decay=-0.1"], "optim.weight_decay: -0.1 is not allowed"),
    ("batch size zero", ["trainer.batch_size=0"], "trainer.batch_size: 0 is not allowed; expected an integer >= 1"),
    ("batch larger than the data", ["trainer.batch_size=100000"], "trainer.batch_size: 100000 is larger than the"),
    ("epochs zero", ["trainer.epochs=0"], "trainer.epochs: 0 is not allowed; expected an integer >= 1"),
    ("epochs fractional", ["trainer.epochs=2.5"], "trainer.epochs: 2.5 is not allowed"),
    ("probe zero", ["trainer.probe=0"], "trainer.probe: 0 is not allowed"),
    ("resume not a run id", ["trainer.resume=latest"], "trainer.resume: 'latest' is not allowed; expected null or"),
    ("reduction", ["loss.reduction=avg"], "loss.reduction: 'avg' is not allowed; expected one of: mean, sum"),
    ("val fraction", ["dataset.val_frac=1.5"], "dataset.val_frac: 1.5 is not allowed"),
    ("softmax over one unit", ["model.output=softmax", "model.outputs=1"], "model.outputs: softmax over 1 unit"),
    ("output/loss pair", ["model.output=linear"], "model.output: 'linear' output cannot be trained with loss=cross_entropy"),
    ("empty class subset", ["dataset=mnist10k", "dataset.classes=[]"], "dataset.classes"),
    ("labels absent from the data", ["dataset=mnist10k", "dataset.classes=[3,12]"], "dataset.classes"),
    ("pool does not divide the image", ["dataset=mnist10k", "dataset.pool=5"], "dataset.pool: 5 divides neither 28 nor 27; allowed: 1, 2, 3"),
    ("search: empty interval", [*SEARCH, 'search.params.init="interval(1.0, 0.1)"'],
     "search.params.init: interval(1.0, 0.1) is empty; allowed: low < high"),
    ("search: empty range", [*SEARCH, 'search.params.activation="range(5, 1)"'],
     "search.params.activation: range(5, 1) holds no value; allowed: range(start, stop, step) with start < stop"),
    ("search: empty choice", [*SEARCH, 'search.params.activation="choice()"'], "empty choice is not legal"),
    ("search: unquoted interval", [*SEARCH, "search.params.init=interval(1.0, 0.1)"],
     "an interval cannot be swept by a grid; for a search space quote it"),
    ("search key in the space", [*SEARCH, "search.n_trial=3"], "search.n_trial: unknown key; search has: batch, direction"),
    ("search: sampler", [*SEARCH, "search.sampler=foo"], "search.sampler: 'foo' is not allowed; expected one of: tpe, random, qmc"),
    ("search: n_trials", [*SEARCH, "search.n_trials=0"], "search.n_trials: 0 is not allowed"),
    ("search: metric", [*SEARCH, "search.metric=val/f1"], "search.metric"),
    # dataset problems
    ("missing files", MNIST, "mnist: files not found in"),
    ("data directory missing", ["dataset=mnist", "dataset.data_dir=<tmp>/nowhere", "dataset.download=false"], "mnist"),
    ("download fails", ["dataset=mnist", "dataset.data_dir=<tmp>/dl", "dataset.base_url=http://127.0.0.1:9/"],
     "mnist: files not found in <tmp>/dl; put train-images-idx3-ubyte.gz"),
    ("download fails in a sweep", ["-m", "dataset=mnist", "dataset.data_dir=<tmp>/dl", "dataset.base_url=http://127.0.0.1:9/",
                                   "seed=0,1"], "(download from http://127.0.0.1:9/train-images-idx3-ubyte.gz failed"),
    ("download fails in a search", [*SEARCH, "dataset=mnist", "dataset.data_dir=<tmp>/dl",
                                    "dataset.base_url=http://127.0.0.1:9/"], "offline, dataset=mnist10k is the"),
    ("mnist10k read from elsewhere", ["dataset=mnist10k", "dataset.data_dir=<tmp>"], "dataset.data_dir: unknown key"),
    ("wrong IDX magic", MNIST, "train-images-idx3-ubyte: not an IDX file"),
    ("truncated file", MNIST, "train-images-idx3-ubyte: truncated"),
    ("image/label count mismatch", MNIST, "has 40 images but"),
    ("NaN in the data", MNIST, "contains 1 NaN or inf"),
    ("gzip that is not gzip", MNIST, "train-images-idx3-ubyte.gz: not an IDX file"),
    ("corrupt gzip", MNIST, "train-images-idx3-ubyte.gz: starts like gzip but is not valid gzip"),
    # tracking and storage problems
    ("tracking store inside a file", [f"tracking.uri=sqlite:///{NOT_A_DIR}/mlflow.db"], "cannot use the MLflow store"),
    ("tracking store directory missing", ["tracking.uri=sqlite:///<tmp>/nowhere/mlflow.db"], "does not exist"),
    ("unreachable tracking server", ["tracking.uri=http://127.0.0.1:9"], "cannot reach the tracking server"),
    ("unsupported tracking scheme", ["tracking.uri=foo://bar"], "unsupported scheme 'foo'; allowed: sqlite"),
    ("invalid storage URL", [*SEARCH, "search.storage=foo://x"], "search.storage: 'foo://x' is not allowed"),
    ("unreachable study storage", [*SEARCH, "search.storage=postgresql://nobody@127.0.0.1:1/none"],
     "search.storage=postgresql://nobody@127.0.0.1:1/none: cannot open the study"),
]
DATA_PROBLEMS = {"missing files": "missing", "wrong IDX magic": "magic", "truncated file": "truncated",
                 "image/label count mismatch": "count", "NaN in the data": "nan",
                 "gzip that is not gzip": "not-gzip", "corrupt gzip": "corrupt-gzip"}


def test_the_catalogue_holds_at_least_40_cases():
    assert len(CATALOGUE) >= 40 and len({name for name, _, _ in CATALOGUE}) == len(CATALOGUE)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def stores(tmp_path_factory):
    """An MLflow store with one finished run and an Optuna study with one trial: the results that
    no bad command may touch."""
    d = tmp_path_factory.mktemp("stores")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{d / 'mlflow.db'}", "PYTHONPATH": str(ROOT)}
    for args in (["trainer.epochs=1"], ["+search=digits", "search.n_trials=1", "trainer.epochs=1"]):
        done = subprocess.run([sys.executable, "-m", "nnexp", "tracking.log_artifacts=false", *args], cwd=d, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    return d


@pytest.mark.parametrize("name,args,expected", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input(stores, tmp_path, name, args, expected):
    for f in ("mlflow.db", "optuna.db"):
        shutil.copy(stores / f, tmp_path / f)
    before = {f: _sha(tmp_path / f) for f in ("mlflow.db", "optuna.db")}
    (tmp_path / "a-file").write_text("not a directory")
    if name in DATA_PROBLEMS:
        mnist_dir(DATA_PROBLEMS[name])(tmp_path / "data")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    env.pop("NNEXP_DATA_DIR", None)
    argv = [a.replace("<tmp>", str(tmp_path)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "nnexp", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nnexp: error: ") and expected.replace("<tmp>", str(tmp_path)) in lines[0], lines[0]
    assert {f: _sha(tmp_path / f) for f in before} == before  # no result touched
    runs = all_runs(uri)
    assert len(runs) >= 2 and not [r for r in runs if r.info.status == "RUNNING"]
