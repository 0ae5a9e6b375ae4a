"""The population part of experiments/benchmark.py: P networks trained as one against P trainings
one after the other, in the same process, the same configs, the same numbers (bit for bit).

Each function is a benchmark worker (it runs in its own process, see benchmark.run_worker) and
returns a dict of measurements. Imported by benchmark.py; not a script of its own.
"""
from __future__ import annotations

import time

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

# the networks of the issue's goals: digits 64-64-10, seed 002's 81-n-2, Rashid's 784-200-10
SHAPES = {
    "digits 64-64-10 relu, batch 32": ["model.hidden=[64,64]", "trainer.batch_size=32"],
    # seed 002's protocol (the width_sweep preset: 1000 iterations on each batch of 20), 20 of its 200 batches
    "seed 002 81-10-2 sigmoid, batch 20": ["experiment=width_sweep", "model.hidden=[10]", "trainer.steps=20",
                                           "trainer.threads=null"],
    "MNIST 784-200-10 sigmoid, batch 128": ["dataset=mnist10k", "model.hidden=[200]", "activation=sigmoid",
                                            "trainer.batch_size=128"],
}


def _configs(P, overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        # members differ in seed and learning rate, as a sweep's do
        return [compose("config", overrides=["tracking=none", "trainer.progress=false", f"seed={i}",
                                             f"optim.lr={(0.02, 0.05, 0.1, 0.2)[i % 4]}", *overrides])
                for i in range(P)]


def population(P, overrides, mode, **_):
    """Seconds to train P members (`mode`: "population" or "alone", one after the other, in this
    process), the time of their training steps within it, and the samples those steps took."""
    from nnexp.experiment import prepare
    from nnexp.population import train_population
    from nnexp.train import train

    cfgs = _configs(P, overrides)
    parts = [prepare(c) for c in cfgs]  # data and weights: not timed, the same in both modes
    tic = time.perf_counter()
    if mode == "population":
        results = train_population([p[1] for p in parts], [p[2] for p in parts], [p[4] for p in parts],
                                   [p[3] for p in parts], cfgs[0].trainer, [p[5] for p in parts])
        train_s = sum(r["train_time_s"] for r in results)  # the members' shares add up to the steps' time
    else:
        results = [train(p[1], p[2], p[4], p[3], c.trainer, p[5]) for p, c in zip(parts, cfgs)]
        train_s = sum(r["train_time_s"] for r in results)
    seconds = time.perf_counter() - tic
    model, n = parts[0][1], len(parts[0][3]["train"][0])
    steps, B = results[0]["steps"], min(int(cfgs[0].trainer.batch_size or n), n)
    # the training steps' samples, for benchmark.flops_per_sample(sizes): the matmul rate of the steps
    repeat = int(cfgs[0].trainer.get("repeat", 1))
    return {"seconds": seconds, "train_s": train_s, "samples": P * steps * B * repeat, "sizes": model.sizes}


WORKERS = {"population": population}


def search_rate(batch, n_trials=16, tiny=False, **_):
    """Trials per minute of an Optuna search over what a population may vary (learning rate and
    initialiser) on the digits, MLflow and Optuna in fresh SQLite files, `search.batch` trials at a time."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        space = "+search.params={optim.lr: 'tag(log, interval(0.003, 1.0))', init: 'choice(he, xavier, normal_fanin)'}"
        cmd = [sys.executable, "-m", "nnexp", "+search=digits", "~search.params", space, f"search.n_trials={n_trials}",
               f"search.batch={batch}", f"search.storage=sqlite:///{tmp}/optuna.db", "model.hidden=[64]",
               f"trainer.epochs={2 if tiny else 10}", f"hydra.run.dir={tmp}/out"]
        tic = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - tic
        if proc.returncode != 0:
            raise RuntimeError((proc.stderr.strip().splitlines() or ["?"])[-1])
    return {"seconds": seconds, "trials_per_min": 60 * n_trials / seconds}


WORKERS["search"] = search_rate
