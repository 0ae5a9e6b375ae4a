"""The benchmark runs end to end in its tiny mode and writes its table and figure (no timing assertions)."""
from __future__ import annotations

import pytest

from conftest import load_script


@pytest.mark.slow
def test_benchmark_tiny_writes_its_table_and_figure(tmp_path):
    lines = load_script("benchmark").main(["--tiny", "--out", str(tmp_path)])
    table = (tmp_path / "benchmark.md").read_text()
    assert table == "\n".join(lines) + "\n"
    for part in ("Training throughput", "matmul peak", "seed 001's per-sample code", "Tracking overhead",
                 "How cost grows"):
        assert part in table
    assert "| 784-200-10 sigmoid | float32 | 32 |" in table
    assert (tmp_path / "scaling.png").stat().st_size > 10_000


def test_flops_per_sample_counts_forward_and_backward():
    flops = load_script("benchmark").flops_per_sample
    # forward 2·784·200 + 2·200·10; dW the same; dA only for the second layer: 2·200·10
    assert flops([784, 200, 10]) == 2 * (784 * 200 + 200 * 10) * 2 + 2 * 200 * 10


def test_fused_and_plain_updates_agree(compose_cfg):
    """Speed must not change the maths: the in-place SGD update and the one-sample np.dot outer product
    give the weights of the plain formulation W - lr * (a.T @ dZ) to float tolerance."""
    import numpy as np

    from nnexp.data import load_dataset
    from nnexp.experiment import build, encode_splits
    from nnexp.optim import SGD

    cfg = compose_cfg("model.hidden=[32]", "tracking=none")
    ds = load_dataset(cfg.dataset, 0)
    model, loss = build(cfg, 64, 10, np.random.default_rng(0))
    X, T, _ = encode_splits(ds, 10, [0.0, 1.0], model.dtype)["train"]
    plain = [p.copy() for _, p in model.params()]
    opt = SGD(model.params(), 0.1)
    for i in range(20):
        for batch in (slice(i, i + 1), slice(i, i + 8)):  # one sample and a mini-batch
            zs, As = model.forward(X[batch])
            d = loss.delta(zs[-1], As[-1], T[batch]) / (batch.stop - batch.start)
            # the plain formulation, by hand
            W1, b1, W2, b2 = plain
            z1 = X[batch] @ W1 + b1
            a1 = np.maximum(z1, 0)
            dA = d @ W2.T
            dz1 = dA * (z1 > 0)
            grads = [X[batch].T @ dz1, dz1.sum(0), a1.T @ d, d.sum(0)]
            plain = [p - 0.1 * g for p, g in zip(plain, grads)]
            opt.step(model.backward(zs, As, d))
    for (name, p), q in zip(model.params(), plain):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6, err_msg=name)
