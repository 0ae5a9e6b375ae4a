"""End to end: `python -m nnexp` in a subprocess with a temporary MLflow store."""
from __future__ import annotations

import pytest

from conftest import all_runs

pytestmark = pytest.mark.slow


def test_default_run_is_tracked(cli, tmp_path):
    from mlflow.tracking import MlflowClient

    proc = cli("trainer.epochs=3")
    assert proc.returncode == 0, proc.stderr
    assert "test/acc" in proc.stdout and "mlflow ui --backend-store-uri" in proc.stdout
    (run,) = all_runs(cli.uri)
    assert run.info.status == "FINISHED"
    assert run.info.run_id in proc.stdout
    # the address of the experiment's runs table in MLflow 3's model-training view
    assert f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs?workflowType=machine_learning" in proc.stdout
    assert run.data.params["model.hidden"] == "[64]" and run.data.params["trainer.epochs"] == "3"
    assert run.data.tags["seed"] == "0" and run.data.tags["nnexp.version"]
    client = MlflowClient(cli.uri)
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert [m.step for m in history] == [0, 1, 2, 3]
    for key in ("train/loss", "test/acc", "layer1/grad_norm", "layer1/dead_frac", "layer2/weight_norm"):
        assert key in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"config.yaml", "weights.npz", "learning_curve.png"}
    weights = client.download_artifacts(run.info.run_id, "weights.npz", str(tmp_path))
    import numpy as np

    with np.load(weights, allow_pickle=False) as w:
        assert w["W1"].shape == (64, 64) and w["W2"].shape == (64, 10)
    assert (tmp_path / "mlflow.db").exists()  # the store is SQLite (artifacts live under ./mlruns)


def test_own_presets_and_searches_from_config_dir(cli, tmp_path):
    """--config-dir adds a directory of one's own options to conf/: a preset, a search (its workers
    compose trials from there too), and a bad value in it stops with one line naming the key."""
    own = tmp_path / "own"
    (own / "experiment").mkdir(parents=True)
    (own / "search").mkdir()
    (own / "experiment" / "tiny.yaml").write_text(
        "# @package _global_\nmodel:\n  hidden: [7]\ntrainer:\n  epochs: 2\ntracking:\n  experiment: tiny\n")
    search = ("# @package _global_\nsearch:\n  name: mine\n  metric: val/acc\n  direction: maximize\n"
              "  n_trials: 3\n  sampler: random\n  pruner: none\n  storage: null\n  workers: 2\n  seed: 0\n"
              "  heartbeat: 10\n  params:\n    optim.lr: tag(log, interval(0.01, 0.5))\n"
              "    trainer.batch_size: choice(16, BATCH)\ntrainer:\n  epochs: 2\n")
    (own / "search" / "mine.yaml").write_text(search.replace("BATCH", "32"))
    (own / "search" / "bad.yaml").write_text(search.replace("BATCH", "-32"))
    proc = cli("--config-dir", str(own), "+experiment=tiny")
    assert proc.returncode == 0, proc.stderr
    assert "64-7-10" in proc.stdout
    proc = cli(f"--config-dir={own}", "+search=mine")
    assert proc.returncode == 0, proc.stderr
    assert "study 'mine'" in proc.stdout and "0 pruned, 0 fail" in proc.stdout  # pruner: none
    proc = cli("-cd", str(own), "+search=bad")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "nnexp: error: trainer.batch_size: -32 is not allowed; expected an integer >= 1 or null"]


def test_width_sweep_preset_makes_parent_and_children(cli):
    proc = cli("+experiment=width_sweep", "model.hidden=[2],[4],[8]", "seed=0", "trainer.steps=4", "trainer.repeat=5",
               "hydra.launcher.n_jobs=1")
    assert proc.returncode == 0, proc.stderr
    runs = all_runs(cli.uri)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(r.data.params["model.hidden"] for r in children) == ["[2]", "[4]", "[8]"]
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in children)
    # named for what a user compares: the parent after its preset and swept keys, each job by its values
    assert parents[0].info.run_name == "width_sweep sweep: model.hidden"  # seed=0 replaced the preset's seed sweep
    assert sorted(r.info.run_name for r in children) == [f"model.hidden=[{n}]" for n in (2, 4, 8)]


def test_grid_sweep_with_joblib_launcher(cli):
    proc = cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.hidden=[4],[8]", "optim.lr=0.01,0.3",
               "trainer.epochs=1", "tracking.log_artifacts=false")
    assert proc.returncode == 0, proc.stderr
    runs = all_runs(cli.uri)
    assert len(runs) == 5 and {r.info.status for r in runs} == {"FINISHED"}
    jobs = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert sorted(jobs) == sorted(f"model.hidden=[{h}] optim.lr={lr}" for h in (4, 8) for lr in (0.01, 0.3))
    assert all(r.data.params["optim.lr"] == name.split("optim.lr=")[1] for name, r in jobs.items())
    # every job's result line names its overrides; the summary names the best job by val/acc
    for name in jobs:
        assert f"] {name}: test/acc" in proc.stdout
    best = max(jobs.values(), key=lambda r: r.data.metrics["val/acc"])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert "sweep of 4 jobs in experiment 'nnexp': 4 finished, 0 failed or stopped" in proc.stdout
    assert f"best val/acc {best.data.metrics['val/acc']:.4f}: {best.info.run_name} (run {best.info.run_id})" in proc.stdout
    assert f"parent run {parent.info.run_id} in {cli.uri}" in proc.stdout and "mlflow ui --backend-store-uri" in proc.stdout


def test_sweep_jobs_log_no_learning_curve_png_unless_asked(cli):
    """tracking.learning_curve=null: a sweep job's artifacts are its config and weights (drawing the PNG
    costs more than a small job's training); true draws it for sweep jobs too."""
    from mlflow.tracking import MlflowClient

    proc = cli("-m", "trainer.epochs=1", "tracking.learning_curve=null,true")
    assert proc.returncode == 0, proc.stderr
    client = MlflowClient(cli.uri)
    jobs = {r.data.params["tracking.learning_curve"]: r for r in all_runs(cli.uri) if "mlflow.parentRunId" in r.data.tags}
    artifacts = {k: {a.path for a in client.list_artifacts(r.info.run_id)} for k, r in jobs.items()}
    assert artifacts == {"None": {"config.yaml", "weights.npz"}, "True": {"config.yaml", "weights.npz", "learning_curve.png"}}


def test_experiments_open_on_the_runs_table_in_mlflow_ui(cli):
    """MLflow 3's UI shows an experiment's runs (not its GenAI traces page) when it is tagged as model development."""
    from nnexp.tracking import client

    assert cli("trainer.epochs=1", "tracking.experiment=kind_demo", "tracking.log_artifacts=false").returncode == 0
    c = client(cli.uri)
    exp = c.get_experiment_by_name("kind_demo")
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    c.delete_experiment_tag(exp.experiment_id, "mlflow.experimentKind")  # one an older nnexp made: tagged on next use
    assert cli("trainer.epochs=1", "tracking.experiment=kind_demo", "tracking.log_artifacts=false").returncode == 0
    assert c.get_experiment_by_name("kind_demo").tags.get("mlflow.experimentKind") == "custom_model_development"


def test_divergence_ends_failed_with_reason(cli):
    proc = cli("loss=mse", "model.output=linear", "optim.lr=50", "trainer.epochs=30")
    assert proc.returncode == 1 and "DIVERGED" in proc.stdout
    (run,) = all_runs(cli.uri)
    assert run.info.status == "FAILED"
    assert run.data.tags["nnexp.diverged"] == "True" and "diverged" in run.data.tags["nnexp.end_reason"]


def test_sweep_with_a_diverging_job_completes_the_others(cli):
    proc = cli("-m", "loss=mse", "model.output=linear", "optim.lr=0.01,50", "trainer.epochs=5",
               "tracking.log_artifacts=false")
    assert proc.returncode == 0, proc.stderr
    runs = all_runs(cli.uri)
    status = {r.data.params.get("optim.lr", "parent"): r.info.status for r in runs}
    assert status == {"0.01": "FINISHED", "50": "FAILED", "parent": "FAILED"}
    assert "sweep of 2 jobs in experiment 'nnexp': 1 finished, 1 failed or stopped" in proc.stdout
    assert "best val/acc" in proc.stdout and ": optim.lr=0.01 (run " in proc.stdout


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_ends_the_run_killed(tmp_path, sig):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT, interruptible

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    assert all_runs(uri) == []  # creates the store's tables first: polling must not race the child's migration
    proc = subprocess.Popen([sys.executable, "-m", "nnexp", "trainer.batch_size=1", "trainer.epochs=1000"],
                            cwd=tmp_path, env=env, preexec_fn=interruptible, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not [r for r in all_runs(uri) if r.info.status == "RUNNING"]:
            time.sleep(0.2)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # never leave a training process behind, whatever failed above
    assert proc.returncode == 130, err
    (run,) = all_runs(uri)
    assert run.info.status == "KILLED" and "interrupted" in run.data.tags["nnexp.end_reason"]


def test_load_runs_returns_a_dataframe(cli):
    from nnexp.tracking import load_runs

    assert cli("-m", "seed=0,1", "trainer.epochs=1", "tracking.experiment=lr_demo",
               "tracking.log_artifacts=false").returncode == 0
    df = load_runs("lr_demo", cli.uri)
    children = df[df["tags.mlflow.parentRunId"].notna()]
    assert sorted(children["params.seed"]) == ["0", "1"]
    assert (children["metrics.test/acc"] > 0).all()
    hist = load_runs("lr_demo", cli.uri, history=True)
    assert set(hist.columns) == {"run_id", "key", "step", "value"}
    assert set(hist[hist.key == "val/acc"].step) == {0, 1}


def test_preflight_composes_group_combinations_and_sets_plain_values(monkeypatch):
    """The pre-flight composes each combination of swept groups once and sets swept plain values on a
    composed job (what Hydra's own check did, in fewer compositions); it then marks the command, so
    nnexp's sweeper does not compose every job a second time (and checks as Hydra's otherwise)."""
    import hydra

    from nnexp import cli as nnexp_cli

    calls = []
    real = hydra.compose

    def counting(config_name=None, overrides=(), **kw):
        calls.append(list(overrides))
        return real(config_name, overrides=overrides, **kw)

    monkeypatch.setattr(hydra, "compose", counting)
    monkeypatch.setattr(nnexp_cli, "_preflighted", [])
    argv = ["-m", "seed=0,1,2,3,4", "optim.lr=0.01,0.1,1.0", "activation=relu,tanh", "init=he,xavier",
            "tracking=none", "hydra.sweep.dir=/tmp/x"]
    nnexp_cli.preflight(argv)
    groups = sorted(tuple(x for x in o if x.startswith(("activation=", "init="))) for o in calls[1:])
    # the command's first job (with its hydra config), then 4 group combinations; no composition per seed or lr
    assert len(calls) == 1 + 4 and groups == sorted(
        (f"activation={a}", f"init={i}") for a in ("relu", "tanh") for i in ("he", "xavier"))
    assert nnexp_cli._preflighted == [[o for o in argv[1:] if not o.startswith("hydra.")]]

    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from omegaconf import OmegaConf

    from hydra_plugins.nnexp_sweeper.nnexp_sweeper import NnexpSweeper

    checked = []
    monkeypatch.setattr(BasicSweeper, "validate_batch_is_legal", lambda self, batch: checked.append(batch))
    sweeper = NnexpSweeper(max_batch_size=None)
    sweeper.config = OmegaConf.create({"hydra": {"overrides": {"task": argv[1:-1]}}})
    sweeper.validate_batch_is_legal([["seed=0"]])
    assert checked == []  # the pre-flight composed them
    sweeper.config = OmegaConf.create({"hydra": {"overrides": {"task": ["seed=0,1"]}}})
    sweeper.validate_batch_is_legal([["seed=0"], ["seed=1"]])
    assert checked == [[["seed=0"], ["seed=1"]]]  # another command: Hydra's own check
