"""Seeded splits and class subsets on label arrays, vectorised (no per-sample loops).

Everything here works on indices so that the loaders can pick rows once and convert only
the rows they keep (pooling and scaling 784 pixels is the expensive part, not the indexing).
"""

from __future__ import annotations

import numpy as np

from nnexp.errors import ConfigError


def n_held(count, frac: float) -> np.ndarray:
    """round(count · frac), halves rounded up: how many samples a fraction holds out."""
    return np.floor(np.asarray(count) * frac + 0.5).astype(np.int64)


def head_split(n: int, frac: float) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) indices of an already shuffled array: the first round(n·frac) are held out."""
    k = int(n_held(n, frac))
    return np.arange(k, n), np.arange(k)


def stratified_split(y: np.ndarray, frac: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) indices with round(n_c · frac) of each class c held out, both in random order.

    One permutation decides everything: sorting it stably by class gives each class's samples
    in random order, the first n_held of each class are held out, and both index sets are
    returned in the order of the permutation so classes stay interleaved.
    """
    n = len(y)
    perm = rng.permutation(n)
    order = perm[np.argsort(y[perm], kind="stable")]               # grouped by class
    classes, start, counts = np.unique(y[order], return_index=True, return_counts=True)
    cls = np.searchsorted(classes, y[order])                       # class index of each row
    held_mask = (np.arange(n) - start[cls]) < n_held(counts, frac)[cls]
    position = np.empty(n, dtype=np.int64)
    position[perm] = np.arange(n)                                  # where each index sits in perm
    keep, held = order[~held_mask], order[held_mask]
    return keep[np.argsort(position[keep])], held[np.argsort(position[held])]


def select_classes(classes: list[int] | None, *labels: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], tuple[str, ...]]:
    """Rows of each label array whose label is in `classes`, and those labels re-indexed 0..k-1.

    classes=None keeps every label present. The new index of a label is its position in
    `classes` ([3, 8] → 3 becomes 0, 8 becomes 1). A label absent from the data raises
    ConfigError naming dataset.classes and the labels that are present.
    Returns (rows per array, new labels per array, class names).
    """
    present = np.unique(np.concatenate(labels))
    if classes is None:
        classes = present.tolist()
    absent = sorted(set(classes) - set(present.tolist()))
    if absent:
        raise ConfigError("dataset.classes", f"{absent} not in the data; labels present: "
                          f"{', '.join(str(c) for c in present.tolist())}")
    lookup = np.full(int(present.max()) - int(present.min()) + 1, -1, dtype=np.int64)
    lookup[np.asarray(classes) - present.min()] = np.arange(len(classes))
    rows, new = [], []
    for y in labels:
        mapped = lookup[y.astype(np.int64) - present.min()]
        keep = np.flatnonzero(mapped >= 0)
        rows.append(keep)
        new.append(mapped[keep])
    return rows, new, tuple(str(c) for c in classes)
