"""The maths: backprop against central finite differences, for every registry entry."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnexp.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, Linear, make_activation
from nnexp.errors import ConfigError
from nnexp.initializers import INITIALIZERS, get_initializer
from nnexp.losses import LOSSES, make_loss
from nnexp.model import MLP
from nnexp.train import encode_targets

# every exact loss: its backprop must be its gradient (mse_rashid is a published rule, tested below)
PAIRS = [(out, loss) for loss, cls in LOSSES.items() if cls.exact_gradient for out in cls.allowed_outputs]


def total_loss(model, loss, X, T):
    return loss.fn(model.predict(X), T).mean()


def numeric_grads(model, loss, X, T, eps=1e-6):
    grads = []
    for _, p in model.params():
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = total_loss(model, loss, X, T)
            p[i] = old - eps
            down = total_loss(model, loss, X, T)
            p[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def tiny(hidden_name, out_name, loss_name, bias, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    hidden = make_activation(hidden_name, key="activation.name")
    out = make_activation(out_name, output=True, key="model.output")
    model = MLP([4, 5, 3, n_out], hidden, out, bias=bias, dtype=np.float64,
                init=get_initializer("xavier"), bias_init=0.1, rng=rng)
    for _, p in model.params():  # move off the initial values (slopes, biases) so nothing is special
        p += rng.normal(0, 0.3, p.shape)
    X = rng.normal(size=(6, 4))
    y = rng.integers(0, n_out, size=6) if n_out > 1 else rng.integers(0, 2, size=6)
    T = encode_targets(y, n_out, 0.05, 0.9, np.float64)  # smoothed targets: the general formula
    return model, make_loss(loss_name, out, n_out), X, T


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("out,loss_name", PAIRS)
@pytest.mark.parametrize("hidden", list(HIDDEN_ACTIVATIONS))
def test_gradients_match_finite_differences(hidden, out, loss_name, bias):
    for n_out in ([3, 1] if out != "softmax" else [3]):
        model, loss, X, T = tiny(hidden, out, loss_name, bias, n_out)
        zs, As = model.forward(X)
        analytic = model.backward(zs, As, loss.delta(zs[-1], As[-1], T) / len(X))
        numeric = numeric_grads(model, loss, X, T)
        assert [n for n, _ in model.params()].count("alpha1") == (hidden == "prelu")
        for (name, _), a, n in zip(model.params(), analytic, numeric):
            rel = np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12)
            assert rel < 1e-6, f"{name}: relative error {rel:.2e}"


def test_mse_rashid_is_one_step_of_seed_001s_code():
    """One update of nnexp's mse_rashid equals one update of the seed's per-sample code (float64)."""
    rng = np.random.default_rng(0)
    w_h, w_o = rng.normal(0, 784**-0.5, (20, 6)), rng.normal(0, 20**-0.5, (3, 20))  # seed layout: (out, in)
    x, t = rng.uniform(0.01, 1, 6), np.array([0.01, 0.99, 0.01])
    # the seed's train() on column vectors
    inputs, targets = x[:, None], t[:, None]
    h = 1 / (1 + np.exp(-(w_h @ inputs)))
    o = 1 / (1 + np.exp(-(w_o @ h)))
    err = targets - o
    hidden_err = w_o.T @ err
    w_o_seed = w_o + 0.1 * (err * o * (1 - o)) @ h.T
    w_h_seed = w_h + 0.1 * (hidden_err * h * (1 - h)) @ inputs.T
    # nnexp: rows are samples, W is (in, out)
    from nnexp.optim import SGD

    model = MLP([6, 20, 3], make_activation("sigmoid", key="k"), make_activation("sigmoid", output=True, key="k"),
                bias=False, dtype=np.float64, init=lambda i, o_, r: np.zeros((i, o_)), rng=None)
    model.W[0][:], model.W[1][:] = w_h.T, w_o.T
    loss = make_loss("mse_rashid", model.acts[-1], 3)
    zs, As = model.forward(x[None, :])
    grads = model.backward(zs, As, loss.delta(zs[-1], As[-1], t[None, :]), loss.back_delta(zs[-1], As[-1], t[None, :]))
    SGD(model.params(), 0.1).step(grads)
    np.testing.assert_allclose(model.W[1], w_o_seed.T, rtol=1e-12)
    np.testing.assert_allclose(model.W[0], w_h_seed.T, rtol=1e-12)
    exact = make_loss("mse", model.acts[-1], 3)  # and the exact gradient is a different rule
    assert exact.back_delta(zs[-1], As[-1], t[None, :]) is None


def test_every_output_loss_pair_is_allowed_or_refused_clearly():
    for out, loss_name in itertools.product(OUTPUT_ACTIVATIONS, LOSSES):
        act = make_activation(out, output=True, key="model.output")
        if out in LOSSES[loss_name].allowed_outputs:
            make_loss(loss_name, act, 3)
        else:
            with pytest.raises(ConfigError, match="cannot be trained with loss"):
                make_loss(loss_name, act, 3)
    with pytest.raises(ConfigError, match="softmax over 1 unit"):
        make_loss("cross_entropy", make_activation("softmax", output=True, key="k"), 1)


def test_chain_rule_example_of_seed_000():
    """x = 3k + 8m, y = 5m + 2, z = x·y at k = 1, m = 3: z = 459 and dz/dk = 3y = 51.

    Written as a one-layer linear network whose weights are (k, m, 2): sample 1 computes x,
    sample 2 computes y; backprop of dz/d(output) = (y, x) gives dz/d(k, m)."""
    X = np.array([[3.0, 8.0, 0.0], [0.0, 5.0, 1.0]])
    model = MLP([3, 1], Linear(), Linear(), bias=False, dtype=np.float64,
                init=lambda i, o, rng: np.array([[1.0], [3.0], [2.0]]), rng=None)
    zs, As = model.forward(X)
    x, y = As[-1][:, 0]
    assert (x, y, x * y) == (27.0, 17.0, 459.0)
    (dW,) = model.backward(zs, As, np.array([[y], [x]]))
    assert dW[0, 0] == 51.0  # dz/dk = 3y
    assert dW[1, 0] == 8 * y + 5 * x  # dz/dm = 271
    # one step towards z1 = 450 along k: Δk = Δz / (dz/dk); the seed prints k1 ≈ 0.8235, z ≈ 449.9985
    k1 = 1 + (450 - 459) / dW[0, 0]
    assert round(k1, 4) == 0.8235
    assert round((3 * 0.8235 + 8 * 3) * (5 * 3 + 2), 4) == 449.9985


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_initializers_shape_and_scale(name):
    init = INITIALIZERS[name]
    rng = np.random.RandomState(0) if getattr(init, "legacy_rng", False) else np.random.default_rng(0)
    W = init(400, 300, rng)
    assert W.shape == (400, 300)
    expected_std = {"zero": 0.0, "normal_fanin": 400**-0.5, "normal": 1.0, "uniform": 3**-0.5,
                    "uniform_legacy": 3**-0.5, "xavier": np.sqrt(6 / 700) / np.sqrt(3), "he": np.sqrt(2 / 400),
                    "constant": 0.0}[name]
    assert W.std() == pytest.approx(expected_std, rel=0.02, abs=1e-12)
    assert abs(W.mean()) < 0.01 * max(expected_std, 1e-3)


def test_constant_init_takes_its_value():
    W = get_initializer("constant", 0.6)(2, 3, None)
    assert W.shape == (2, 3) and (W == 0.6).all()


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError, match="allowed: sigmoid, tanh, relu"):
        make_activation("foo", key="activation.name")
    with pytest.raises(ConfigError, match="allowed: zero, normal_fanin"):
        get_initializer("glorot")
    with pytest.raises(ConfigError, match="allowed: mse, cross_entropy, mse_rashid"):
        make_loss("hinge", make_activation("softmax", output=True, key="k"), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_through_forward_and_backward(dtype):
    rng = np.random.default_rng(0)
    model = MLP([5, 7, 3], make_activation("prelu", key="k"), make_activation("softmax", output=True, key="k"),
                dtype=dtype, init=get_initializer("he"), rng=rng)
    X = rng.normal(size=(4, 5)).astype(dtype)
    zs, As = model.forward(X)
    loss = make_loss("cross_entropy", model.acts[-1], 3)
    grads = model.backward(zs, As, loss.delta(zs[-1], As[-1], encode_targets(np.array([0, 1, 2, 0]), 3, dtype=dtype)))
    assert all(a.dtype == dtype for a in As)
    assert all(g.dtype == dtype and g.shape == p.shape for g, (_, p) in zip(grads, model.params()))
