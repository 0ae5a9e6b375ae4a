"""The benchmark runs end to end in its tiny mode and writes its table and figure (no timing assertions)."""
from __future__ import annotations

import pytest

from conftest import load_script


@pytest.mark.slow
def test_benchmark_tiny_writes_its_table_and_figure(tmp_path):
    lines = load_script("benchmark").main(["--tiny", "--out", str(tmp_path)])
    table = (tmp_path / "benchmark.md").read_text()
    assert table == "\n".join(lines) + "\n"
    for part in ("Training throughput", "The fused update", "matmul peak", "seed 001's per-sample code",
                 "Tracking overhead", "Start-up", "How cost grows", "Sweep throughput"):
        assert part in table
    assert "| 784-200-10 sigmoid | float32 | 32 |" in table
    assert "nan" not in table.split("## How cost grows")[0].replace("n/a", "")  # every measurement made
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
    # the sweep section (nnexp's side always measured; the PyTorch peer's where torch is installed)
    sweeps = table.split("## Sweep throughput")[1]
    for row in ("| 2 runs, MLflow SQLite | nnexp | 2 |", "| 2 runs, tracking=none | nnexp | 2 |"):
        cells = [c.strip("* ") for c in next(line for line in sweeps.splitlines() if line.startswith(row)).split("|")]
        assert all(float(c) >= 0 for c in cells[4:8]), cells  # wall, training, overhead, wall per run
    assert "float32" in sweeps and "numpy's default" in sweeps and "Load average" in sweeps
    # populations: every ratio measured, the figure drawn
    pops = table.split("## Populations")[1]
    for row in ("| digits 64-64-10 relu, batch 32 |", "| seed 002 81-10-2 sigmoid, batch 20 |"):
        cells = [c.strip("* ") for c in next(line for line in pops.splitlines() if line.startswith(row)).split("|")]
        assert all(float(c) > 0 for c in cells[2:6]), cells
    assert "| 16 | " in pops and "search.batch=8" in pops and "nan" not in pops
    assert (tmp_path / "population.png").stat().st_size > 10_000


@pytest.mark.slow
def test_sweep_worker_reads_the_training_time_of_every_nnexp_run():
    """The nnexp side of the sweep throughput: a 2-run tracked sweep, its runs found in the fresh
    store (the sweep's parent run left out) and their time/train_s summed."""
    bench = load_script("benchmark")
    grid, epochs = bench.sweep_grid(tiny=True)
    r = bench.run_worker("sweep", tool="nnexp", grid=list(grid), epochs=epochs)
    assert r["runs"] == bench.n_jobs(grid) == 2
    assert 0 < r["train_s"] < r["seconds"]
    assert r["overhead_s"] == pytest.approx((r["seconds"] - r["train_s"]) / 2)
    assert bench.n_jobs(bench.GRID) == 30


def test_peer_config_composes_for_the_benchmark_sweep():
    """experiments/peer_sweep.py's own config (no torch needed to compose it): the job of nnexp's
    default config, and every override the benchmark gives it."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    bench = load_script("benchmark")
    conf = Path(bench.PEER).parent / "peer_conf"
    over = ["seed=4", "optim.lr=1.0", "trainer.epochs=10", "trainer.threads=1", "tracking.enabled=false",
            "tracking.uri=sqlite:///x.db"]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("peer", overrides=over, return_hydra_config=True)
    assert (cfg.seed, cfg.optim.lr, cfg.trainer.epochs, cfg.trainer.threads) == (4, 1.0, 10, 1)
    assert list(cfg.model.hidden) == [64] and cfg.model.dtype == "float32" and cfg.trainer.batch_size == 32
    assert cfg.data.test_size + cfg.data.val_size == 359 + 145  # nnexp's digits split: 1293/145/359
    assert cfg.hydra.job.chdir is False
    import ast

    tree = ast.parse(Path(bench.PEER).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "torch" in imported and not any(m.split(".")[0] == "nnexp" for m in imported)  # a user's script


def test_digits_split_sizes_match_the_peer(compose_cfg):
    from nnexp.data import load_dataset

    ds = load_dataset(compose_cfg("tracking=none").dataset, 0)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (1293, 145, 359)


def test_flops_per_sample_counts_forward_and_backward():
    flops = load_script("benchmark").flops_per_sample
    # forward 2·784·200 + 2·200·10; dW the same; dA only for the second layer: 2·200·10
    assert flops([784, 200, 10]) == 2 * (784 * 200 + 200 * 10) * 2 + 2 * 200 * 10


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("momentum,decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01), (0.5, 0.01)])
def test_fused_and_plain_updates_agree(compose_cfg, dtype, momentum, decay):
    """Speed must not change the maths: the fused update (each layer updated as backprop reaches it,
    its gradient computed into a reused buffer) gives bit for bit the weights of the plain step (all
    gradients, then the update), and both equal the formulation written out by hand to float
    tolerance: one sample and mini-batches, PReLU slopes, biases, momentum and weight decay,
    float32 and float64."""
    import numpy as np

    from nnexp.data import load_dataset
    from nnexp.experiment import build, encode_splits
    from nnexp.optim import SGD

    cfg = compose_cfg("model.hidden=[32,16]", "activation=prelu", f"model.dtype={dtype}", "tracking=none")
    ds = load_dataset(cfg.dataset, 0)
    fused, loss = build(cfg, 64, 10, np.random.default_rng(0))
    plain_model, _ = build(cfg, 64, 10, np.random.default_rng(0))
    X, T, _ = encode_splits(ds, 10, [0.0, 1.0], fused.dtype)["train"]
    opt_fused = SGD(fused.params(), 0.1, momentum, decay, fused=True)
    opt_plain = SGD(plain_model.params(), 0.1, momentum, decay, fused=False)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    for i in range(15):
        for batch in (slice(i, i + 1), slice(i, i + 8)):  # one sample and a mini-batch
            # every step starts from the same state (rounding differences must not compound)
            for (_, q), (_, p) in zip(plain_model.params(), fused.params()):
                q[...] = p
            if momentum:
                for v_plain, v_fused in zip(opt_plain.velocity, opt_fused.velocity):
                    v_plain[...] = v_fused
            by_hand = [p.copy() for _, p in fused.params()]
            velocity = [v.copy() for v in opt_fused.velocity] if momentum else [0.0] * len(by_hand)
            n = batch.stop - batch.start
            zs, As = plain_model.forward(X[batch])
            grads = plain_model.backward(zs, As, loss.delta(zs[-1], As[-1], T[batch]) / n)
            # the plain formulation, by hand: g + λW (weights only), v ← μv - ηg, W ← W + v
            for k, ((name, _), g) in enumerate(zip(plain_model.params(), grads)):
                g = g + decay * by_hand[k] if name.startswith("W") else g
                velocity[k] = momentum * velocity[k] - 0.1 * g
                by_hand[k] = by_hand[k] + velocity[k]
            opt_plain.step(grads)
            zs, As = fused.forward(X[batch])
            assert fused.backward(zs, As, loss.delta(zs[-1], As[-1], T[batch]) / n, opt=opt_fused) is None
            for (name, p), (_, q), r in zip(fused.params(), plain_model.params(), by_hand):
                assert p.flags.c_contiguous and p.dtype == np.dtype(dtype)
                np.testing.assert_array_equal(p, q, err_msg=f"fused != plain: {name}, step {i} {n}")  # bit for bit
                np.testing.assert_allclose(q, r, **tol, err_msg=f"plain {name}, step {i} {n}")
    assert any(name.startswith("alpha") for name, _ in fused.params())
    assert not np.allclose(by_hand[0], build(cfg, 64, 10, np.random.default_rng(0))[0].W[0])  # it did learn
