"""Your own data (dataset=npz, dataset=csv): a worked example, splits and scaling, reproducibility,
one short training through the CLI, and the bad-input table (one line, exit 2, the problem named).

The worked example is scikit-learn's 8×8 digits saved the way a user would save their own arrays:
images (n, 8, 8) in an .npz, and the same numbers as two CSV tables.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import all_runs
from nnexp.data import check_available, load_dataset
from nnexp.errors import ConfigError, DataError, NnexpError

CONF = Path(__file__).resolve().parent.parent / "conf" / "dataset"
N_TRAIN = 1400  # digits 0..1399 train, 1400..1796 test


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


@pytest.fixture
def mydata(tmp_path, digits):
    """mydata.npz as a user makes it: images (n, 8, 8) as float, labels 0..9 as int."""
    x_train, y_train, x_test, y_test = digits
    path = tmp_path / "mydata.npz"
    np.savez(path, x_train=x_train.reshape(-1, 8, 8), y_train=y_train, x_test=x_test.reshape(-1, 8, 8), y_test=y_test)
    return path


@pytest.fixture
def mycsv(tmp_path, digits):
    """train.csv (label last) and test.csv (label first, feature columns in another order)."""
    import pandas as pd

    x_train, y_train, x_test, y_test = digits
    names = [f"px{i}" for i in range(64)]
    train = pd.DataFrame(x_train, columns=names).assign(label=y_train)
    test = pd.DataFrame(x_test, columns=names)[names[::-1]]
    test.insert(0, "label", y_test)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    return tmp_path / "train.csv", tmp_path / "test.csv"


def npz_cfg(path, **options):
    return {"name": "npz", "path": str(path), **options}


def csv_cfg(paths, **options):
    return {"name": "csv", "train": str(paths[0]), "test": str(paths[1]), **options}


def assert_same(a, b):
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(a, f"X_{split}"), getattr(b, f"X_{split}"))
        assert np.array_equal(getattr(a, f"y_{split}"), getattr(b, f"y_{split}"))


def rows(X, y):
    """The (features, label) rows as a sorted array: the samples, whatever their order."""
    table = np.column_stack([X, y])
    return table[np.lexsort(table.T[::-1])]


# --- the worked example --------------------------------------------------------------------

def test_npz_worked_example(mydata, digits):
    x_train, y_train, x_test, y_test = digits
    assert check_available(npz_cfg(mydata)) == mydata.parent
    ds = load_dataset(npz_cfg(mydata), 0)
    assert ds.name == "npz:mydata" and ds.source == str(mydata.resolve())
    assert ds.describe() == f"npz:mydata: 1260/140/397 train/val/test, 64 features, 10 classes, from {ds.source}"
    assert (ds.X_train.shape, ds.X_val.shape, ds.X_test.shape) == ((1260, 64), (140, 64), (397, 64))
    assert ds.class_names == tuple(str(c) for c in range(10))
    # the samples are the file's, flattened row by row; val is 10 % of each class of the train part
    np.testing.assert_array_equal(rows(np.concatenate([ds.X_train, ds.X_val]), np.concatenate([ds.y_train, ds.y_val])),
                                  rows(x_train, y_train))
    np.testing.assert_array_equal(rows(ds.X_test, ds.y_test), rows(x_test, y_test))
    expected_val = np.floor(np.bincount(y_train) * 0.1 + 0.5)
    np.testing.assert_array_equal(np.bincount(ds.y_val, minlength=10), expected_val)
    assert set(np.unique(ds.y_train)) == set(range(10)) and ds.X_train.dtype == np.float64


def test_csv_gives_the_same_arrays_as_npz(mydata, mycsv):
    """Columns are matched by name (test.csv has them reversed, the label first)."""
    assert check_available(csv_cfg(mycsv)) == mycsv[0].parent
    for options in ({}, {"classes": [8, 3], "max_train": 100, "max_test": 30, "scale": "standard"},
                    {"scale": "minmax", "val_frac": 0}):
        a, b = load_dataset(npz_cfg(mydata, **options), 5), load_dataset(csv_cfg(mycsv, **options), 5)
        assert_same(a, b)
        assert a.class_names == b.class_names
    ds = load_dataset(csv_cfg(mycsv), 0)
    assert ds.name == "csv:train" and ds.source == f"{mycsv[0].resolve()}, {mycsv[1].resolve()}"


def test_same_config_and_seed_give_bit_identical_arrays(mydata):
    cfg = npz_cfg(mydata, max_train=500, max_test=100, scale="standard")
    a = load_dataset(cfg, 3)
    assert_same(a, load_dataset(cfg, 3))
    assert_same(a, load_dataset(OmegaConf.create(cfg), 3))  # as Hydra passes it
    assert not np.array_equal(a.y_train, load_dataset(cfg, 4).y_train)
    fixed = {**cfg, "seed": 7}
    assert_same(load_dataset(fixed, 1), load_dataset(fixed, 2))  # dataset.seed overrides the run seed


def test_classes_caps_and_empty_val(mydata):
    ds = load_dataset(npz_cfg(mydata, classes=[8, 3], max_train=100, max_test=30, val_frac=0), 0)
    assert ds.class_names == ("8", "3") and ds.n_classes == 2
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (100, 0, 30)
    assert set(np.unique(ds.y_train)) == {0, 1}


def test_scaling_uses_the_training_split_only(mydata, digits):
    plain = load_dataset(npz_cfg(mydata), 0)
    std = load_dataset(npz_cfg(mydata, scale="standard"), 0)
    mean, spread = plain.X_train.mean(axis=0), plain.X_train.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)  # digits have always-blank corner pixels
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(getattr(std, f"X_{split}"), (getattr(plain, f"X_{split}") - mean) / spread)
    varying = plain.X_train.std(axis=0) > 0
    np.testing.assert_allclose(std.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(std.X_train.std(axis=0)[varying], 1)
    mm = load_dataset(npz_cfg(mydata, scale="minmax"), 0)
    assert mm.X_train.min() == 0 and mm.X_train.max() == 1
    low, high = plain.X_train.min(axis=0), plain.X_train.max(axis=0)
    np.testing.assert_allclose(mm.X_test, (plain.X_test - low) / np.where(high > low, high - low, 1.0))


def test_integer_bool_and_whole_float_arrays_are_accepted(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ints.npz"
    np.savez(path, x_train=rng.integers(0, 256, (30, 5), dtype=np.uint8), y_train=(np.arange(30) % 2).astype(float),
             x_test=rng.integers(0, 2, (10, 5)).astype(bool), y_test=(np.arange(10) % 2).astype(bool))
    ds = load_dataset(npz_cfg(path), 0)
    assert ds.n_features == 5 and ds.n_classes == 2 and ds.y_test.dtype == np.int64


def test_the_preflight_reads_headers_not_data(tmp_path):
    """check_available validates shapes, dtypes and labels from the .npy headers and the labels;
    NaN in x is only found when the data are loaded."""
    path = tmp_path / "nan.npz"
    x = np.ones((20, 3))
    x[4, 2] = np.nan
    np.savez(path, x_train=x, y_train=np.arange(20) % 2, x_test=np.ones((6, 3)), y_test=np.arange(6) % 2)
    assert check_available(npz_cfg(path)) == tmp_path
    with pytest.raises(DataError, match=r"x_train\[4, 2\] is nan \(1 NaN or inf value in x_train\)"):
        load_dataset(npz_cfg(path), 0)


def test_compressed_npz_is_read(tmp_path, digits):
    x_train, y_train, x_test, y_test = digits
    path = tmp_path / "small.npz"
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, notes=np.array([1]))
    assert check_available(npz_cfg(path)) == tmp_path
    assert load_dataset(npz_cfg(path), 0).n_features == 64  # extra arrays are ignored


@pytest.mark.parametrize("stem", ["npz", "csv"])
def test_yaml_defaults_load_through_omegaconf(stem, mydata, mycsv):
    cfg = OmegaConf.load(CONF / f"{stem}.yaml")
    OmegaConf.set_struct(cfg, True)  # as Hydra composes it
    assert cfg.name == stem and cfg.scale == "none" and cfg.seed is None
    if stem == "npz":
        cfg.path = str(mydata)
    else:
        cfg.train, cfg.test = str(mycsv[0]), str(mycsv[1])
    ds = load_dataset(cfg, 0)
    assert ds.name.startswith(f"{stem}:") and ds.n_features == 64


# --- end to end through the CLI ------------------------------------------------------------

def _acc(stdout):
    return float(re.search(r"test/acc (\d\.\d+)", stdout).group(1))


@pytest.mark.slow
def test_train_on_your_own_npz(cli, mydata):
    proc = cli("dataset=npz", f"dataset.path={mydata}", "dataset.scale=minmax", "tracking=none", "trainer.epochs=2")
    assert proc.returncode == 0, proc.stderr
    assert f"npz:mydata: 1260/140/397 train/val/test, 64 features, 10 classes, from {mydata.resolve()}" in proc.stdout
    assert _acc(proc.stdout) > 0.3  # chance is 0.1


@pytest.mark.slow
def test_train_on_your_own_csv_records_the_files(cli, mycsv):
    proc = cli("dataset=csv", "dataset.train=train.csv", "dataset.test=test.csv", "dataset.classes=[3,8]",
               "trainer.epochs=2", "tracking.log_artifacts=false")  # relative to the working directory
    assert proc.returncode == 0, proc.stderr
    assert _acc(proc.stdout) > 0.75  # chance is 0.5
    (run,) = all_runs(cli.uri)
    assert run.data.params["dataset.train"] == "train.csv" and run.data.tags["dataset"] == "csv"
    assert f"from {mycsv[0].resolve()}, {mycsv[1].resolve()}" in proc.stdout


# --- bad input -------------------------------------------------------------------------------

def base_arrays(n_train=40, n_test=20, d=3, k=2):
    rng = np.random.default_rng(0)
    return {"x_train": rng.normal(size=(n_train, d)), "y_train": np.arange(n_train) % k,
            "x_test": rng.normal(size=(n_test, d)), "y_test": np.arange(n_test) % k}


def npz_with(**changes):
    """A writer of <tmp>/bad.npz: the base arrays with some replaced (None removes one)."""
    def write(tmp):
        arrays = {**base_arrays(), **changes}
        np.savez(tmp / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    return write


def with_value(key, index, value, dtype=None):
    a = base_arrays()[key].astype(dtype or float)
    a[index] = value
    return a


def obj_array():
    a = np.empty((40, 3), dtype=object)
    a[:] = 1.0
    return a


def _write(path, content):
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)


def raw(name, content):
    return lambda tmp: _write(tmp / name, content)


def csv_pair(train, test="label,a,b\n0,1,2\n1,3,4\n"):
    def write(tmp):
        _write(tmp / "train.csv", train)
        _write(tmp / "test.csv", test)
    return write


def npy_named_npz(tmp):
    np.save(tmp / "bad.npy", np.zeros((3, 2)))
    (tmp / "bad.npy").rename(tmp / "bad.npz")


def truncated_npz(tmp):
    npz_with()(tmp)
    data = (tmp / "bad.npz").read_bytes()
    (tmp / "bad.npz").write_bytes(data[: len(data) // 2])


def directory(tmp):
    (tmp / "bad.npz").mkdir()


GOOD_CSV = "label,a,b\n0,1,2\n1,3,4\n0,5,6\n1,7,8\n"
NPZ = {"name": "npz", "path": "<tmp>/bad.npz"}
CSV = {"name": "csv", "train": "<tmp>/train.csv", "test": "<tmp>/test.csv"}
# (id, writer of the files into <tmp>, dataset options, error class, words the one line must hold)
BAD = [
    ("npz: no path", None, {"name": "npz"}, ConfigError,
     "dataset.path: None is not allowed; allowed: the path of an .npz file, e.g. dataset.path=mydata.npz"),
    ("npz: no such file", None, NPZ, DataError, "dataset.path=<tmp>/bad.npz: no such file"),
    ("npz: a directory", directory, NPZ, DataError, "dataset.path=<tmp>/bad.npz: is a directory"),
    ("npz: text file", raw("bad.npz", "x,y\n1,2\n"), NPZ, DataError,
     "<tmp>/bad.npz: not an .npz file (an .npz is a zip archive of .npy arrays); write one with np.savez(path, "),
    ("npz: truncated", truncated_npz, NPZ, DataError, "<tmp>/bad.npz: not an .npz file, or a damaged one"),
    ("npz: a .npy file", npy_named_npz, NPZ, DataError, "<tmp>/bad.npz: a .npy file holding one array of shape (3, 2)"),
    ("npz: missing key", npz_with(y_test=None), NPZ, DataError,
     "no array y_test; the file holds x_train, y_train, x_test; allowed: an .npz holding x_train, y_train, x_test, y_test"),
    ("npz: capitalised keys", lambda tmp: np.savez(tmp / "bad.npz", X_train=np.ones((2, 2)), y_train=[0, 1],
                                                    X_test=np.ones((2, 2)), y_test=[0, 1]),
     NPZ, DataError, "no array x_train, x_test; the file holds X_train, y_train, X_test, y_test; allowed: "
                     "an .npz holding x_train, y_train, x_test, y_test (names are case-sensitive)"),
    ("npz: x 1-D", npz_with(x_train=np.ones(40)), NPZ, DataError,
     "x_train has shape (40,); allowed: (n, d) features or (n, h, w) images; one feature per sample is x.reshape(-1, 1)"),
    ("npz: x 4-D", npz_with(x_train=np.ones((40, 2, 2, 2))), NPZ, DataError, "x_train has shape (40, 2, 2, 2); allowed:"),
    ("npz: no features", npz_with(x_train=np.ones((40, 0)), x_test=np.ones((20, 0))), NPZ, DataError,
     "x_train has shape (40, 0), no features"),
    ("npz: one-hot labels", npz_with(y_train=np.eye(2)[np.arange(40) % 2]), NPZ, DataError,
     "y_train has shape (40, 2); allowed: 1-D labels (n,); one-hot rows become labels with y.argmax(axis=1)"),
    ("npz: column of labels", npz_with(y_test=(np.arange(20) % 2)[:, None]), NPZ, DataError,
     "y_test has shape (20, 1); allowed: 1-D labels (n,); flatten it with y.ravel()"),
    ("npz: label count", npz_with(y_train=np.arange(39) % 2), NPZ, DataError,
     "y_train has 39 labels but x_train has 40 samples"),
    ("npz: feature count", npz_with(x_test=np.ones((20, 4))), NPZ, DataError,
     "x_train has 3 features but x_test has 4 features; train and test must have the same features"),
    ("npz: image size", npz_with(x_train=np.ones((40, 8, 8)), x_test=np.ones((20, 9, 9))), NPZ, DataError,
     "x_train has images of 8x8 but x_test has images of 9x9"),
    ("npz: string features", npz_with(x_train=np.full((40, 3), "a")), NPZ, DataError,
     "x_train has dtype <U1; allowed: a float or integer array"),
    ("npz: object features", npz_with(x_train=obj_array()), NPZ, DataError,
     "x_train is an object array (Python objects, never unpickled)"),
    ("npz: complex features", npz_with(x_test=np.ones((20, 3), complex)), NPZ, DataError, "x_test has dtype complex128"),
    ("npz: NaN", npz_with(x_train=with_value("x_train", (3, 1), np.nan)), NPZ, DataError,
     "x_train[3, 1] is nan (1 NaN or inf value in x_train); the features must be finite numbers"),
    ("npz: inf", npz_with(x_test=with_value("x_test", (slice(0, 2), 0), np.inf)), NPZ, DataError,
     "x_test[0, 0] is inf (2 NaN or inf values in x_test)"),
    ("npz: fractional label", npz_with(y_train=with_value("y_train", 5, 0.5)), NPZ, DataError,
     "y_train[5] is 0.5, not an integer; the labels must be integers 0..k-1"),
    ("npz: NaN label", npz_with(y_test=with_value("y_test", 2, np.nan)), NPZ, DataError,
     "y_test[2] is empty or NaN, not an integer"),
    ("npz: negative label", npz_with(y_test=with_value("y_test", 7, -1, int)), NPZ, DataError,
     "y_test[7] is -1, a negative label; the labels must be integers 0..k-1"),
    ("npz: string labels", npz_with(y_train=np.array(["cat", "dog"] * 20)), NPZ, DataError,
     "y_train has dtype <U3; allowed: integer labels 0..k-1"),
    ("npz: label gap", npz_with(y_train=np.arange(40) % 2 * 2, y_test=np.arange(20) % 2 * 3), NPZ, DataError,
     "the labels are 0, 2, 3, so 1 is missing; allowed: the labels 0..k-1 with each one present (here 0..3"),
    ("npz: class only in test", npz_with(y_test=np.arange(20) % 3), NPZ, DataError,
     "label 2 is in the test split but not in the training split"),
    ("npz: empty train", npz_with(x_train=np.ones((0, 3)), y_train=np.ones(0, int)), NPZ, DataError,
     "x_train is empty (shape (0, 3)); each split needs at least one sample"),
    ("npz: empty test", npz_with(x_test=np.ones((0, 3)), y_test=np.ones(0, int)), NPZ, DataError, "x_test is empty"),
    ("npz: no test sample of the classes", npz_with(y_test=np.zeros(20, int)), {**NPZ, "classes": [1]}, DataError,
     "no test samples of the classes 1; the test split must not be empty"),
    ("npz: absent class", npz_with(), {**NPZ, "classes": [0, 5]}, ConfigError,
     "dataset.classes: [5] not in the data; labels present: 0, 1"),
    ("npz: val takes everything", npz_with(x_train=np.ones((2, 3)), y_train=np.array([0, 1])),
     {**NPZ, "val_frac": 0.5}, DataError, "dataset.val_frac=0.5 holds out all 2 training samples"),
    ("npz: scale", npz_with(), {**NPZ, "scale": "zscore"}, ConfigError,
     "dataset.scale: 'zscore' is not allowed; allowed: none, standard, minmax"),
    ("npz: max_train", npz_with(), {**NPZ, "max_train": 0}, ConfigError, "dataset.max_train: 0 is not allowed"),
    ("csv: no train", None, {"name": "csv", "test": "<tmp>/test.csv"}, ConfigError,
     "dataset.train: None is not allowed; allowed: the path of a CSV file, e.g. dataset.train=train.csv"),
    ("csv: no such test file", csv_pair(GOOD_CSV), {**CSV, "test": "<tmp>/nothere.csv"}, DataError,
     "dataset.test=<tmp>/nothere.csv: no such file"),
    ("csv: no label column", csv_pair("a,b,target\n1,2,0\n"), CSV, DataError,
     "<tmp>/train.csv: no column 'label'; the columns are a, b, target; set dataset.label_column=NAME"),
    ("csv: no header", csv_pair("1,2,0\n3,4,1\n"), CSV, DataError,
     "no column 'label'; the columns are 1, 2, 0; the first row looks like data: the file needs a header row"),
    ("csv: only labels", csv_pair("label\n0\n1\n"), CSV, DataError, "only the label column 'label'"),
    ("csv: text in a cell", csv_pair("label,a,b\n0,1,2\n1,3,4\n0,abc,6\n"), CSV, DataError,
     "<tmp>/train.csv: data row 3, column 'a': 'abc' is not a number (rows counted from 1 after the header)"),
    ("csv: empty cell", csv_pair("label,a,b\n0,1,2\n1,,4\n"), CSV, DataError,
     "<tmp>/train.csv: data row 2, column 'a' is empty or NaN"),
    ("csv: inf cell", csv_pair(GOOD_CSV, "label,a,b\n0,1,inf\n1,3,4\n"), CSV, DataError,
     "<tmp>/test.csv: data row 1, column 'b' is inf"),
    ("csv: word label", csv_pair("label,a,b\ncat,1,2\ndog,3,4\n"), CSV, DataError,
     "data row 1, column 'label': 'cat' is not an integer label 0..k-1"),
    ("csv: fractional label", csv_pair("label,a,b\n0,1,2\n1.5,3,4\n"), CSV, DataError,
     "data row 2, column 'label' is 1.5, not an integer"),
    ("csv: negative label", csv_pair(GOOD_CSV, "label,a,b\n0,1,2\n-1,3,4\n"), CSV, DataError,
     "<tmp>/test.csv: data row 2, column 'label' is -1, a negative label"),
    ("csv: label gap", csv_pair("label,a,b\n0,1,2\n2,3,4\n", "label,a,b\n0,1,2\n2,3,4\n"), CSV, DataError,
     "the labels are 0, 2, so 1 is missing"),
    ("csv: feature count", csv_pair(GOOD_CSV, "label,a,b,c\n0,1,2,3\n"), CSV, DataError,
     "<tmp>/train.csv has 2 feature columns but <tmp>/test.csv has 3"),
    ("csv: feature names", csv_pair(GOOD_CSV, "label,a,c\n0,1,2\n"), CSV, DataError,
     "<tmp>/test.csv: feature columns c are not in <tmp>/train.csv, which has b instead"),
    ("csv: empty file", csv_pair(""), CSV, DataError, "<tmp>/train.csv: empty file"),
    ("csv: header only", csv_pair(GOOD_CSV, "label,a,b\n"), CSV, DataError,
     "<tmp>/test.csv: a header but no rows"),
    ("csv: ragged row", csv_pair("label,a,b\n0,1,2\n1,3,4,5\n"), CSV, DataError,
     "<tmp>/train.csv: not a valid CSV table (Error tokenizing data. C error: Expected 3 fields in line 3, saw 4"),
    ("csv: binary file", csv_pair(b"label,a,b\n0,\xff\xfe,1\n"), CSV, DataError,
     "<tmp>/train.csv: not a text file (not valid UTF-8: invalid start byte); allowed: a UTF-8 CSV table"),
    ("csv: label column option", csv_pair(GOOD_CSV), {**CSV, "label_column": ""}, ConfigError,
     "dataset.label_column: '' is not allowed"),
    ("csv: other label column", csv_pair(GOOD_CSV), {**CSV, "label_column": "y"}, DataError,
     "no column 'y'; the columns are label, a, b"),
]
PREFLIGHT_MISSES = {"npz: NaN", "npz: inf", "npz: val takes everything",  # need the data, found when loading
                    "csv: text in a cell", "csv: empty cell", "csv: inf cell", "csv: word label",
                    "csv: fractional label", "csv: negative label", "csv: label gap", "csv: header only",
                    "csv: ragged row", "csv: binary file"}


def test_the_table_is_complete():
    assert len(BAD) >= 40 and len({case[0] for case in BAD}) == len(BAD)
    assert PREFLIGHT_MISSES <= {case[0] for case in BAD}


def _prepare(tmp_path, writer, options):
    if writer is not None:
        writer(tmp_path)
    return {k: v.replace("<tmp>", str(tmp_path)) if isinstance(v, str) else v for k, v in options.items()}


@pytest.mark.parametrize("name,writer,options,error,expected", BAD, ids=[c[0] for c in BAD])
def test_bad_input_in_process(tmp_path, name, writer, options, error, expected):
    """load_dataset raises the error; the pre-flight raises it too unless it needs the data."""
    cfg = _prepare(tmp_path, writer, options)
    expected = expected.replace("<tmp>", str(tmp_path))
    calls = [lambda: load_dataset(cfg, 0)] + ([] if name in PREFLIGHT_MISSES else [lambda: check_available(cfg)])
    for call in calls:
        with pytest.raises(error) as info:
            call()
        assert expected in str(info.value) and "\n" not in str(info.value)
    if name in PREFLIGHT_MISSES:
        try:
            check_available(cfg)
        except NnexpError as e:  # the header-only pre-flight may still see it (a ragged or binary file)
            assert expected in str(e)


def _override(key, value):
    if isinstance(value, list):
        return f"dataset.{key}=[{','.join(map(str, value))}]"
    return f"dataset.{key}={'null' if value is None else repr(value) if value == '' else value}"


@pytest.mark.slow
@pytest.mark.parametrize("name,writer,options,error,expected", BAD, ids=[c[0] for c in BAD])
def test_bad_input_on_the_command_line(cli, tmp_path, name, writer, options, error, expected):
    """Exit status 2 and exactly one line on stderr, `nnexp: error: ...`, naming the problem."""
    cfg = _prepare(tmp_path, writer, options)
    args = [f"dataset={cfg['name']}"] + [_override(k, v) for k, v in cfg.items() if k != "name"]
    proc = cli(*args, "tracking=none", "trainer.epochs=1", timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nnexp: error: ") and expected.replace("<tmp>", str(tmp_path)) in lines[0], lines[0]


@pytest.mark.slow
def test_misspelled_option_names_the_key(mydata, cli):
    with pytest.raises(ConfigError, match="dataset.paht: unknown option for dataset 'npz'; allowed: classes"):
        load_dataset({"name": "npz", "paht": str(mydata)}, 0)
    proc = cli("dataset=npz", f"dataset.paht={mydata}", "tracking=none")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("nnexp: error: dataset.paht: unknown key; dataset has:") and "path" in line
