"""MNIST and Fashion-MNIST from IDX files: class subset, caps, average pooling, pixel scaling.

`pool: k` averages k×k blocks (28×28 → (28/k)×(28/k)). k must divide the image side, or the
side minus one: then the last row and column are dropped first, which on MNIST-style images
loses only blank border (k=3 gives the 9×9 digits of the hidden-node study: 27 = 9·3).
`scale: unit` maps 0..255 to 0..1; `rashid` to 0.01..1.0 (x/255·0.99 + 0.01, seed 001's inputs
for sigmoid networks, which never see an exact zero).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnexp.data import files
from nnexp.data.dataset import Dataset
from nnexp.data.idx import read_idx
from nnexp.data.options import boolean, choice, class_list, data_seed, generators, integer, read_options
from nnexp.data.split import select_classes, stratified_split
from nnexp.errors import ConfigError, DataError

DEFAULTS = {
    "data_dir": None,   # null: search $NNEXP_DATA_DIR/<name>, the machine's copy, the download cache
    "classes": None,    # null: all ten labels; a list such as [0, 1] keeps those, re-indexed 0..k-1
    "pool": 1,          # average-pooling factor
    "scale": "unit",    # unit | rashid
    "max_train": None,  # cap on training samples (val included), taken after the class subset
    "max_test": None,   # cap on test samples
    "download": True,   # fetch the official files into the cache when no directory holds them
    "base_url": None,   # null: the official mirrors; a URL overrides them (e.g. a local server in tests)
}
SCALES = {
    "unit": lambda x: x / 255.0,
    "rashid": lambda x: x / 255.0 * 0.99 + 0.01,
}


def allowed_pools(side: int) -> list[int]:
    """Factors that divide `side` or `side - 1` (dropping one blank border row and column)."""
    return [k for k in range(1, side + 1) if side % k == 0 or (side - 1) % k == 0]


def pool_images(images: np.ndarray, k: int) -> np.ndarray:
    """(n, h, w) → (n, h//k, w//k) block means, after dropping the rows/columns k does not cover."""
    n, h, w = images.shape
    ho, wo = h // k, w // k
    blocks = images[:, :ho * k, :wo * k].reshape(n, ho, k, wo, k)
    return blocks.mean(axis=(2, 4), dtype=np.float64)


def _read_pairs(file_map: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train images, labels), (test images, labels)] with shape and count checks."""
    pairs = []
    for part in ("train", "t10k"):
        img_path, lab_path = file_map[f"{part}-images-idx3-ubyte"], file_map[f"{part}-labels-idx1-ubyte"]
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"{img_path}: expected uint8 images of shape (n, rows, cols), "
                            f"got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{lab_path}: expected integer labels of shape (n,), got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise DataError(f"{img_path} has {len(images)} images but {lab_path} has {len(labels)} labels; "
                            "the files must belong together")
        pairs.append((images, labels))
    return pairs


PACKAGED_KEYS = ("data_dir", "download", "base_url")  # mnist10k is read from the package, nowhere else


def _options(cfg, packaged: bool = False) -> dict:
    defaults = {k: v for k, v in DEFAULTS.items() if k not in PACKAGED_KEYS} if packaged else DEFAULTS
    opts = {**DEFAULTS, **read_options(cfg, defaults)}
    if packaged:
        opts["download"] = False
    opts["classes"] = class_list(opts)
    opts["pool"] = integer(opts, "pool", 1)
    opts["scale"] = choice(opts, "scale", tuple(SCALES))
    opts["max_train"] = integer(opts, "max_train", 1, allow_none=True)
    opts["max_test"] = integer(opts, "max_test", 1, allow_none=True)
    opts["download"] = boolean(opts, "download")
    for key in ("data_dir", "base_url"):
        if opts[key] is not None and not isinstance(opts[key], str):
            raise ConfigError(f"dataset.{key}", f"{opts[key]!r} is not allowed; allowed: null or a string")
    return opts


def _load(name: str, cfg, seed: int) -> Dataset:
    opts = _options(cfg, packaged=name == "mnist10k")
    seed = data_seed(opts, seed)
    side = 28  # checked against the files below; validating first fails fast, before any reading
    if opts["pool"] not in allowed_pools(side):
        raise ConfigError("dataset.pool", f"{opts['pool']} divides neither {side} nor {side - 1}; allowed: "
                          f"{', '.join(map(str, allowed_pools(side)))}")
    directory, file_map = files.dataset_files(name, opts["data_dir"], opts["download"], opts["base_url"])
    (X_tr, y_tr), (X_te, y_te) = _read_pairs(file_map)
    shapes = {X_tr.shape[1:], X_te.shape[1:]}
    if shapes != {(side, side)}:
        raise DataError(f"{directory}: images are {sorted(shapes)}, expected {side}x{side}")

    (rows_tr, rows_te), (lab_tr, lab_te), names = select_classes(opts["classes"], y_tr, y_te)
    rng_train, rng_test, rng_val = generators(seed, 3)
    pick_tr = rng_train.permutation(len(rows_tr))[:opts["max_train"]]  # first N after a seeded shuffle
    pick_te = rng_test.permutation(len(rows_te))[:opts["max_test"]]
    rows_tr, lab_tr, rows_te, lab_te = rows_tr[pick_tr], lab_tr[pick_tr], rows_te[pick_te], lab_te[pick_te]

    scale = SCALES[opts["scale"]]
    features_tr = scale(pool_images(X_tr[rows_tr], opts["pool"])).reshape(len(rows_tr), -1)  # (n, d)
    features_te = scale(pool_images(X_te[rows_te], opts["pool"])).reshape(len(rows_te), -1)
    keep, held = stratified_split(lab_tr, opts["val_frac"], rng_val)
    return Dataset(name=name, X_train=features_tr[keep], X_val=features_tr[held], X_test=features_te,
                   y_train=lab_tr[keep], y_val=lab_tr[held], y_test=lab_te,
                   n_classes=len(names), class_names=names, source=str(directory))


def load_mnist(cfg, seed: int) -> Dataset:
    """The full MNIST digits (60,000 + 10,000), from a local directory or a checksummed download."""
    return _load("mnist", cfg, seed)


def load_mnist10k(cfg, seed: int) -> Dataset:
    """The 10,000-digit MNIST subset shipped with nnexp (7,996 train / 2,004 test; see its README)."""
    return _load("mnist10k", cfg, seed)


def load_fashion_mnist(cfg, seed: int) -> Dataset:
    """Fashion-MNIST (Zalando's clothing images, same format and labels 0..9)."""
    return _load("fashion_mnist", cfg, seed)


def check_mnist(cfg) -> Path | None:
    """Pre-flight for mnist: options valid and files present (downloaded now if allowed and needed)."""
    opts = _options(cfg)
    return files.check("mnist", opts["data_dir"], opts["download"], opts["base_url"])


def check_mnist10k(cfg) -> Path | None:
    """Pre-flight for mnist10k: options valid (the files ship with the package)."""
    _options(cfg, packaged=True)
    return files.check("mnist10k", None, False)


def check_fashion_mnist(cfg) -> Path | None:
    """Pre-flight for fashion_mnist: options valid and files present (downloaded now if allowed and needed)."""
    opts = _options(cfg)
    return files.check("fashion_mnist", opts["data_dir"], opts["download"], opts["base_url"])
