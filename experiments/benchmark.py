"""How fast nnexp trains, against PyTorch, the machine's matmul peak and the seed's own code.

Every number comes from one run of this script, each measurement in a separate process, nnexp
and the competitor alternating, the median over repeats. Writes results/benchmark/: benchmark.md
(the tables) and scaling.png (time per epoch vs hidden width and vs batch size). Its last section,
sweep throughput, runs whole sweeps: nnexp's digits sweep against experiments/peer_sweep.py, the
same sweep as a PyTorch user of Hydra + MLflow writes it.

    python experiments/benchmark.py [--repeats 3] [--tiny] [--out DIR]
    python experiments/benchmark.py --only sweeps [--launchers]   # that section alone: OUT/sweep_throughput.md
    python experiments/benchmark.py --only populations            # that section alone: OUT/populations.md

PyTorch is optional (`pip install -e '.[bench]'`; on these machines `pip install torch==2.13.0`
takes a CPU build from local disk); without it its columns say so. --tiny runs every part on a
few hundred samples in seconds (the test suite uses it); its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETS = {"784-200-10 sigmoid": ([200], "sigmoid"), "784-256x3-10 relu": ([256, 256, 256], "relu")}
BATCHES = (1, 32, 128, 512)


# --- measurements, each run in its own process (`--worker KIND JSON`) ---------------------------
def _mnist(n_train):
    from nnexp.data import load_dataset

    ds = load_dataset({"name": "mnist10k", "max_train": n_train, "val_frac": 0.1, "seed": 0}, 0)
    return ds


def nnexp_train(hidden, act, batch, dtype="float32", n_train=None, epochs=1, tracking=None, fused=True, **_):
    """Samples per second of nnexp's trainer (per-epoch evaluation included), tracking optional:
    as `run()` does it, the MLflow run created in the background while training starts, metrics
    buffered, the run ended (its last metrics sent) inside the timed span. `tracking`: the URI of
    an existing store (made by the parent process, as a user's mlflow.db exists after the first run)."""
    import numpy as np
    from hydra import compose, initialize_config_dir

    from nnexp.experiment import build, encode_splits
    from nnexp.optim import SGD
    from nnexp.train import train

    ds = _mnist(n_train)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"model.hidden={hidden}", f"activation={act}", f"model.dtype={dtype}",
                                           f"trainer.batch_size={batch}", f"trainer.epochs={epochs}",
                                           "trainer.progress=false", "optim.lr=0.05", f"optim.fused={fused}"])
    model, loss = build(cfg, ds.X_train.shape[1], 10, np.random.default_rng(0))
    data = encode_splits(ds, 10, [0.0, 1.0], model.dtype)
    from nnexp.tracking import NullTracker, Tracker

    tracker, in_tracker = Tracker(tracking) if tracking else NullTracker(), [0.0]

    def callback(metrics, step):  # time spent in the tracker during training
        tic_ = time.perf_counter()
        tracker.log_metrics(metrics, step)
        in_tracker[0] += time.perf_counter() - tic_

    tic = time.perf_counter()
    tracker.start("benchmark", params={"batch": str(batch)}, background=True)
    r = train(model, loss, SGD(model.params(), 0.05, fused=fused), data, cfg.trainer, np.random.default_rng(1),
              callback=callback)
    tracker.end()
    seconds = time.perf_counter() - tic
    evals = epochs + 1
    flops = epochs * len(ds.y_train) * flops_per_sample([784, *hidden, 10]) + evals * eval_flops(
        [784, *hidden, 10], len(ds.y_train) + len(ds.y_val) + len(ds.y_test), min(1024, len(ds.y_train)))
    return {"samples_per_s": epochs * len(ds.y_train) / seconds, "seconds": seconds, "n_train": len(ds.y_train),
            "train_s": r["train_time_s"], "gflops_all": flops / seconds / 1e9,
            "gflops_steps": epochs * len(ds.y_train) * flops_per_sample([784, *hidden, 10]) / r["train_time_s"] / 1e9,
            "in_tracker_s": in_tracker[0]}


def torch_train(hidden, act, batch, dtype="float32", n_train=None, epochs=1, **_):
    """The same network, data, batches and per-epoch evaluation in PyTorch on the CPU."""
    try:
        import torch
    except ImportError:
        return {"missing": "torch not installed"}
    import numpy as np

    ds = _mnist(n_train)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    X, y = torch.tensor(ds.X_train, dtype=tdtype), torch.tensor(ds.y_train)
    splits = [(torch.tensor(getattr(ds, f"X_{s}"), dtype=tdtype), torch.tensor(getattr(ds, f"y_{s}"))) for s in
              ("train", "val", "test")]
    torch.manual_seed(0)
    layers, n_in = [], 784
    for w in hidden:
        layers += [torch.nn.Linear(n_in, w), torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.ReLU()]
        n_in = w
    net = torch.nn.Sequential(*layers, torch.nn.Linear(n_in, 10)).to(tdtype)
    opt, lossf = torch.optim.SGD(net.parameters(), lr=0.05), torch.nn.CrossEntropyLoss()
    gen = np.random.default_rng(1)

    def evaluate():
        with torch.no_grad():
            for Xs, ys in splits:
                if len(ys):
                    out = net(Xs)
                    lossf(out, ys).item(), (out.argmax(1) == ys).float().mean().item()

    tic = time.perf_counter()
    evaluate()
    for _ in range(epochs):
        perm = torch.from_numpy(gen.permutation(len(y)))
        Xp, yp = X[perm], y[perm]
        for i in range(0, len(y), batch):
            opt.zero_grad(set_to_none=True)
            lossf(net(Xp[i:i + batch]), yp[i:i + batch]).backward()
            opt.step()
        evaluate()
    seconds = time.perf_counter() - tic
    return {"samples_per_s": epochs * len(y) / seconds, "seconds": seconds, "version": torch.__version__}


def seed_code(n_train=None, epochs=1, **_):
    """Seed 001's per-sample code (experiments/rashid_reference.py) on the same digits."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import rashid_reference

    train_x, train_y, test_x, test_y = rashid_reference.mnist_subset()
    data = (train_x[:n_train], train_y[:n_train], test_x[:200], test_y[:200])
    r = rashid_reference.run(0, epochs, data)
    return {"samples_per_s": r["samples_per_s"], "seconds": r["train_s"]}


def nnexp_seed_protocol(n_train=None, epochs=1, **_):
    """nnexp on the seed's protocol (784-200-10 sigmoid, mse_rashid, batch 1), training time only."""
    from hydra import compose, initialize_config_dir

    from nnexp.experiment import run

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        over = ["experiment=rashid_mnist", "tracking=none", f"trainer.epochs={epochs}", "dataset.val_frac=0.0"]
        cfg = compose("config", overrides=over + ([f"dataset.max_train={n_train}"] if n_train else []))
    r = run(cfg, progress=False)
    return {"samples_per_s": r["steps"] / r["train_time_s"], "seconds": r["train_time_s"]}


def matmul_peak(size=2048, dtype="float32", **_):
    import numpy as np

    a = np.random.default_rng(0).random((size, size), dtype=np.float32).astype(dtype)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(3))
    return {"gflops": 2 * size**3 / best / 1e9}


def _timed(f):
    tic = time.perf_counter()
    f()
    return time.perf_counter() - tic


def flops_per_sample(sizes):
    """Matmul work per training sample: forward a@W (2·n_in·n_out), backward dW (2·n_in·n_out) and
    dA for every layer but the first (2·n_in·n_out)."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return sum(6 * a * b for a, b in pairs) - 2 * pairs[0][0] * pairs[0][1]


def eval_flops(sizes, n_eval, n_probe):
    """Matmul work of one evaluation: the forward pass over every split's n_eval samples, and the
    backward pass (dW and dA) of the gradient diagnostics over the n_probe probe samples."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    forward = sum(2 * a * b for a, b in pairs)
    return n_eval * forward + n_probe * (flops_per_sample(sizes) - forward)


def startup(uri, tiny=False, **_):
    """`python -m nnexp` (the default job, tracking on into an existing store): seconds from the
    process's start to its first training step, as the run logs it (time/startup_s)."""
    import os
    import tempfile

    from nnexp.tracking import load_runs

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        cmd = [sys.executable, "-m", "nnexp", "trainer.epochs=1", "trainer.progress=false",
               "tracking.experiment=startup", "tracking.log_artifacts=false", f"hydra.run.dir={tmp}"]
        subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, check=True)
    run = load_runs("startup", uri).sort_values("start_time").iloc[-1]
    return {"seconds": float(run["metrics.time/startup_s"])}


PEER = ROOT / "experiments" / "peer_sweep.py"
GRID = ("seed=0,1,2,3,4", "optim.lr=0.01,0.03,0.1,0.3,0.6,1.0")  # 30 jobs
GRID_TINY = ("seed=0,1", "optim.lr=0.1")                          # 2 jobs


def n_jobs(grid):
    """Jobs of a grid of comma-separated overrides: the product of the numbers of values."""
    jobs = 1
    for g in grid:
        jobs *= len(g.split("=", 1)[1].split(","))
    return jobs


def sweep_run(tool, grid, epochs, tracking=True, extra=(), **_):
    """One Hydra sweep, timed from the command's start to its exit, as a user runs it in a fresh
    directory: `python -m nnexp -m GRID trainer.epochs=E` (tool="nnexp") or the same overrides to
    experiments/peer_sweep.py (tool="peer", PyTorch), `extra` appended. With tracking, both log into
    a fresh MLflow SQLite store (MLFLOW_TRACKING_URI), created before the clock starts as a user's
    mlflow.db exists; then the runs' training time (the last time/train_s of each, both log it) is
    read from it. Without, nnexp runs tracking=none and the peer tracking.enabled=false."""
    import importlib.util
    import os
    import tempfile

    if tool == "peer" and importlib.util.find_spec("torch") is None:
        return {"missing": "torch not installed"}
    from nnexp.tracking import client, load_runs

    with tempfile.TemporaryDirectory(prefix="nnexp-bench-sweep-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        if tracking:
            client(uri)
        head = [sys.executable, "-m", "nnexp"] if tool == "nnexp" else [sys.executable, str(PEER)]
        off = {"nnexp": ["tracking=none"], "peer": ["tracking.enabled=false"]}[tool]
        cmd = [*head, "-m", *grid, f"trainer.epochs={epochs}", *([] if tracking else off), *extra]
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        tic = time.perf_counter()
        out = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - tic
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])}: exit {out.returncode}: "
                               f"{(out.stderr.strip().splitlines() or ['?'])[-1]}")
        jobs = n_jobs(grid)
        result = {"seconds": wall, "runs": jobs}
        if tracking:
            runs = load_runs(tool, uri)  # experiment "nnexp" or "peer"
            if "tags.nnexp.kind" in runs:
                runs = runs[runs["tags.nnexp.kind"] != "sweep"]  # nnexp's parent run of the sweep
            finished = int((runs["status"] == "FINISHED").sum())
            if len(runs) != jobs or finished != jobs:
                raise RuntimeError(f"{tool}: {len(runs)} runs in the store, {finished} finished; {jobs} jobs ran")
            train = float(runs["metrics.time/train_s"].sum())
            result.update(runs=len(runs), train_s=train, overhead_s=(wall - train) / len(runs))
    return result


WORKERS = {"sweep": sweep_run, "nnexp": nnexp_train, "startup": startup, "torch": torch_train, "seed": seed_code, "nnexp_seed": nnexp_seed_protocol,
           "peak": matmul_peak}
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmark_population beside this file
import benchmark_population  # noqa: E402

WORKERS.update(benchmark_population.WORKERS)


def run_worker(kind, **kwargs):
    """One measurement in a fresh process; its result dict."""
    out = subprocess.run([sys.executable, __file__, "--worker", kind, json.dumps(kwargs)], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} {kwargs} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternate(pairs, repeats, field="samples_per_s"):
    """{label: median of `field`}: every repeat runs every (label, kind, kwargs) once, in turn.
    With field=None, {label: {field: median}} of every numeric field."""
    results = {label: [] for label, _, _ in pairs}
    for _ in range(repeats):
        for label, kind, kwargs in pairs:
            results[label].append(run_worker(kind, **kwargs))

    def median(rs, key):
        return statistics.median(r.get(key, float("nan")) if "missing" not in r else float("nan") for r in rs)

    if field is not None:
        return {label: median(rs, field) for label, rs in results.items()}
    return {label: {k: median(rs, k) for k, v in rs[0].items() if isinstance(v, (int, float))}
            for label, rs in results.items()}


def sweep_wall(jobs, tiny):
    """Wall time of a small width sweep (tracking off) with 1 or 2 parallel jobs."""
    widths = "[16],[64]" if tiny else "[64],[128],[256],[512]"
    cmd = [sys.executable, "-m", "nnexp", "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}",
           "dataset=mnist10k", f"model.hidden={widths}", "trainer.epochs=1" if tiny else "trainer.epochs=3",
           "trainer.threads=1", "tracking=none", "trainer.progress=false", "hydra.sweep.dir=/tmp/nnexp-bench-sweep"]
    if tiny:
        cmd.append("dataset.max_train=300")
    tic = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - tic


def load_average():
    """The machine's 1-minute load average (what else is running shows here: the cores are shared)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return float("nan")


def default_launcher():
    """The class name of the Hydra launcher nnexp's sweeps use when none is chosen."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", return_hydra_config=True).hydra.launcher._target_.rsplit(".", 1)[-1]


def sweep_grid(tiny):
    """(the grid's overrides, epochs): 30 runs of 10 epochs, or 2 runs of 1 with --tiny."""
    return (GRID_TINY, 1) if tiny else (GRID, 10)


def launcher_comparison(repeats, tiny, launchers=None):
    """nnexp's tracked digits sweep under each launcher, alternating: {label: medians of sweep_run's
    fields}. `launchers`: {label: extra overrides}; by default the default launcher against
    `hydra/launcher=basic` (the same one until the default changes)."""
    launchers = launchers or {"default launcher": [], "hydra/launcher=basic": ["hydra/launcher=basic"]}
    grid, epochs = sweep_grid(tiny)
    return alternate([(label, "sweep", dict(tool="nnexp", grid=grid, epochs=epochs, extra=list(extra)))
                      for label, extra in launchers.items()], repeats, field=None)


def sweep_throughput(repeats, tiny, nnexp_extra=(), peer_extra=("trainer.threads=1",)):
    """The digits sweep through nnexp and through experiments/peer_sweep.py (PyTorch + Hydra +
    MLflow as a user writes it), alternating: the tracked grid (30 runs) and 6 runs untracked.
    `nnexp_extra`: overrides appended to nnexp's command (e.g. a launcher). Returns table lines."""
    grid, epochs = sweep_grid(tiny)
    small = ("seed=0", "optim.lr=0.1,0.3") if tiny else ("seed=0", GRID[1])
    load_before = load_average()
    tracked = alternate([(tool, "sweep", dict(tool=tool, grid=grid, epochs=epochs, extra=list(extra)))
                         for tool, extra in (("nnexp", nnexp_extra), ("peer", peer_extra))], repeats, field=None)
    untracked = alternate([(tool, "sweep", dict(tool=tool, grid=small, epochs=epochs, tracking=False,
                                                extra=list(extra)))
                           for tool, extra in (("nnexp", nnexp_extra), ("peer", peer_extra))], repeats, field=None)
    load_after = load_average()
    nan = float("nan")

    def num(v, fmt):
        return "n/a" if v != v else format(v, fmt)

    names = {"nnexp": "nnexp" + (f" ({' '.join(nnexp_extra)})" if nnexp_extra else ""),
             "peer": "PyTorch peer" + (f" ({' '.join(peer_extra)})" if peer_extra else "")}
    n_big, n_small = n_jobs(grid), n_jobs(small)
    lines = ["", "## Sweep throughput", "",
             f"The digits sweep `python -m nnexp -m {' '.join(grid)} trainer.epochs={epochs}` ({n_big} runs, "
             f"launcher: {default_launcher()}; the default job: 64-64-10 ReLU, cross-entropy, SGD at batch 32, **float32**) against "
             "`experiments/peer_sweep.py` with the same overrides: what a PyTorch user of Hydra + MLflow writes "
             "instead (torch MLP, nn.CrossEntropyLoss, torch.optim.SGD, a DataLoader; one mlflow.start_run per job "
             "with the config as params and train/loss, val/acc, test/acc every epoch). Wall time from the "
             "command's start to its exit, in a fresh directory, each tracked sweep into a fresh MLflow SQLite "
             "store made beforehand (as a user's mlflow.db exists); the two alternating, median of "
             f"{repeats}. Training time: the sum over the runs of their time/train_s (the SGD steps only, "
             "evaluations excluded; both log it); per-run overhead = (wall - training) / runs: start-up, "
             "imports, data, evaluations, tracking. nnexp does more per run than the peer: a parent run for "
             "the sweep, the pre-flight check of every job, per-layer diagnostics at the last evaluation, and "
             "two artifacts per run (config, weights); the peer imports torch, mlflow "
             "and scikit-learn at its top as scripts do, also when it does not track. Threads: nnexp at numpy's "
             "default (`trainer.threads` unset); the peer at " +
             ("`trainer.threads=1` (torch.set_num_threads(1); at torch's default of 2 OpenMP threads its "
              "training was seen to take 10-100x longer while other jobs shared this 2-core machine)" if
              "trainer.threads=1" in peer_extra else "torch's default") + ". "
             f"Load average (1 min; this benchmark's own process counts about 1 of it, the 2 cores are shared "
             f"with other jobs) {load_before:.2f} before and {load_after:.2f} after this section.", "",
             "| sweep | tool | runs | wall (s) | training (s) | per-run overhead (s) | wall per run (s) |",
             "|---|---|---|---|---|---|---|"]
    for tool in ("nnexp", "peer"):
        r = tracked[tool]
        wall, train = r.get("seconds", nan), r.get("train_s", nan)
        lines.append(f"| {n_big} runs, MLflow SQLite | {names[tool]} | {n_big} | {num(wall, '.1f')} | "
                     f"{num(train, '.3f')} | **{num(r.get('overhead_s', nan), '.2f')}** | {num(wall / n_big, '.2f')} |")
    for tool in ("nnexp", "peer"):
        wall = untracked[tool].get("seconds", nan)
        per_train = tracked[tool].get("train_s", nan) / n_big  # the same jobs' training, from the tracked sweep
        lines.append(f"| {n_small} runs, {'tracking=none' if tool == 'nnexp' else 'tracking.enabled=false'} | "
                     f"{names[tool]} | {n_small} | {num(wall, '.1f')} | {num(per_train * n_small, '.3f')}* | "
                     f"**{num(wall / n_small - per_train, '.2f')}** | {num(wall / n_small, '.2f')} |")
    if not tracked["peer"]:  # every field missing: torch is not installed
        lines += ["", "The PyTorch peer: n/a (torch not installed; `pip install -e '.[bench]'`)."]
    lines += ["", "\\* untracked runs log no time/train_s: their training time is estimated as the tracked "
              "sweep's mean per run (the same network, data and steps)."]
    return lines


def sweeps_section(args, repeats):
    lines = sweep_throughput(repeats, args.tiny)
    if args.launchers:
        grid, epochs = sweep_grid(args.tiny)
        res = launcher_comparison(repeats, args.tiny)
        lines += ["", f"nnexp's {n_jobs(grid)}-run sweep (MLflow SQLite) by launcher, alternating, median of {repeats}:",
                  "", "| launcher | wall (s) | training (s) | per-run overhead (s) |", "|---|---|---|---|"]
        lines += [f"| {label} | {r['seconds']:.1f} | {r['train_s']:.3f} | **{r['overhead_s']:.2f}** |"
                  for label, r in res.items()]
    return lines


def populations_section(args, repeats, peak=None):
    """Populations (nnexp/population.py) against the same members trained one after the other, in
    one process each way, alternating; the figure population.png: speed-up by P and width."""
    bp = benchmark_population
    P = 4 if args.tiny else 30
    tiny = ["trainer.epochs=1"] if args.tiny else []
    lines = ["", "## Populations", "", f"{P} members of one shape (seeds 0..{P - 1}, four learning rates), float32, "
             "numpy's default BLAS threads, nothing else of this benchmark running beside: trained as one population "
             "against one after the other in the same process (data loading and weight drawing not timed, every "
             "evaluation included). Member by member the numbers are the same bits (tests/test_population.py).", "",
             "| network | one after the other (s) | population (s) | population / alone | training steps only |",
             "|---|---|---|---|---|"]
    for name, over in bp.SHAPES.items():
        over = over + (["trainer.steps=2"] if args.tiny and "experiment=width_sweep" in over else tiny)
        if args.tiny and "model.hidden=[200]" in over:
            continue
        r = alternate([(m, "population", {"P": P, "overrides": over + (["trainer.epochs=3"] if not args.tiny and
                                                                         "batch 128" in name else []), "mode": m})
                       for m in ("alone", "population")], repeats, field=None)
        a, b = r["alone"], r["population"]
        lines.append(f"| {name} | {a['seconds']:.2f} | {b['seconds']:.2f} | **{b['seconds'] / a['seconds']:.3f}** | "
                     f"{b['train_s'] / a['train_s']:.3f} |")
    # the matmul rate of a population's training steps, 784-200-10 at batch 128
    if peak is not None and not args.tiny:
        over = bp.SHAPES["MNIST 784-200-10 sigmoid, batch 128"] + ["trainer.epochs=2"]
        sizes = [784, 200, 10]
        rows = []
        for p_ in (1, 8, 32):
            r = alternate([("population", "population", {"P": p_, "overrides": over, "mode": "population"})],
                          repeats, field=None)["population"]
            rows.append((p_, flops_per_sample(sizes) * r["samples"] / r["train_s"] / 1e9))
        lines += ["", f"784-200-10 sigmoid, float32, batch 128: GFLOP/s of a population's training steps against "
                  f"numpy's matmul peak ({peak:.1f} GFLOP/s):", "", "| members | GFLOP/s | of the peak |", "|---|---|---|"]
        lines += [f"| {p_} | {g:.1f} | **{100 * g / peak:.0f}%** |" for p_, g in rows]
    # speed-up by P and width (digits 64-n-10, 3 epochs)
    Ps = (1, 2, 4) if args.tiny else (1, 2, 4, 8, 16, 32, 64)
    widths = (16,) if args.tiny else (16, 64, 256)
    grid = {}
    for w in widths:
        for p_ in Ps:
            over = [f"model.hidden=[{w}]", "trainer.epochs=1" if args.tiny else "trainer.epochs=3"]
            r = alternate([(m, "population", {"P": p_, "overrides": over, "mode": m}) for m in ("alone", "population")],
                          repeats, field="seconds")
            grid[(w, p_)] = r["alone"] / r["population"]
    plot_populations(grid, widths, Ps, args.out / "population.png")
    lines += ["", "![populations](population.png)", "", "Speed-up (one after the other / population) on the digits, "
              "64-n-10 ReLU, batch 32, 3 epochs:", "", "| width | " + " | ".join(f"P={p_}" for p_ in Ps) + " |",
              "|---|" + "---|" * len(Ps)]
    lines += [f"| {w} | " + " | ".join(f"{grid[(w, p_)]:.1f}×" for p_ in Ps) + " |" for w in widths]
    # a search, trial by trial and in batches
    n = 8 if args.tiny else 32
    r = alternate([(f"batch {b}", "search", {"batch": b, "n_trials": n, "tiny": args.tiny}) for b in (1, 8)],
                  repeats, field="trials_per_min")
    lines += ["", f"An Optuna search of {n} trials on the digits (64-n-10 over the learning rate and the initialiser, "
              "TPE, median pruner, MLflow and Optuna in SQLite): trials per minute, `search.batch=1` against "
              f"`search.batch=8`: {r['batch 1']:.0f} against {r['batch 8']:.0f}."]
    return lines


def plot_populations(grid, widths, Ps, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for w in widths:
        ax.plot(Ps, [grid[(w, p_)] for p_ in Ps], "o-", label=f"64-{w}-10")
    ax.set(xscale="log", xlabel="members P (log scale)", ylabel="speed-up against one after the other",
           title="Populations on the digits, float32, batch 32")
    ax.set_xticks(Ps, [str(p_) for p_ in Ps])
    ax.axhline(1, color="grey", lw=0.8)
    ax.legend(title="network")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="seconds, for tests: a few hundred samples, 1 repeat")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmark")
    parser.add_argument("--only", choices=["sweeps", "populations"], help="only that section (written to "
                        "OUT/sweep_throughput.md or OUT/populations.md; benchmark.md is left as it is)")
    parser.add_argument("--launchers", action="store_true", help="also nnexp's sweep with the default launcher "
                        "against hydra/launcher=basic")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # inside a measurement process
        print(json.dumps(WORKERS[args.worker[0]](**json.loads(args.worker[1]))))
        return None
    n = 300 if args.tiny else None
    repeats = 1 if args.tiny else args.repeats
    if args.only == "populations":
        lines = [f"# nnexp benchmark: populations only ({repeats} repeat(s))",
                 *populations_section(args, repeats, run_worker("peak", size=512 if args.tiny else 2048)["gflops"])]
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "populations.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return lines
    if args.only == "sweeps":
        lines = [f"# nnexp benchmark: sweep throughput only ({repeats} repeat(s))", *sweeps_section(args, repeats)]
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sweep_throughput.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return lines
    nets = dict(list(NETS.items())[:1]) if args.tiny else NETS
    batches, dtypes = ((1, 32) if args.tiny else BATCHES), (("float32",) if args.tiny else ("float32", "float64"))
    lines = ["# nnexp benchmark", "", f"Medians of {repeats} run(s), each in its own process, nnexp and PyTorch "
             "alternating; one epoch of the MNIST subset " + ("(300 samples: --tiny, numbers meaningless)" if args.tiny
                                                              else "(7,196 training digits)")
             + " including the evaluations before and after it; SGD, softmax + cross-entropy.", ""]
    # 1-2. nnexp vs PyTorch
    rows = []
    for net, (hidden, act) in nets.items():
        for dtype in dtypes:
            for b in batches:
                kw = dict(hidden=hidden, act=act, batch=b, dtype=dtype, n_train=n)
                med = alternate([("nnexp", "nnexp", kw), ("torch", "torch", kw)], repeats)
                rows.append((net, dtype, b, med["nnexp"], med["torch"]))
    lines += ["## Training throughput (samples per second)", "", "| network | dtype | batch | nnexp | PyTorch CPU | nnexp / PyTorch |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {net} | {dt} | {b} | {a:,.0f} | {'n/a' if t != t else f'{t:,.0f}'} | "
              f"{'n/a (torch not installed)' if t != t else f'{a / t:.2f}×'} |" for net, dt, b, a, t in rows]
    # fused vs plain update
    fb = (1, 32) if args.tiny else (1, 32, 128)
    fused = alternate([((b, f), "nnexp", dict(hidden=[200], act="sigmoid", batch=b, n_train=n, fused=f))
                       for b in fb for f in (True, False)], repeats)
    lines += ["", "## The fused update", "", "784-200-10 sigmoid, float32: samples per second with `optim.fused=true` "
              "(each layer updated as backprop reaches it, its weight gradient computed into a buffer kept between "
              "steps; the default) and `false` (every gradient a fresh array, then the step). Both give the same "
              "weights bit for bit (tests/test_benchmark.py).", "", "| batch | fused | plain | fused / plain |",
              "|---|---|---|---|"]
    lines += [f"| {b} | {fused[(b, True)]:,.0f} | {fused[(b, False)]:,.0f} | {fused[(b, True)] / fused[(b, False)]:.2f}× |"
              for b in fb]
    # 3. matmul peak
    peak = run_worker("peak", size=512 if args.tiny else 2048)["gflops"]
    net0 = next(iter(nets))
    hw_batches = (32,) if args.tiny else (128, 512)
    hw = alternate([(b, "nnexp", dict(hidden=nets[net0][0], act=nets[net0][1], batch=b, n_train=n))
                    for b in hw_batches], repeats, field=None)
    lines += ["", "## Against the hardware", "", f"numpy float32 matmul peak ({512 if args.tiny else 2048}³): "
              f"**{peak:.1f} GFLOP/s**. Real matmul work of nnexp {net0}, float32 (forward, dW and dA per "
              "training sample; each evaluation's forward pass over every split and backward pass over the "
              "1,024-sample gradient probe):", "", "| batch | training steps only | whole run, evaluations included |",
              "|---|---|---|"]
    lines += [f"| {b} | {r['gflops_steps']:.1f} GFLOP/s = **{100 * r['gflops_steps'] / peak:.0f}%** of the peak | "
              f"{r['gflops_all']:.1f} GFLOP/s = **{100 * r['gflops_all'] / peak:.0f}%** |" for b, r in hw.items()]
    # 4. the seed's per-sample code
    med = alternate([("seed", "seed", dict(n_train=n)), ("nnexp", "nnexp_seed", dict(n_train=n))], repeats)
    lines += ["", "## Batch 1 against seed 001's per-sample code", "",
              f"784-200-10 sigmoid, one sample at a time: seed's code {med['seed']:,.0f} samples/s, nnexp "
              f"{med['nnexp']:,.0f} samples/s: **{med['nnexp'] / med['seed']:.2f}×**."]
    # 5. tracking overhead and start-up
    import tempfile

    from nnexp.tracking import client

    store = tempfile.mkdtemp(prefix="nnexp-bench-")
    uri = f"sqlite:///{store}/mlflow.db"
    client(uri)  # the store exists, as it does for every run but a user's first
    epochs = 1 if args.tiny else 10
    kw = dict(hidden=[200], act="sigmoid", batch=32, n_train=n, epochs=epochs)
    tr = alternate([("off", "nnexp", kw), ("on", "nnexp", {**kw, "tracking": uri})], repeats, field=None)
    per_eval = 100 * tr["on"]["in_tracker_s"] / tr["on"]["seconds"]
    whole = 100 * (tr["on"]["seconds"] / tr["off"]["seconds"] - 1)
    lines += ["", "## Tracking overhead", "", f"784-200-10 at batch 32, {epochs} epoch(s), MLflow SQLite store: the "
              f"tracker's calls during training (metrics of every evaluation buffered, sent every "
              f"`tracking.flush_every` seconds) take **{per_eval:.2f}%** of the run's time. The whole run with "
              f"tracking (run created in a background thread while training starts, params, the last metrics "
              f"sent and the run ended inside the timed span) takes {tr['on']['seconds']:.2f} s against "
              f"{tr['off']['seconds']:.2f} s without: **{whole:+.1f}%**, the one-off cost of importing mlflow and "
              f"writing the run, which no longer grows with the number of epochs."]
    up = alternate([("startup", "startup", dict(uri=uri))], repeats, field="seconds")["startup"]
    lines += ["", "## Start-up", "", f"`python -m nnexp` (the default job on the embedded digits, tracking on into an "
              f"existing mlflow.db) from the process's start to its first training step: **{up:.2f} s** (median of "
              f"{repeats}; the run logs it as `time/startup_s`)."]
    # 6. scaling
    widths = (16, 64) if args.tiny else (32, 64, 128, 256, 512, 1024)
    scale_b = (1, 32) if args.tiny else (1, 8, 32, 128, 512)
    by_width = alternate([(w, "nnexp", dict(hidden=[w], act="relu", batch=32, n_train=n)) for w in widths], repeats)
    by_batch = alternate([(b, "nnexp", dict(hidden=[200], act="relu", batch=b, n_train=n)) for b in scale_b], repeats)
    walls = {jobs: sweep_wall(jobs, args.tiny) for jobs in (1, 2)}
    lines += ["", "## How cost grows", "", "![scaling](scaling.png)", "",
              f"A width sweep (4 widths, 3 epochs, tracking off; 2 widths and 1 epoch with --tiny) takes "
              f"{walls[1]:.1f} s with 1 job and {walls[2]:.1f} s with 2 parallel jobs (speed-up "
              f"{walls[1] / walls[2]:.2f}×, start-up of the worker processes included)."]
    # 7. sweeps end to end, against the PyTorch peer
    lines += sweeps_section(args, repeats)
    # 8. populations
    lines += populations_section(args, repeats, peak)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(by_width, by_batch, len(_mnist(n).y_train), args.out / "scaling.png")
    (args.out / "benchmark.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return lines


def plot(by_width, by_batch, n_train, path):
    sys.path.insert(0, str(ROOT))
    from nnexp.analysis import figure, save

    fig, (ax1, ax2) = figure(1, 2, figsize=(11, 4))
    ax1.plot(list(by_width), [n_train / v for v in by_width.values()], "o-")
    ax1.set(xscale="log", yscale="log", xlabel="hidden units (784-n-10, batch 32)", ylabel="seconds per epoch",
            title="Time per epoch vs width")
    ax2.plot(list(by_batch), [n_train / v for v in by_batch.values()], "o-")
    ax2.set(xscale="log", yscale="log", xlabel="batch size (784-200-10)", ylabel="seconds per epoch",
            title="Time per epoch vs batch size")
    save(fig, path)


if __name__ == "__main__":
    main()
