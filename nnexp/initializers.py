"""Weight initialisers `(fan_in, fan_out, rng) -> W` of shape (fan_in, fan_out), in float64.

`rng` is a numpy Generator, except for `uniform_legacy`, which marks itself `legacy_rng` and gets
numpy's legacy RandomState seeded with the run seed: the stream `np.random.seed(s)` gives.

Named and kept side by side on purpose, to be compared (seeds 000, 001, 004): the scale of
the first weights decides whether a sigmoid saturates, whether signals vanish with depth, and
whether hidden units can ever become different from each other.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError


def zero(fan_in, fan_out, rng):
    """All zeros: fine without a hidden layer; with one, every hidden unit stays identical."""
    return np.zeros((fan_in, fan_out))


def normal_fanin(fan_in, fan_out, rng):
    """N(0, σ = fan_in^-1/2): the seeds' rule, `pow(incoming links, -0.5)` (seed 001)."""
    return rng.normal(0.0, fan_in**-0.5, size=(fan_in, fan_out))


def normal(fan_in, fan_out, rng):
    """N(0, 1): large for wide layers, saturates a sigmoid."""
    return rng.normal(0.0, 1.0, size=(fan_in, fan_out))


def uniform(fan_in, fan_out, rng):
    """U(-1, 1), as Trask's `2*np.random.random(shape) - 1` (seed 003)."""
    return rng.uniform(-1.0, 1.0, size=(fan_in, fan_out))


def uniform_legacy(fan_in, fan_out, rng):
    """U(-1, 1) drawn exactly as Trask's `2*np.random.random((fan_in, fan_out)) - 1` after
    `np.random.seed(seed)`, layer after layer: the same numbers, bit for bit (seed 003)."""
    return 2 * rng.random_sample((fan_in, fan_out)) - 1


uniform_legacy.legacy_rng = True


def constant(fan_in, fan_out, rng, value=0.0):
    """Every weight = value (init.value): the single neuron of seed 004 starts at w = 2.0 or 0.6."""
    return np.full((fan_in, fan_out), float(value))


def xavier(fan_in, fan_out, rng):
    """Glorot & Bengio's normalised init: U(±sqrt(6 / (fan_in + fan_out))), variance kept for tanh."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he(fan_in, fan_out, rng):
    """He et al. (Kaiming) normal: N(0, σ = sqrt(2 / fan_in)), variance kept for ReLU."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


INITIALIZERS = {f.__name__: f for f in (zero, normal_fanin, normal, uniform, uniform_legacy, xavier, he, constant)}


def get_initializer(name: str, value=None):
    """The initialiser `name`; `value` is the constant of `constant` (ignored by the others)."""
    if name not in INITIALIZERS:
        raise ConfigError("init.scheme", f"unknown initialisation {name!r}; allowed: {', '.join(INITIALIZERS)}")
    init = INITIALIZERS[name]
    if init is constant:
        return lambda fan_in, fan_out, rng: constant(fan_in, fan_out, rng, 0.0 if value is None else value)
    return init
