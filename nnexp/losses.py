"""Losses, Nielsen style: `fn(a, y, z)` gives the loss of each sample, `delta(z, a, y)` gives
dL/dz at the output layer. Each loss is bound to the output activation `out` it follows.
`z` is the output layer's pre-activation (the logits, `zs[-1]` of `MLP.forward`): cross-entropy
computes its value from it; every caller in the package passes it.

The loss of a sample is summed over output units; the trainer averages over the batch
(or sums, `loss.reduction=sum`, as Trask's full-batch code does).
"""
from __future__ import annotations

from .activations import Softmax
from .errors import ConfigError
from .xp import namespace


def _log(x):
    """log clipped at the smallest positive float, so a saturated output gives a large finite loss."""
    xp = namespace(x)
    return xp.log(xp.maximum(x, xp.finfo(x.dtype).tiny))


def _softmax_ce(z, y):
    """-Σ_k y_k log softmax(z)_k per row, from the logits: log-softmax with the max subtracted.

    With s = z - max (all <= 0, 0 at the argmax): log softmax_k = s_k - log Σ_j e^{s_j}, and
    log Σ_j e^{s_j} = log1p(Σ_{j != argmax} e^{s_j}), exact to rounding even when one logit
    dominates (a confident right answer: a loss of e^-300 is reported as such, not as 0). Both
    terms of  C = Σ_k y_k · (log Σ_j e^{s_j}) - Σ_k y_k s_k  are >= 0 for y >= 0: no cancellation.
    """
    xp = namespace(z)
    rows = xp.arange(len(z))
    top = z.argmax(axis=1)
    s = z - z[rows, top][:, None]  # (batch, n_out), <= 0
    e = xp.exp(s)
    e[rows, top] = 0  # the argmax's term e^0 = 1 is the 1 of log1p
    lse = xp.log1p(e.sum(axis=1))  # log Σ_j e^{s_j}  (batch,)
    return lse * y.sum(axis=1) - (y * s).sum(axis=1)


def _sigmoid_ce(z, y):
    """Binary cross-entropy summed over units, from the logits: softplus(z) - y z per unit.

    softplus(z) = max(z, 0) + log1p(e^{-|z|}) never overflows; max(z, 0) - y z is written as
    (1 - y) z for z > 0 and -y z otherwise, so for 0 <= y <= 1 every term is >= 0 and no large
    numbers cancel (a saturated right answer, z = 50 with y = 1, gives e^-50; y = 0.99 at z = 1000
    gives 10 + e^-1000 from one product, not 1000 - 990).
    """
    xp = namespace(z)
    return (xp.where(z > 0, (1 - y) * z, -y * z) + xp.log1p(xp.exp(-xp.abs(z)))).sum(axis=1)


class Loss:
    """Base: remembers the output activation, whose derivative enters the delta."""

    name = "loss"
    allowed_outputs: tuple = ()
    exact_gradient = True  # False: a published update rule that is not this loss's gradient (see RashidMSE)

    def __init__(self, out, reduction="mean"):
        self.out = out
        self.softmax = isinstance(out, Softmax)
        self.reduction = reduction  # over the batch: "mean", or "sum" as Trask's full-batch update

    def back_delta(self, z, a, y):
        """The error the output layer sends to the layer below; for an exact gradient, None (= delta)."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}(out={self.out.name})"


class MSE(Loss):
    """Quadratic cost  C = ½ Σ_k (a_k - y_k)².

    dC/dz = (a - y) ⊙ σ'(z): with a saturated sigmoid output σ'(z) ≈ 0 and learning slows
    down even when the output is completely wrong (seed 004). For softmax the Jacobian is
    full: dC/dz_j = a_j (g_j - Σ_k g_k a_k) with g = a - y.
    """

    name = "mse"
    allowed_outputs = ("sigmoid", "softmax", "linear")

    def fn(self, a, y, z=None):
        return 0.5 * ((a - y) ** 2).sum(axis=1)  # (batch,); z is not needed

    def delta(self, z, a, y):
        g = a - y  # (batch, n_out)
        if self.softmax:
            return a * (g - (g * a).sum(axis=1, keepdims=True))
        return g * self.out.grad(z, a)


class CrossEntropy(Loss):
    """Cross-entropy, matched to the output activation.

    softmax: categorical  C = -Σ_k y_k log a_k,                 dC/dz = a Σ_k y_k - y  (= a - y for one-hot y)
    sigmoid: binary, per unit  C = -Σ_k y_k log a_k + (1 - y_k) log(1 - a_k),   dC/dz = a - y
    σ'(z) cancels in both, so a saturated wrong output still learns fast (seed 004).

    The value `fn(a, y, z)` is computed from the logits z, not from a: log-softmax with the max
    subtracted, C = -Σ_k y_k (z_k - max - log Σ_j e^{z_j - max}), and for sigmoid units
    C = Σ_k softplus(z_k) - y_k z_k. Why: a is already rounded. A sigmoid unit at z >= 36.7
    (float64; 16.6 in float32) gives a = 1 exactly, so log(1 - a) could only be clipped at the
    smallest float: a unit at z = 50 with target 0 reported -log(tiny) ~ 708 (87 in float32)
    instead of ~50, and the same at z = 5000; softmax outputs that round to 0 do the same, so a
    saturated network's loss was misreported by several times. From z the loss is exact to
    rounding at any |z|, in the model's dtype. Without z (a caller that has only the outputs) the
    old formula from a is used, exact while no output rounds to 0 or 1. The delta is unchanged:
    it never took a log.
    """

    name = "cross_entropy"
    allowed_outputs = ("sigmoid", "softmax")

    def fn(self, a, y, z=None):
        if z is not None:
            return _softmax_ce(z, y) if self.softmax else _sigmoid_ce(z, y)
        if self.softmax:
            return -(y * _log(a)).sum(axis=1)
        return -(y * _log(a) + (1 - y) * _log(1 - a)).sum(axis=1)

    def delta(self, z, a, y):
        if self.softmax:
            return a * y.sum(axis=1, keepdims=True) - y
        return a - y


class RashidMSE(MSE):
    """Seed 001's update rule (Rashid, *Make Your Own Neural Network*): not a gradient.

    The output weights get the quadratic cost's gradient, δ_out = (a - y) ⊙ σ'(z), but the error
    sent back to the hidden layer is the raw output error (a - y), "split by the weights", without
    σ'(z_out): hidden_errors = W_out.T @ (target - output) in the seed's code. Kept under its own
    name so the seed's printed accuracy can be reproduced; `mse` is the exact gradient.
    """

    name = "mse_rashid"
    allowed_outputs = ("sigmoid",)
    exact_gradient = False

    def back_delta(self, z, a, y):
        """What the output layer sends back: (a - y), without the sigmoid's derivative."""
        return a - y


LOSSES = {c.name: c for c in (MSE, CrossEntropy, RashidMSE)}


def make_loss(name: str, out, n_out: int, reduction: str = "mean") -> Loss:
    """The loss `name` bound to output activation `out`, after checking that the pair makes sense."""
    if name not in LOSSES:
        raise ConfigError("loss", f"unknown loss {name!r}; allowed: {', '.join(LOSSES)}")
    loss = LOSSES[name]
    output = out.name
    if output not in loss.allowed_outputs:
        raise ConfigError(
            "model.output",
            f"{output!r} output cannot be trained with loss={name} (log of an unbounded output); "
            f"allowed outputs: {', '.join(loss.allowed_outputs)}",
        )
    if output == "softmax" and n_out < 2:
        raise ConfigError(
            "model.outputs", "softmax over 1 unit is always 1; use output=sigmoid for one unit or >= 2 outputs"
        )
    if reduction not in ("mean", "sum"):
        raise ConfigError("loss.reduction", f"{reduction!r} is not allowed; allowed: mean, sum")
    return loss(out, reduction)
