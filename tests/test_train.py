"""The training loop: learning, zero-init symmetry, reproducibility, divergence."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nnexp.experiment import run


def quiet(*overrides):
    return ["tracking=none", "trainer.progress=false", *overrides]


def hidden_units_identical(W):
    """All columns (hidden units) of a first-layer weight matrix are equal."""
    return np.allclose(W, W[:, :1])


def test_default_config_learns_digits(compose_cfg):
    result = run(compose_cfg(*quiet()))
    assert result["final"]["test/acc"] > 0.93
    assert result["final"]["train/loss"] < result["history"][0]["train/loss"] / 5
    assert not result["diverged"]
    assert len(result["history"]) == 21  # epoch 0 and one evaluation per epoch


def test_zero_init_with_a_hidden_layer_keeps_units_identical(compose_cfg):
    from nnexp.data import load_dataset
    from nnexp.experiment import build, encode_splits
    from nnexp.optim import SGD
    from nnexp.train import train

    cfg = compose_cfg(*quiet("init=zero", "activation=sigmoid", "model.hidden=[16]", "trainer.epochs=5"))
    ds = load_dataset(cfg.dataset, 0)
    model, loss = build(cfg, 64, 10, np.random.default_rng(0))
    data = encode_splits(ds, 10, [0.0, 1.0], model.dtype)
    result = train(model, loss, SGD(model.params(), 0.1), data, cfg.trainer, np.random.default_rng(1))
    assert hidden_units_identical(model.W[0]) and hidden_units_identical(model.W[1].T)
    assert np.abs(model.W[1]).max() > 0  # it did train: the output weights moved, identically per unit
    assert result["final"]["test/acc"] < 0.5


def test_zero_init_relu_stays_exactly_zero(compose_cfg):
    result = run(compose_cfg(*quiet("init=zero", "model.hidden=[16]", "trainer.epochs=3")))
    assert result["final"]["layer1/grad_norm"] == 0.0
    assert result["final"]["layer1/dead_frac"] == 1.0


def test_zero_init_without_hidden_layer_learns_digits(compose_cfg):
    result = run(compose_cfg(*quiet("init=zero", "model.hidden=[]", "trainer.epochs=20")))
    assert result["final"]["test/acc"] > 0.90


def test_same_seed_same_metrics_different_seed_differs(compose_cfg):
    over = quiet("trainer.epochs=3", "activation=tanh", "model.hidden=[32,16]")
    a, b = run(compose_cfg(*over)), run(compose_cfg(*over))
    c = run(compose_cfg(*over, "seed=1"))
    strip = lambda r: [{k: v for k, v in h.items() if not k.startswith("time/")} for h in r["history"]]
    assert strip(a) == strip(b)  # bit-identical, every metric of every epoch
    assert strip(a) != strip(c)


@pytest.mark.parametrize("over", [
    ["trainer.batch_size=1", "trainer.epochs=1"],
    ["trainer.batch_size=null", "trainer.epochs=30", "optim.lr=0.5"],
    ["trainer.replacement=true", "trainer.steps=50", "trainer.eval_every=10", "trainer.repeat=3"],
    ["optim=momentum", "optim.weight_decay=0.0001", "trainer.epochs=3"],
    ["model.dtype=float64", "model.bias=false", "activation=prelu", "trainer.epochs=3"],
    ["dataset=circle", "model.outputs=1", "model.output=sigmoid", "activation=tanh", "trainer.epochs=30"],
])
def test_protocol_options_train(compose_cfg, over):
    result = run(compose_cfg(*quiet(*over)))
    assert result["final"]["train/acc"] > 0.6
    assert result["final"]["train/loss"] < result["history"][0]["train/loss"]


def test_eval_every_counts_steps_and_records_time_per_step(compose_cfg):
    result = run(compose_cfg(*quiet("trainer.replacement=true", "trainer.steps=40", "trainer.eval_every=10")))
    assert [h["progress/steps"] for h in result["history"]] == [0, 10, 20, 30, 40]
    assert all(h["time/step_ms"] > 0 for h in result["history"][1:])


def test_diagnostics_per_layer(compose_cfg):
    f = run(compose_cfg(*quiet("activation=sigmoid", "model.hidden=[8,8]", "trainer.epochs=1")))["final"]
    for l in (1, 2, 3):
        assert f[f"layer{l}/grad_norm"] > 0 and f[f"layer{l}/weight_norm"] > 0
    assert 0 <= f["layer1/saturated_frac"] <= 1 and "layer3/saturated_frac" not in f
    assert "layer1/dead_frac" not in f


def test_diagnostics_every_schedules_the_per_layer_metrics_not_the_numbers(compose_cfg):
    """trainer.diagnostics_every: the per-layer health at the last evaluation only (null), at every k-th
    and the last (k), or at every evaluation (1); every evaluation has the splits' loss and accuracy, and
    every number is the same whichever the schedule."""
    runs = {k: run(compose_cfg(*quiet("trainer.epochs=5", f"trainer.diagnostics_every={k}")))["history"]
            for k in ("null", 1, 2)}
    layered = {k: [i for i, h in enumerate(hist) if "layer1/grad_norm" in h] for k, hist in runs.items()}
    assert layered == {"null": [5], 1: [0, 1, 2, 3, 4, 5], 2: [0, 2, 4, 5]}
    strip = lambda h: {k: v for k, v in h.items() if not k.startswith("time/")}  # noqa: E731
    for k, hist in runs.items():
        assert len(hist) == 6 and all({"train/loss", "train/acc", "train/abs_err", "val/acc", "test/loss"} <= set(h)
                                      for h in hist)
        for h, full in zip(hist, runs[1]):  # bit for bit the values of the every-evaluation run
            assert strip(h) == {key: full[key] for key in strip(h)}
        assert set(hist[-1]) == set(runs[1][-1])


def test_a_diverging_run_ends_with_its_diagnostics(compose_cfg):
    result = run(compose_cfg(*quiet("loss=mse", "model.output=linear", "optim.lr=50", "trainer.epochs=50")))
    assert result["diverged"] and "layer1/grad_norm" in result["final"]


def test_divergence_stops_the_run(compose_cfg):
    result = run(compose_cfg(*quiet("loss=mse", "model.output=linear", "optim.lr=50", "trainer.epochs=50")))
    assert result["diverged"]
    assert not math.isfinite(result["final"]["train/loss"])
    assert len(result["history"]) < 51  # stopped early


def test_sum_reduction_is_the_mean_times_the_batch(compose_cfg):
    """Full batch: lr·Σ over the batch and (lr·B)·mean over the batch take the same steps."""
    base = quiet("trainer.batch_size=null", "trainer.epochs=3", "model.dtype=float64")
    from nnexp.data import load_dataset

    B = len(load_dataset(compose_cfg(*base).dataset, 0).y_train)
    mean = run(compose_cfg(*base, f"optim.lr={0.5}"))
    total = run(compose_cfg(*base, "loss.reduction=sum", f"optim.lr={0.5 / B}"))
    assert mean["final"]["train/loss"] == pytest.approx(total["final"]["train/loss"], rel=1e-9)
    plain = run(compose_cfg(*base, "loss.reduction=sum", "optim.lr=0.5"))
    assert plain["final"]["train/loss"] != pytest.approx(mean["final"]["train/loss"], rel=1e-3)


def test_dead_fraction_and_unit_spread_on_a_hand_built_network():
    """Two ReLU units on x in [1, 2]: unit 1 has weight -1 (z < 0 for every sample: dead),
    unit 2 weight +1 (alive). dead_frac = 1/2; the units differ, so the spread is > 0."""
    from nnexp.activations import make_activation
    from nnexp.losses import make_loss
    from nnexp.model import MLP
    from nnexp.train import diagnostics, encode_targets

    model = MLP([1, 2, 2], make_activation("relu", key="k"), make_activation("softmax", output=True, key="k"),
                bias=False, dtype=np.float64, init=lambda i, o, rng: np.ones((i, o)), rng=None)
    model.W[0][:] = [[-1.0, 1.0]]
    X = np.array([[1.0], [1.5], [2.0]])
    y = np.array([0, 1, 1])
    d = diagnostics(model, make_loss("cross_entropy", model.acts[-1], 2), X, encode_targets(y, 2, dtype=np.float64), y)
    assert d["layer1/dead_frac"] == 0.5
    assert d["layer1/unit_spread"] == pytest.approx(np.mean([0.5, 0.75, 1.0]))  # std of (0, x) = x/2
    model.W[0][:] = [[1.0, 1.0]]  # identical units: no spread, none dead
    d = diagnostics(model, make_loss("cross_entropy", model.acts[-1], 2), X, encode_targets(y, 2, dtype=np.float64), y)
    assert d["layer1/unit_spread"] == 0.0 and d["layer1/dead_frac"] == 0.0


def test_gradient_diagnostics_on_a_probe_subset(compose_cfg):
    """trainer.probe: per-layer statistics are those of the probe rows; loss, accuracy and dead units
    stay those of the whole training set; the probe is the same in every run and does not touch the
    training RNG (training is bit-identical with and without it)."""
    from nnexp.data import load_dataset
    from nnexp.experiment import build, encode_splits
    from nnexp.train import diagnostics, probe_rows

    cfg = compose_cfg(*quiet("model.hidden=[32,16]", "activation=tanh"))
    relu = compose_cfg(*quiet("model.hidden=[32]", "activation=relu"))
    model, loss = build(cfg, 64, 10, np.random.default_rng(0))
    X, T, y = encode_splits(load_dataset(cfg.dataset, 0), 10, [0.0, 1.0], model.dtype)["train"]
    rows = probe_rows(len(X), 200)
    assert len(rows) == 200 and len(set(rows)) == 200 and np.array_equal(rows, probe_rows(len(X), 200))
    assert rows.max() > len(X) // 2  # spread over the set, not its first rows
    assert probe_rows(len(X), len(X)) is None and probe_rows(len(X), None) is None
    full, probed, subset = (diagnostics(model, loss, X, T, y), diagnostics(model, loss, X, T, y, probe=rows),
                            diagnostics(model, loss, X[rows], T[rows], y[rows]))
    for key in full:
        if key.endswith(("grad_norm", "grad_std", "act_std", "unit_spread", "saturated_frac")):
            assert probed[key] == pytest.approx(subset[key], rel=1e-5) and probed[key] != full[key], key
        elif key.endswith("weight_norm") or not key.startswith("layer"):
            assert probed[key] == full[key], key
    net, _ = build(relu, 64, 10, np.random.default_rng(0))
    net.W[0][:, :5] = -10.0  # five units dead for every sample (inputs are >= 0)
    dead = diagnostics(net, loss, X, T, y, probe=rows)["layer1/dead_frac"]
    assert dead >= 5 / 32 and dead == (net.forward(X)[1][1] <= 0).all(axis=0).mean()  # over every sample
    a = run(compose_cfg(*quiet("trainer.epochs=2", "trainer.probe=100")))
    b = run(compose_cfg(*quiet("trainer.epochs=2", "trainer.probe=null")))
    assert a["final"]["test/loss"] == b["final"]["test/loss"] and a["final"]["train/acc"] == b["final"]["train/acc"]
    assert a["final"]["layer1/grad_norm"] != b["final"]["layer1/grad_norm"]
