"""Loss values: cross-entropy from the logits is exact at any |z| (issue 11, item 8); MSE values and
every delta are bit-identical to the formulas they had before."""
from __future__ import annotations

import decimal
import functools
import math

import numpy as np
import pytest
from scipy.special import log_expit, logsumexp

from nnexp.activations import Linear, Sigmoid, Softmax, make_activation
from nnexp.initializers import get_initializer
from nnexp.losses import MSE, CrossEntropy, RashidMSE, _log, make_loss
from nnexp.model import MLP
from nnexp.train import diagnostics, encode_targets, evaluate

SCALES = [1, 10, 100, 1000]
N, K = 64, 5
TINY = np.finfo(np.float64).tiny  # below it (subnormals) a loss has no relative precision left to test


# --- the cases and two independent references ------------------------------------------------
def softmax_case(scale, soft, seed=0):
    """Logits N(0, 1)·scale (batch, K); one-hot targets, or soft ones (random rows of a simplex,
    and seed 001's 0.01/0.99 targets whose sum is not 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N, K)) * scale
    labels = rng.integers(0, K, N)
    labels[: N // 4] = z[: N // 4].argmax(axis=1)  # a quarter confident and right: a loss ~e^-scale
    if not soft:
        return z, np.eye(K)[labels]
    y = rng.dirichlet(np.ones(K), N)
    y[: N // 2] = encode_targets(labels[: N // 2], K, 0.01, 0.99, np.float64)
    return z, y


def sigmoid_case(scale, soft, n_out, seed=0):
    """Logits N(0, 1)·scale; 0/1 targets, or fractional ones in [0, 1] (with 0.01/0.99 among them)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N, n_out)) * scale
    if not soft:
        return z, rng.integers(0, 2, (N, n_out)).astype(np.float64)
    y = rng.uniform(0, 1, (N, n_out))
    y[: N // 4] = np.where(rng.integers(0, 2, (N // 4, n_out)) == 1, 0.99, 0.01)
    return z, y


def ref_softmax(z, y):
    """Σ_k y_k (log Σ_j e^{z_j} - z_k) = Σ_k y_k logsumexp_j(z_j - z_k): scipy's logsumexp (log1p
    when one term dominates) on every shifted row, (batch, K, K); no subtraction of large numbers."""
    return (y * logsumexp(z[:, None, :] - z[:, :, None], axis=2)).sum(axis=1)


def ref_sigmoid(z, y):
    """-Σ_k y_k log σ(z_k) + (1 - y_k) log σ(-z_k), with scipy's log_expit."""
    return -(y * log_expit(z) + (1 - y) * log_expit(-z)).sum(axis=1)


_exp, _ln = np.frompyfunc(decimal.Decimal.exp, 1, 1), np.frompyfunc(decimal.Decimal.ln, 1, 1)
_dec = np.frompyfunc(decimal.Decimal, 1, 1)  # a float64 to the Decimal of exactly the same value


@functools.lru_cache(maxsize=None)
def oracle(output, n_out, soft, scale):
    """The case's losses in decimal arithmetic (stdlib), no floating point until the end, with
    enough digits that the textbook formulas' cancellations (lse - z_k, ln(1 + e^-z)) cost nothing:
    a loss is at least ~e^(-2 max|z|), or below the smallest normal float 1e-308, so 2 max|z| / ln 10
    digits (at most 308 + 5 for |z| < 10^5) and 30 more."""
    z, y = case(output, n_out, soft, scale)
    digits = 30 + min(int(2 * np.abs(z).max() / math.log(10)), 313)
    with decimal.localcontext(decimal.Context(prec=digits)):
        Z, Y = _dec(z), _dec(y)
        E = _exp(Z)
        if output == "softmax":  # -log softmax_k = ln Σ_j e^{z_j} - z_k
            c = (Y * (_ln(E.sum(axis=1))[:, None] - Z)).sum(axis=1)
        else:  # -log σ(z) = ln(1 + e^-z), -log(1 - σ(z)) = ln(1 + e^z)
            c = (Y * _ln(1 + 1 / E) + (1 - Y) * _ln(1 + E)).sum(axis=1)
        return c.astype(np.float64)


def rel_err(got, ref):
    """Max relative error; values below the smallest normal float count by their absolute error."""
    return float((np.abs(got - ref) / np.maximum(np.abs(ref), TINY)).max())


def ce(output, n_out):
    return make_loss("cross_entropy", make_activation(output, output=True, key="k"), n_out)


CASES = ([("softmax", K, soft) for soft in (False, True)]
         + [("sigmoid", n, soft) for n in (1, K) for soft in (False, True)])
IDS = [f"{o}{n}-{'soft' if s else 'hard'}" for o, n, s in CASES]


def case(output, n_out, soft, scale):
    return softmax_case(scale, soft) if output == "softmax" else sigmoid_case(scale, soft, n_out)


# --- (1) the value against references, |z| up to ~4000 ----------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("output,n_out,soft", CASES, ids=IDS)
def test_cross_entropy_value_matches_scipy_reference(output, n_out, soft, scale):
    z, y = case(output, n_out, soft, scale)
    loss = ce(output, n_out)
    got = loss.fn(loss.out.fn(z), y, z)
    ref = ref_softmax(z, y) if output == "softmax" else ref_sigmoid(z, y)
    assert got.shape == (N,) and got.dtype == np.float64
    assert rel_err(got, ref) < 1e-12


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("output,n_out,soft", CASES, ids=IDS)
def test_cross_entropy_value_matches_decimal_oracle(output, n_out, soft, scale):
    """Independent of scipy and of floating point: also checks the scipy reference itself."""
    z, y = case(output, n_out, soft, scale)
    loss = ce(output, n_out)
    exact = oracle(output, n_out, soft, scale)
    assert rel_err(loss.fn(loss.out.fn(z), y, z), exact) < 1e-12
    ref = ref_softmax(z, y) if output == "softmax" else ref_sigmoid(z, y)
    assert rel_err(ref, exact) < 1e-12


@pytest.mark.parametrize("output,n_out,soft", CASES, ids=IDS)
def test_the_old_formula_fails_the_same_comparison(output, n_out, soft):
    """The comparison can fail: the value from the rounded outputs (no z) is far off at scale 1000."""
    z, y = case(output, n_out, soft, 1000)
    loss = ce(output, n_out)
    assert rel_err(loss.fn(loss.out.fn(z), y), oracle(output, n_out, soft, 1000)) > 1e-2


@functools.lru_cache(maxsize=None)
def torch_reference():
    """PyTorch 2.13's F.cross_entropy / F.binary_cross_entropy_with_logits on these cases, stored by
    tests/data/make_torch_ce_reference.py (the suite does not install PyTorch)."""
    from pathlib import Path

    with np.load(Path(__file__).parent / "data" / "torch_ce_reference.npz") as f:
        return dict(f)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("output,n_out,soft", CASES, ids=IDS)
def test_cross_entropy_value_matches_torch(output, n_out, soft, scale):
    """Within 1e-12 of PyTorch's value, relative to the loss wherever it is at least 1e-3. PyTorch
    computes z_k - logsumexp(z) and softplus without keeping a dominant logit's tiny remainder, so on
    a confident right answer (a loss of e^-300) it is exact only to the rounding of the logits' size:
    there the error is measured against max(|loss|, max_k |z_k|)."""
    import hashlib

    z, y = case(output, n_out, soft, scale)
    ref, name = torch_reference(), f"{IDS[CASES.index((output, n_out, soft))]}/{scale}"
    assert str(ref[name + "/sha256"]) == hashlib.sha256(z.tobytes() + y.tobytes()).hexdigest(), \
        "the cases changed: rerun tests/data/make_torch_ce_reference.py"
    loss = ce(output, n_out)
    got, want = loss.fn(loss.out.fn(z), y, z), ref[name]
    big = np.abs(want) >= 1e-3
    assert big.sum() >= N // 4  # many rows are compared by the plain relative error
    assert rel_err(got[big], want[big]) < 1e-12
    size = np.maximum(np.abs(want), np.abs(z).max(axis=1))
    assert (np.abs(got - want) / size).max() < 1e-12


def test_float32_stays_float32_and_is_accurate():
    z, y = softmax_case(10, soft=True)
    loss = ce("softmax", K)
    z32, y32 = z.astype(np.float32), y.astype(np.float32)
    got = loss.fn(loss.out.fn(z32), y32, z32)
    assert got.dtype == np.float32
    assert rel_err(got.astype(np.float64), ref_softmax(z32.astype(np.float64), y32.astype(np.float64))) < 1e-5
    z, y = sigmoid_case(10, soft=True, n_out=K)
    loss = ce("sigmoid", K)
    z32, y32 = z.astype(np.float32), y.astype(np.float32)
    got = loss.fn(loss.out.fn(z32), y32, z32)
    assert got.dtype == np.float32
    assert rel_err(got.astype(np.float64), ref_sigmoid(z32.astype(np.float64), y32.astype(np.float64))) < 1e-5


# --- (2) saturated outputs ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_sigmoid_reports_z_not_minus_log_tiny(dtype):
    z = np.array([[50.0], [100.0], [700.0]], dtype=dtype)
    y = np.zeros_like(z)
    loss = ce("sigmoid", 1)
    a = loss.out.fn(z)
    got = loss.fn(a, y, z)
    np.testing.assert_allclose(got, z[:, 0], rtol=1e-12 if dtype == np.float64 else 1e-7)  # softplus(z) = z + e^-z
    old = loss.fn(a, y)  # the value from a: a = 1 exactly, log(1 - a) clipped at the smallest float
    np.testing.assert_allclose(old, -np.log(np.finfo(dtype).tiny), rtol=1e-6)  # 708.4 / 87.3 at every z
    # right and saturated: e^-z, not 0 (float32 cannot hold e^-700: 0 there)
    right = loss.fn(a, np.ones_like(z), z)
    np.testing.assert_allclose(right, np.exp(-z[:, 0].astype(np.float64)).astype(dtype), rtol=1e-6)


def test_saturated_softmax_reports_the_logit_gap():
    z = np.array([[0.0, 800.0, -5.0], [1000.0, 0.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    loss = ce("softmax", 3)
    np.testing.assert_allclose(loss.fn(loss.out.fn(z), y, z), [800.0, 1000.0], rtol=1e-12)
    np.testing.assert_allclose(loss.fn(loss.out.fn(z), y), [708.396, 708.396], rtol=1e-5)  # the old value


# --- (3) MSE values and all deltas unchanged ---------------------------------------------------
def out_case(output, dtype, seed=1):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(N, K)) * 30).astype(dtype)
    y = rng.uniform(0, 1, (N, K)).astype(dtype)
    act = {"sigmoid": Sigmoid(), "softmax": Softmax(), "linear": Linear()}[output]
    return act, z, act.fn(z), y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls,output", [(MSE, "sigmoid"), (MSE, "softmax"), (MSE, "linear"),
                                        (RashidMSE, "sigmoid")])
def test_mse_values_are_bit_identical(cls, output, dtype):
    act, z, a, y = out_case(output, dtype)
    loss = cls(act)
    before = 0.5 * ((a - y) ** 2).sum(axis=1)  # the formula as it was
    for got in (loss.fn(a, y, z), loss.fn(a, y)):
        assert got.dtype == dtype and np.array_equal(got, before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_cross_entropy_deltas_are_bit_identical(output, dtype):
    act, z, a, y = out_case(output, dtype)
    loss = CrossEntropy(act)
    onehot = np.eye(K, dtype=dtype)[np.arange(N) % K]
    assert np.array_equal(loss.delta(z, a, onehot), a - onehot)
    assert loss.back_delta(z, a, onehot) is None
    expected = a * y.sum(axis=1, keepdims=True) - y if output == "softmax" else a - y
    got = loss.delta(z, a, y)
    assert got.dtype == dtype and np.array_equal(got, expected)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_without_z_the_old_formula_is_kept(output):
    act, z, a, y = out_case(output, np.float64)
    loss = CrossEntropy(act)
    old = -(y * _log(a)).sum(axis=1) if output == "softmax" else -(y * _log(a) + (1 - y) * _log(1 - a)).sum(axis=1)
    assert np.array_equal(loss.fn(a, y), old)


# --- (4) the value from z has the delta as its gradient ------------------------------------------
@pytest.mark.parametrize("scale", [1, 50])
@pytest.mark.parametrize("output,n_out,soft", CASES, ids=IDS)
def test_delta_is_the_gradient_of_the_value_from_z(output, n_out, soft, scale):
    """Central differences of fn(z) in z equal delta, also on saturated units (scale 50), where
    the value from a was flat (clipped) and its finite differences gave 0."""
    z, y = case(output, n_out, soft, scale)
    z, y = z[:8], y[:8]
    loss = ce(output, n_out)
    eps = 1e-6
    numeric = np.zeros_like(z)
    for j in range(z.shape[1]):  # one column at a time, all samples at once
        step = np.zeros_like(z)
        step[:, j] = eps
        numeric[:, j] = (loss.fn(None, y, z + step) - loss.fn(None, y, z - step)) / (2 * eps)
    analytic = loss.delta(z, loss.out.fn(z), y)
    np.testing.assert_allclose(numeric, analytic, atol=1e-7)


# --- callers: the trainer's reported losses come from z ---------------------------------------------
@pytest.mark.parametrize("output,n_out", [("sigmoid", 1), ("softmax", 3)])
def test_evaluate_and_diagnostics_report_the_value_from_z(output, n_out):
    rng = np.random.default_rng(0)
    out = make_activation(output, output=True, key="k")
    model = MLP([4, 6, n_out], make_activation("tanh", key="k"), out, dtype=np.float64,
                init=get_initializer("xavier"), rng=rng)
    model.W[-1] *= 2000  # saturated outputs: logit gaps beyond 745, where softmax rounds to 0
    X = rng.normal(size=(32, 4))
    labels = rng.integers(0, max(n_out, 2), 32)
    T = encode_targets(labels, n_out, dtype=np.float64)
    loss = make_loss("cross_entropy", out, n_out)
    zs, As = model.forward(X)
    exact = float(loss.fn(As[-1], T, zs[-1]).mean())
    assert exact != pytest.approx(float(loss.fn(As[-1], T).mean()), rel=1e-3)  # the case tells them apart
    assert evaluate(model, loss, X, T, labels)[0] == exact
    assert diagnostics(model, loss, X, T, labels)["train/loss"] == exact
