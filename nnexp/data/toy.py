"""Small generated datasets: Trask's 4-row XOR table and TensorFlow Playground's 2-D problems.

The Playground generators follow its src/dataset.ts (labels -1/+1 become 0/1; class_names
keep "-1" and "1"). As there, `noise` in circle and xor2d does not move a point: the label is
computed from a jittered copy, so noise shows up as labels flipped near the boundary. In gauss
the noise sets the variance, lerp(0.5, 4, noise/0.5), so the standard deviation is its root;
in spiral it moves the points. Then one seeded shuffle, the train/test split by train_ratio
(the Playground's "ratio of training to test data") and val held out from the train part.
"""

from __future__ import annotations

import numpy as np

from nnexp.data.dataset import Dataset
from nnexp.data.options import choice, data_seed, fraction, generators, integer, number, read_options
from nnexp.data.split import head_split
from nnexp.errors import ConfigError

# --- Trask's table ("A neural network in 11 lines of Python") --------------------------------

XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)  # 3rd column: bias
XOR_TARGETS = {
    "xor": np.array([0, 1, 1, 0]),    # the 3-layer example: y = x1 XOR x2
    "first": np.array([0, 0, 1, 1]),  # the 2-layer example: y = x1
}


def load_xor(cfg, seed: int) -> Dataset:
    """The 4 rows as train, val and test alike, in Trask's order, never shuffled (seed unused)."""
    opts = read_options(cfg, {"target": "xor"})
    y = XOR_TARGETS[choice(opts, "target", tuple(XOR_TARGETS))]
    data_seed(opts, seed)  # validated for uniformity, not used: nothing here is random
    return Dataset(name="xor", X_train=XOR_X.copy(), X_val=XOR_X.copy(), X_test=XOR_X.copy(),
                   y_train=y.copy(), y_val=y.copy(), y_test=y.copy(), n_classes=2,
                   class_names=("0", "1"), source=f"Trask's table, target {opts['target']}")


def load_neuron(cfg, seed: int) -> Dataset:
    """One sample, input x (default 1.0) with label 0 or 1: seed 004's single saturated neuron
    (Nielsen's example: input 1, target 0). train = val = test."""
    opts = read_options(cfg, {"x": 1.0, "target": 0})
    x = number(opts, "x", -1e6, 1e6)
    target = choice(opts, "target", (0, 1))
    data_seed(opts, seed)  # validated for uniformity, not used: nothing here is random
    X, y = np.array([[x]]), np.array([target])
    return Dataset(name="neuron", X_train=X.copy(), X_val=X.copy(), X_test=X.copy(),
                   y_train=y.copy(), y_val=y.copy(), y_test=y.copy(), n_classes=2,
                   class_names=("0", "1"), source=f"one sample: x = {x:g}, target {target}")


# --- TensorFlow Playground generators: (n, rng, noise) -> (X (n, 2), labels in {-1, +1}) -------

def _half(n: int) -> tuple[int, int]:
    """(positives, negatives) for n samples: n/2 each, the extra one positive when n is odd."""
    return n - n // 2, n // 2


def circle(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Label +1 inside radius 2.5, -1 in the ring 3.5..5 (radius 5 · 0.7..1); noise flips labels."""
    radius = 5.0
    n_pos, n_neg = _half(n)
    r = np.concatenate([rng.uniform(0, radius * 0.5, n_pos), rng.uniform(radius * 0.7, radius, n_neg)])
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.column_stack([r * np.sin(angle), r * np.cos(angle)])           # (n, 2)
    jitter = rng.uniform(-radius, radius, (n, 2)) * noise
    labels = np.where(np.linalg.norm(X + jitter, axis=1) < radius * 0.5, 1, -1)
    return X, labels


def xor2d(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y ~ U(-5, 5) pushed 0.3 away from the axes; label sign(x·y) (>= 0 → +1) of a jittered copy."""
    X = rng.uniform(-5, 5, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)                                        # padding
    jitter = rng.uniform(-5, 5, (n, 2)) * noise
    labels = np.where(np.prod(X + jitter, axis=1) >= 0, 1, -1)
    return X, labels


def gauss(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Blobs at (2, 2) (+1) and (-2, -2) (-1) with variance lerp(0.5, 4, noise / 0.5)."""
    variance = 0.5 + (4.0 - 0.5) * noise / 0.5
    n_pos, n_neg = _half(n)
    centres = np.repeat([[2.0, 2.0], [-2.0, -2.0]], [n_pos, n_neg], axis=0)
    X = centres + np.sqrt(variance) * rng.standard_normal((n, 2))
    return X, np.repeat([1, -1], [n_pos, n_neg])


def spiral(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two arms of n/2 points: r = i/m·5, t = 1.75·(i/m)·2π + δ (δ = 0: +1, π: -1), plus U(-1, 1)·noise."""
    X, labels = [], []
    for count, delta, label in zip(_half(n), (0.0, np.pi), (1, -1)):       # two arms, not samples
        i = np.arange(count)
        r = i / count * 5
        t = 1.75 * i / count * 2 * np.pi + delta
        arm = np.column_stack([r * np.sin(t), r * np.cos(t)])
        X.append(arm + rng.uniform(-1, 1, (count, 2)) * noise)
        labels.append(np.full(count, label))
    return np.concatenate(X), np.concatenate(labels)


PLAYGROUND = {"circle": circle, "xor2d": xor2d, "gauss": gauss, "spiral": spiral}
PLAYGROUND_DEFAULTS = {"n_samples": 500, "noise": 0.0, "train_ratio": 0.5}


def load_playground(cfg, seed: int) -> Dataset:
    """Generate, shuffle, split by train_ratio, hold val_frac of the train part out."""
    opts = read_options(cfg, PLAYGROUND_DEFAULTS)
    name = choice(opts, "name", tuple(PLAYGROUND))
    n = integer(opts, "n_samples", 4)
    noise = number(opts, "noise", 0.0, 0.5)
    train_ratio = fraction(opts, "train_ratio", allow_zero=False)
    rng_make, rng_shuffle = generators(data_seed(opts, seed), 2)

    X, labels = PLAYGROUND[name](n, rng_make, noise)
    order = rng_shuffle.permutation(n)
    X, y = X[order], (labels[order] > 0).astype(np.int64)                # -1/+1 → 0/1
    n_train = int(n * train_ratio)                                         # Playground: floor
    if n_train == 0 or n_train == n:
        raise ConfigError("dataset.train_ratio", f"{train_ratio} of {n} samples leaves an empty train or "
                          "test set; allowed: a ratio that keeps both non-empty, e.g. 0.5")
    keep, held = head_split(n_train, opts["val_frac"])
    return Dataset(name=name, X_train=X[:n_train][keep], X_val=X[:n_train][held], X_test=X[n_train:],
                   y_train=y[:n_train][keep], y_val=y[:n_train][held], y_test=y[n_train:],
                   n_classes=2, class_names=("-1", "1"),
                   source=f"TensorFlow Playground {name}, noise {noise}")
