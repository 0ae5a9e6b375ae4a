"""Losses, Nielsen style: `fn(a, y)` gives the loss of each sample, `delta(z, a, y)` gives
dL/dz at the output layer. Each loss is bound to the output activation `out` it follows.

The loss of a sample is summed over output units; the trainer averages over the batch
(or sums, `loss.reduction=sum`, as Trask's full-batch code does).
"""
from __future__ import annotations

import numpy as np

from .activations import Softmax
from .errors import ConfigError


def _log(x):
    """log clipped at the smallest positive float, so a saturated output gives a large finite loss."""
    return np.log(np.maximum(x, np.finfo(x.dtype).tiny))


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

    def fn(self, a, y):
        return 0.5 * ((a - y) ** 2).sum(axis=1)  # (batch,)

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
    """

    name = "cross_entropy"
    allowed_outputs = ("sigmoid", "softmax")

    def fn(self, a, y):
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
