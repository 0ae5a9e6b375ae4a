"""Your own data: arrays from one .npz file (`dataset=npz`) or two CSV tables (`dataset=csv`).

npz: `path` names a file holding x_train, y_train, x_test, y_test (np.savez; read without
pickle). x is a float, integer or bool array (n, d), or (n, h, w) images, flattened to h·w
features; y holds n integer labels 0..k-1 (whole-valued floats and bools are accepted).
csv: `train` and `test` name two tables with a header row, a label column (`label_column`) and
numeric feature columns, matched by name between the two files.

Both then go the way of the other datasets: `classes` keeps a subset (re-indexed 0..k-1 in list
order), `max_train`/`max_test` keep the first N after a seeded shuffle, val_frac of each class
is held out of the training part, and `scale` (none | standard | minmax) standardises each
feature or maps it to 0..1 with statistics of the training split alone (val and test reuse them;
a constant feature is only shifted). Every problem with a file is one DataError line naming the
file, the array or cell, and what is allowed. The pre-flight checks (check_npz, check_csv) read
only the .npy headers and the labels, or the CSV headers; NaN and inf are found when loading.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from nnexp.data.dataset import Dataset
from nnexp.data.options import choice, class_list, data_seed, generators, integer, read_options
from nnexp.data.split import select_classes, stratified_split
from nnexp.errors import ConfigError, DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
SCALES = ("none", "standard", "minmax")
COMMON = {
    "classes": None,    # null: every label; a list such as [0, 1] keeps those, re-indexed 0..k-1
    "max_train": None,  # cap on training samples (val included), taken after the class subset
    "max_test": None,   # cap on test samples
    "scale": "none",    # none | standard | minmax, from the training split's statistics
}
NPZ_DEFAULTS = {"path": None, **COMMON}
CSV_DEFAULTS = {"train": None, "test": None, "label_column": "label", **COMMON}
NUMERIC = "biuf"    # dtype kinds read as numbers: bool, signed and unsigned integers, floats
SAVEZ = "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"


# --- options -------------------------------------------------------------------------------

def _options(cfg, defaults: dict) -> dict:
    opts = read_options(cfg, defaults)
    opts["classes"] = class_list(opts)
    opts["max_train"] = integer(opts, "max_train", 1, allow_none=True)
    opts["max_test"] = integer(opts, "max_test", 1, allow_none=True)
    opts["scale"] = choice(opts, "scale", SCALES)
    if opts["seed"] is not None:
        data_seed(opts, 0)  # dataset.seed validated here; the run seed is validated with the config
    return opts


def _file(opts: dict, key: str, what: str, example: str) -> Path:
    """opts[key] as the absolute path of an existing file."""
    value = opts[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: the path of {what}, "
                          f"e.g. dataset.{key}={example}")
    path = Path(value).expanduser()
    if path.is_dir():
        raise DataError(f"dataset.{key}={value}: is a directory; allowed: the path of {what}")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (a relative path starts from the working directory {Path.cwd()})"
        raise DataError(f"dataset.{key}={value}: no such file{where}")
    return path.resolve()


def _npz_options(cfg) -> tuple[dict, Path]:
    opts = _options(cfg, NPZ_DEFAULTS)
    return opts, _file(opts, "path", "an .npz file", "mydata.npz")


def _csv_options(cfg) -> tuple[dict, Path, Path]:
    opts = _options(cfg, CSV_DEFAULTS)
    label = opts["label_column"]
    if not isinstance(label, str) or not label.strip():
        raise ConfigError("dataset.label_column", f"{label!r} is not allowed; allowed: the name of the "
                          "label column in the header row, e.g. label")
    return (opts, _file(opts, "train", "a CSV file", "train.csv"),
            _file(opts, "test", "a CSV file", "test.csv"))


# --- checks shared by both formats ---------------------------------------------------------

def _few(values, limit: int = 10) -> str:
    """'0, 1, 2' or '0, 1, …, 9 (12 in all)': a list short enough for one line."""
    values = [str(v) for v in values]
    text = ", ".join(values[:limit])
    return text if len(values) <= limit else f"{text}, … ({len(values)} in all)"


def _check_x(source: str, key: str, shape: tuple, dtype: np.dtype) -> None:
    """x: a numeric array (n, d) or (n, h, w) with n >= 1 samples and d >= 1 features."""
    if dtype.kind == "O":
        raise DataError(f"{source}: {key} is an object array (Python objects, never unpickled); "
                        "allowed: a float or integer array, e.g. np.asarray(x, dtype=float)")
    if dtype.kind not in NUMERIC:
        raise DataError(f"{source}: {key} has dtype {dtype}; allowed: a float or integer array")
    if len(shape) not in (2, 3):
        hint = "; one feature per sample is x.reshape(-1, 1)" if len(shape) == 1 else ""
        raise DataError(f"{source}: {key} has shape {tuple(shape)}; allowed: (n, d) features or (n, h, w) "
                        f"images{hint}")
    if shape[0] == 0:
        raise DataError(f"{source}: {key} is empty (shape {tuple(shape)}); each split needs at least one sample")
    if int(np.prod(shape[1:])) == 0:
        raise DataError(f"{source}: {key} has shape {tuple(shape)}, no features; allowed: d >= 1 features")


def _check_y(source: str, key: str, shape: tuple, dtype: np.dtype, n: int) -> None:
    """y: one label per row of x."""
    if dtype.kind not in NUMERIC:
        what = "an object array" if dtype.kind == "O" else f"dtype {dtype}"
        raise DataError(f"{source}: {key} has {what}; allowed: integer labels 0..k-1")
    if len(shape) != 1:
        hint = ""
        if len(shape) == 2:
            hint = ("; flatten it with y.ravel()" if shape[1] == 1
                    else "; one-hot rows become labels with y.argmax(axis=1)")
        raise DataError(f"{source}: {key} has shape {tuple(shape)}; allowed: 1-D labels (n,){hint}")
    if shape[0] != n:
        raise DataError(f"{source}: {key} has {shape[0]} labels but x_{key[2:]} has {n} samples; "
                        "allowed: one label per sample")


def _check_features(source: str, train_shape: tuple, test_shape: tuple) -> None:
    if tuple(train_shape[1:]) != tuple(test_shape[1:]):
        def size(shape):
            return f"{shape[1]} features" if len(shape) == 2 else "images of " + "x".join(map(str, shape[1:]))
        raise DataError(f"{source}: x_train has {size(train_shape)} but x_test has {size(test_shape)}; "
                        "train and test must have the same features")


def _labels(source: str, y: np.ndarray, locate) -> np.ndarray:
    """y as int64 labels >= 0; `locate(i)` names the place of label i in the file."""
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = "empty or NaN" if np.isnan(y[i]) else repr(float(y[i]))
            raise DataError(f"{source}: {locate(i)} is {value}, not an integer; the labels must be "
                            "integers 0..k-1")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise DataError(f"{source}: {locate(i)} is {y[i]}, a negative label; the labels must be integers 0..k-1")
    return y


def _check_label_range(source: str, y_train: np.ndarray, y_test: np.ndarray) -> None:
    """The labels of both splits together are exactly 0..k-1."""
    present = np.union1d(y_train, y_test)
    k = int(present[-1]) + 1
    if len(present) == k:
        return
    gaps, expected = [], 0
    for value in present.tolist():
        gaps.extend(range(expected, min(value, expected + 10)))
        expected = value + 1
        if len(gaps) >= 10:
            break
    raise DataError(f"{source}: the labels are {_few(present.tolist())}, so {_few(gaps)} "
                    f"{'is' if len(gaps) == 1 else 'are'} missing; allowed: the labels 0..k-1 with each one "
                    f"present (here 0..{k - 1}, or renumber them: np.unique(y, return_inverse=True)[1])")


def _first_bad(X: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
    """(count, index of the first) of the NaN or inf entries of X, or None when all are finite."""
    if X.dtype.kind != "f":
        return None
    finite = np.isfinite(X)
    if finite.all():
        return None
    return int(finite.size - np.count_nonzero(finite)), tuple(int(i) for i in np.argwhere(~finite)[0])


# --- splits, caps, scaling: the same for both formats ---------------------------------------

def _scale(kind: str, X_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Every array shifted and divided by the training split's per-feature statistics."""
    if kind == "none":
        return [X_train, *others]
    if kind == "standard":
        shift, spread = X_train.mean(axis=0), X_train.std(axis=0)
    else:  # minmax
        shift = X_train.min(axis=0)
        spread = X_train.max(axis=0) - shift
    spread = np.where(spread > 0, spread, 1.0)  # a constant feature is only shifted
    return [(X - shift) / spread for X in (X_train, *others)]


def _dataset(name: str, source: str, opts: dict, seed: int, X_tr: np.ndarray, y_tr: np.ndarray,
             X_te: np.ndarray, y_te: np.ndarray) -> Dataset:
    """Class subset, seeded caps, stratified validation split and scaling, as the MNIST loaders do."""
    (rows_tr, rows_te), (lab_tr, lab_te), names = select_classes(opts["classes"], y_tr, y_te)
    _check_subset(source, names, lab_tr, lab_te)
    rng_train, rng_test, rng_val = generators(seed, 3)
    pick_tr = rng_train.permutation(len(rows_tr))[:opts["max_train"]]  # first N after a seeded shuffle
    pick_te = rng_test.permutation(len(rows_te))[:opts["max_test"]]
    rows_tr, lab_tr, rows_te, lab_te = rows_tr[pick_tr], lab_tr[pick_tr], rows_te[pick_te], lab_te[pick_te]
    keep, held = stratified_split(lab_tr, opts["val_frac"], rng_val)
    if len(keep) == 0:
        raise DataError(f"{source}: dataset.val_frac={opts['val_frac']} holds out all {len(lab_tr)} training "
                        "samples; allowed: a val_frac that leaves at least one (e.g. 0)")
    features_tr = X_tr[rows_tr].astype(np.float64)
    X_train, X_val, X_test = _scale(opts["scale"], features_tr[keep], features_tr[held],
                                    X_te[rows_te].astype(np.float64))
    return Dataset(name=name, X_train=X_train, X_val=X_val, X_test=X_test,
                   y_train=lab_tr[keep], y_val=lab_tr[held], y_test=lab_te,
                   n_classes=len(names), class_names=names, source=source)


def _check_subset(source: str, names: tuple[str, ...], lab_tr: np.ndarray, lab_te: np.ndarray) -> None:
    """Each class kept has training samples, and the test set is not empty."""
    counts = np.bincount(lab_tr, minlength=len(names))
    absent = [names[c] for c in np.flatnonzero(counts == 0)]
    if absent:
        raise DataError(f"{source}: label {_few(absent)} {'is' if len(absent) == 1 else 'are'} in the test "
                        "split but not in the training split; every class needs training samples "
                        "(or leave it out with dataset.classes)")
    if len(lab_te) == 0:
        raise DataError(f"{source}: no test samples of the classes {', '.join(names)}; the test split must "
                        "not be empty")


# --- npz -----------------------------------------------------------------------------------

def _open_npz(path: Path):
    """The open NpzFile, with the four arrays present."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from e
    if magic == b"\x93NUMPY":
        try:
            shape = f" of shape {np.load(path, mmap_mode='r', allow_pickle=False).shape}"
        except (ValueError, OSError):
            shape = ""
        raise DataError(f"{path}: a .npy file holding one array{shape}; allowed: an .npz file "
                        f"holding x_train, y_train, x_test, y_test, written with {SAVEZ}")
    if magic[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise DataError(f"{path}: not an .npz file (an .npz is a zip archive of .npy arrays); "
                        f"write one with {SAVEZ}")
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: not an .npz file, or a damaged one ({why}); write one with {SAVEZ}") from e
    missing = [k for k in NPZ_KEYS if k not in f.files]
    if missing:
        f.close()
        case = " (names are case-sensitive)" if any(k.lower() in NPZ_KEYS for k in f.files) else ""
        raise DataError(f"{path}: no array {', '.join(missing)}; the file holds {_few(f.files) or 'no arrays'}; "
                        f"allowed: an .npz holding {', '.join(NPZ_KEYS)}{case}")
    return f


def _npz_array(path: Path, f, key: str) -> np.ndarray:
    try:
        return f[key]
    except ValueError as e:  # object arrays are pickles
        if "allow_pickle" in str(e):
            raise DataError(f"{path}: {key} is an object array (Python objects, never unpickled); allowed: "
                            "a float or integer array, e.g. np.asarray(x, dtype=float)") from e
        raise DataError(f"{path}: {key} cannot be read ({str(e).splitlines()[0]})") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: {key} cannot be read, the file is damaged ({str(e).splitlines()[0]})") from e


def _npz_header(path: Path, f, key: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of one array from its .npy header, without reading the data."""
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    try:
        with f.zip.open(f"{key}.npy") as member:
            shape, _, dtype = readers[fmt.read_magic(member)](member)
        return shape, dtype
    except Exception:  # an unusual member: read it, and say why if that fails too
        array = _npz_array(path, f, key)
        return array.shape, array.dtype


def _npz_labels(path: Path, f, shapes: dict) -> tuple[np.ndarray, np.ndarray]:
    """y_train and y_test, checked: whole numbers >= 0 whose union is 0..k-1."""
    ys = []
    for key in ("y_train", "y_test"):
        x_shape = shapes[f"x{key[1:]}"]
        y = _npz_array(path, f, key)
        _check_y(str(path), key, y.shape, y.dtype, x_shape[0])
        ys.append(_labels(str(path), y, lambda i, key=key: f"{key}[{i}]"))
    _check_label_range(str(path), *ys)
    return ys[0], ys[1]


def _check_npz_headers(path: Path, f) -> dict:
    """Shapes and dtypes of x_train and x_test from their headers; returns {key: shape}."""
    shapes = {}
    for key in ("x_train", "x_test"):
        shape, dtype = _npz_header(path, f, key)
        _check_x(str(path), key, shape, dtype)
        shapes[key] = shape
    _check_features(str(path), shapes["x_train"], shapes["x_test"])
    return shapes


def _check_npz_arrays(path: Path, X: dict) -> None:
    """The arrays read agree with their headers and are finite."""
    for key, array in X.items():
        _check_x(str(path), key, array.shape, array.dtype)
        bad = _first_bad(array)
        if bad is not None:
            count, index = bad
            raise DataError(f"{path}: {key}[{', '.join(map(str, index))}] is {array[index]} ({count} NaN or inf "
                            f"value{'s' if count > 1 else ''} in {key}); the features must be finite numbers")


def load_npz(cfg, seed: int) -> Dataset:
    """Your own arrays from an .npz file: x_train, y_train, x_test, y_test (see the module docstring)."""
    opts, path = _npz_options(cfg)
    seed = data_seed(opts, seed)
    with _open_npz(path) as f:
        _check_npz_headers(path, f)
        X = {key: _npz_array(path, f, key) for key in ("x_train", "x_test")}
        shapes = {key: X[key].shape for key in X}
        _check_npz_arrays(path, X)
        y_tr, y_te = _npz_labels(path, f, shapes)
    X_tr, X_te = (X[key].reshape(len(X[key]), -1) for key in ("x_train", "x_test"))  # (n, h, w) → (n, h·w)
    return _dataset(f"npz:{path.stem}", str(path), opts, seed, X_tr, y_tr, X_te, y_te)


def check_npz(cfg) -> Path:
    """Pre-flight for npz: options, the file, its four arrays' shapes and dtypes, and the labels."""
    opts, path = _npz_options(cfg)
    with _open_npz(path) as f:
        shapes = _check_npz_headers(path, f)
        y_tr, y_te = _npz_labels(path, f, shapes)
    (_, _), (lab_tr, lab_te), names = select_classes(opts["classes"], y_tr, y_te)
    _check_subset(str(path), names, lab_tr, lab_te)
    return path.parent


# --- csv -----------------------------------------------------------------------------------

def _read_csv(path: Path, header_only: bool = False):
    """The table (pandas DataFrame) of one CSV file with a header row."""
    import pandas as pd

    try:
        return pd.read_csv(path, nrows=0 if header_only else None)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path}: empty file; allowed: a header row naming the columns, then one row per "
                        "sample") from e
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: not a valid CSV table ({str(e).strip().splitlines()[0]})") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file (not valid UTF-8: {e.reason}); allowed: a UTF-8 CSV "
                        "table") from e
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from e


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_columns(path: Path, table, label: str) -> list[str]:
    """The feature columns (all but the label column), after checking the header."""
    columns = [str(c) for c in table.columns]
    if label not in columns:
        hint = ("; the first row looks like data: the file needs a header row naming the columns"
                if all(_is_number(c) for c in columns) else "; set dataset.label_column=NAME")
        raise DataError(f"{path}: no column {label!r}; the columns are {_few(columns)}{hint}")
    features = [c for c in columns if c != label]
    if not features:
        raise DataError(f"{path}: only the label column {label!r}; allowed: a table with feature columns too")
    return features


def _check_csv_columns(train: Path, test: Path, features_tr: list[str], features_te: list[str]) -> None:
    if len(features_tr) != len(features_te):
        raise DataError(f"{train} has {len(features_tr)} feature columns but {test} has {len(features_te)}; "
                        "train and test must have the same features")
    if set(features_tr) != set(features_te):
        only_tr = [c for c in features_tr if c not in features_te]
        only_te = [c for c in features_te if c not in features_tr]
        raise DataError(f"{test}: feature columns {_few(only_te)} are not in {train}, which has {_few(only_tr)} "
                        "instead; train and test must have the same column names")


def _csv_numbers(path: Path, table, column: str, what: str = "a number") -> np.ndarray:
    """One column as numbers; a cell that is not one raises DataError naming its row and column."""
    import pandas as pd

    values = table[column]
    if values.dtype.kind in NUMERIC:
        return values.to_numpy()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: data row {i + 1}, column {column!r}: {values.iloc[i]!r} is not {what} "
                        "(rows counted from 1 after the header)")
    return numbers.to_numpy()


def _read_csv_split(path: Path, label: str,
                    order: list[str] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(feature columns, X (n, d) float64, y int64) of one CSV file; `order` sorts the features like train."""
    table = _read_csv(path)
    features = _csv_columns(path, table, label)
    features = order or features
    if len(table) == 0:
        raise DataError(f"{path}: a header but no rows; each split needs at least one sample")
    X = np.empty((len(table), len(features)), dtype=np.float64)
    for j, column in enumerate(features):
        X[:, j] = _csv_numbers(path, table, column)
    bad = _first_bad(X)
    if bad is not None:
        count, (row, col) = bad
        value = "empty or NaN" if np.isnan(X[row, col]) else str(X[row, col])
        raise DataError(f"{path}: data row {row + 1}, column {features[col]!r} is {value} ({count} NaN, inf or "
                        "empty cells in all; rows counted from 1 after the header); the features must be "
                        "finite numbers")
    y = _csv_numbers(path, table, label, "an integer label 0..k-1")
    y = _labels(str(path), y, lambda i: f"data row {i + 1}, column {label!r}")
    return features, X, y


def load_csv(cfg, seed: int) -> Dataset:
    """Your own table: train and test CSV files with a header, a label column and numeric features."""
    opts, train, test = _csv_options(cfg)
    seed = data_seed(opts, seed)
    label = opts["label_column"]
    features, X_tr, y_tr = _read_csv_split(train, label)
    _check_csv_columns(train, test, features, _csv_columns(test, _read_csv(test, header_only=True), label))
    _, X_te, y_te = _read_csv_split(test, label, order=features)
    source = f"{train}, {test}"
    _check_label_range(source, y_tr, y_te)
    return _dataset(f"csv:{train.stem}", source, opts, seed, X_tr, y_tr, X_te, y_te)


def check_csv(cfg) -> Path:
    """Pre-flight for csv: options, both files, and their header rows (label column, same features)."""
    opts, train, test = _csv_options(cfg)
    label = opts["label_column"]
    features_tr = _csv_columns(train, _read_csv(train, header_only=True), label)
    features_te = _csv_columns(test, _read_csv(test, header_only=True), label)
    _check_csv_columns(train, test, features_tr, features_te)
    return train.parent
