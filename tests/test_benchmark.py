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
                 "Tracking overhead", "Start-up", "How cost grows"):
        assert part in table
    assert "| 784-200-10 sigmoid | float32 | 32 |" in table
    assert "nan" not in table.split("## How cost grows")[0].replace("n/a", "")  # every measurement made
    assert (tmp_path / "scaling.png").stat().st_size > 10_000


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
