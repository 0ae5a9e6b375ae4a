"""Activation functions: each a small class with `fn(z)` and `grad(z, a)`.

`grad` receives both the pre-activation `z` and the activation `a = fn(z)` so that each
derivative uses whichever is cheaper (sigmoid' = a(1-a) needs no second exp). PReLU is the
only one with a learned parameter: a slope per unit, updated by the optimiser like a weight.
"""
from __future__ import annotations

from .errors import ConfigError
from .xp import errstate, namespace


class Activation:
    """Base class. `saturates` / `can_die` say which diagnostics apply."""

    name = "activation"
    saturates = False  # sigmoid/tanh: report the fraction of saturated units
    can_die = False  # relu: report the fraction of dead units
    has_params = False

    def fn(self, z):
        raise NotImplementedError

    def grad(self, z, a):
        """da/dz, elementwise."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Sigmoid(Activation):
    """σ(z) = 1 / (1 + e^-z);  σ'(z) = σ(z)(1 - σ(z)), at most 1/4."""

    name = "sigmoid"
    saturates = True

    def fn(self, z):
        xp = namespace(z)
        with errstate(xp, over="ignore"):  # e^-z overflows to inf for z << 0: σ = 0, correct
            if xp.ndim(z) == 0:
                return 1 / (1 + xp.exp(-z))
            a = xp.negative(z)  # 1 / (1 + e^-z) in one array: the same bits, a quarter faster
            xp.exp(a, out=a)
            a += 1
            return xp.reciprocal(a, out=a)

    def grad(self, z, a):
        return a * (1 - a)

    @staticmethod
    def saturated(a):
        """σ' below a tenth of its maximum 1/4: a < 0.026 or a > 0.974."""
        return a * (1 - a) < 0.025


class Tanh(Activation):
    """tanh(z); tanh'(z) = 1 - tanh(z)^2, at most 1."""

    name = "tanh"
    saturates = True

    def fn(self, z):
        return namespace(z).tanh(z)

    def grad(self, z, a):
        return 1 - a * a

    @staticmethod
    def saturated(a):
        """tanh' below a tenth of its maximum: |a| > 0.949."""
        return 1 - a * a < 0.1


class ReLU(Activation):
    """max(0, z); derivative 1 for z > 0 else 0. A unit that is 0 for every input is dead."""

    name = "relu"
    can_die = True

    def fn(self, z):
        return namespace(z).maximum(z, 0)

    def grad(self, z, a):
        return (z > 0).astype(z.dtype)


class LeakyReLU(Activation):
    """z for z > 0, slope·z otherwise (slope fixed, e.g. 0.01)."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def fn(self, z):
        return namespace(z).where(z > 0, z, self.slope * z)

    def grad(self, z, a):
        return namespace(z).where(z > 0, 1, self.slope).astype(z.dtype)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class PReLU(Activation):
    """z for z > 0, α_j·z otherwise, with one learned slope α_j per unit (He et al. 2015).

    The slope lives in the layer (`MLP.alphas`); `fn`/`grad` take it as an argument and
    `alpha_grad` gives d loss / d α from the upstream gradient.
    """

    name = "prelu"
    has_params = True

    def __init__(self, slope: float = 0.25):
        self.slope = slope  # initial α

    def fn(self, z, alpha=None):
        alpha = self.slope if alpha is None else alpha
        return namespace(z).where(z > 0, z, alpha * z)

    def grad(self, z, a, alpha=None):
        alpha = self.slope if alpha is None else alpha
        return namespace(z).where(z > 0, 1, alpha).astype(z.dtype)

    @staticmethod
    def alpha_grad(z, dA):
        """dL/dα_j = Σ_batch dA · z where z <= 0.   z, dA: (batch, n)."""
        return (dA * namespace(z).minimum(z, 0)).sum(axis=0)

    def __repr__(self):
        return f"PReLU(init_slope={self.slope})"


class Linear(Activation):
    """Identity: stacked linear layers stay linear."""

    name = "linear"

    def fn(self, z):
        return z

    def grad(self, z, a):
        return namespace(z).ones_like(z)


class Softmax(Activation):
    """softmax(z)_k = e^{z_k} / Σ_j e^{z_j}, over units; output layer only.

    Its Jacobian is not diagonal, so `grad` is not defined: the losses compute the output
    delta directly (see losses.py).
    """

    name = "softmax"

    def fn(self, z):
        e = namespace(z).exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def grad(self, z, a):
        raise TypeError("softmax has a full Jacobian; losses compute its delta directly")


HIDDEN_ACTIVATIONS = {c.name: c for c in (Sigmoid, Tanh, ReLU, LeakyReLU, PReLU, Linear)}
OUTPUT_ACTIVATIONS = {c.name: c for c in (Sigmoid, Softmax, Linear)}


def make_activation(name: str, slope: float | None = None, *, output: bool = False, key: str):
    """Look `name` up in the registry; an unknown name lists the valid ones."""
    registry = OUTPUT_ACTIVATIONS if output else HIDDEN_ACTIVATIONS
    if name not in registry:
        raise ConfigError(key, f"unknown activation {name!r}; allowed: {', '.join(registry)}")
    cls = registry[name]
    if cls in (LeakyReLU, PReLU) and slope is not None:
        return cls(slope)
    return cls()
