"""The `Dataset` every loader returns: three float64 splits with int64 labels, checked on creation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnexp.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(repr=False)
class Dataset:
    """Train/val/test arrays of one dataset.

    X_* are float64 of shape (n, d), y_* int64 of shape (n,) with values 0..n_classes-1;
    class_names[k] is the original label (as a string) that became class k. `source` says
    where the data came from (a directory, a package, a generator) for the run's record.
    """

    name: str
    X_train: np.ndarray
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    n_classes: int
    class_names: tuple[str, ...]
    source: str = field(default="")

    def __post_init__(self):
        self.class_names = tuple(str(c) for c in self.class_names)
        if self.n_classes != len(self.class_names):
            raise DataError(f"{self.name}: {self.n_classes} classes but {len(self.class_names)} class names")
        d = np.asarray(self.X_train).shape[-1]
        for split in SPLITS:
            X = np.asarray(getattr(self, f"X_{split}"), dtype=np.float64)
            y = np.asarray(getattr(self, f"y_{split}"))
            X = X.reshape(0, d) if X.size == 0 else X
            if X.ndim != 2 or X.shape[1] != d or y.shape != (X.shape[0],):
                raise DataError(f"{self.name}: {split} split has X {X.shape} and y {y.shape}; "
                                f"expected (n, {d}) and (n,)")
            if not np.isfinite(X).all():
                raise DataError(f"{self.name}: {split} features contain NaN or inf; the data must be finite")
            if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= self.n_classes):
                raise DataError(f"{self.name}: {split} labels must be integers in 0..{self.n_classes - 1}")
            setattr(self, f"X_{split}", X)
            setattr(self, f"y_{split}", y.astype(np.int64))

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    def describe(self) -> str:
        """One line, e.g. 'mnist: 6400/1596/2004 train/val/test, 784 features, 10 classes'."""
        sizes = "/".join(str(len(getattr(self, f"y_{s}"))) for s in SPLITS)
        text = f"{self.name}: {sizes} train/val/test, {self.n_features} features, {self.n_classes} classes"
        return f"{text}, from {self.source}" if self.source else text

    def __repr__(self) -> str:
        return f"Dataset({self.describe()})"
