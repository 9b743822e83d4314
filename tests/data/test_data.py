"""Data sets, file formats, splits, standardization, minibatches and every bad-input message."""

import gzip
import struct

import numpy as np
import pytest

import mlp
from mlp.config import DataConfig, resolve
from mlp.data.batching import Minibatches
from mlp.data.datasets import BUILTIN, from_arrays, load_builtin, load_path
from mlp.data.splits import fit_encoding, prepare, split_rows_of
from mlp.data.transform import ScaledRows, Standardizer
from mlp.errors import DataError
from mlp.nn.losses import encode_targets
from mlp.training.experiment import build_experiment

# Figures from the shared data README.
EXPECTED = {
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tabular_builtins(name):
    rows, features, classes = EXPECTED[name]
    data = load_builtin(name)
    assert data.X.shape == (rows, features)
    if classes is None:
        assert data.task == "regression" and data.y.shape == (rows, 1)
    else:
        assert data.task == "classification" and len(data.class_names) == classes
        assert set(np.unique(data.y)) == set(range(classes))


def prepare_split(dataset, rng, validation_split=0.1, test_split=0.2, **options):
    """Split, fit the feature transform on the training rows and apply it, as training does."""
    rows = split_rows_of(dataset, rng, validation_split, test_split)
    return prepare(dataset, rows, fit_encoding(dataset, rows, DataConfig()), **options)


def test_mnist_builtin():
    data = load_builtin("mnist")
    assert data.X.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert list(np.bincount(data.y)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert list(np.bincount(data.y_test)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    splits = prepare_split(data, np.random.default_rng(0), validation_split=0.1)
    assert splits.X_train.dtype == np.float32 and isinstance(splits.X_train, ScaledRows)
    assert splits.X_train.raw.base is splits.X_val.raw.base  # one uint8 array for all training rows
    assert splits.X_train.raw.dtype == np.uint8 and splits.X_train.raw.nbytes == 54001 * 784
    pixels = splits.X_train[:2000]
    assert pixels.dtype == np.float32 and 0.0 == pixels.min() and pixels.max() == 1.0
    assert splits.sizes() == {"train": 54001, "validation": 5999, "test": 10000}
    assert splits.transform.standardizer is None  # images are not standardized by default


def test_builtin_names_and_env_override(tmp_path, monkeypatch):
    with pytest.raises(
        DataError, match="unknown data set .mnsit.; built-in data sets: blobs, breast_cancer, cars, circles, diabetes"
    ):
        load_builtin("mnsit")
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path))
    (tmp_path / "tabular").mkdir()
    (tmp_path / "tabular" / "iris.csv").write_text("a,species\n1,x\n2,y\n")
    assert load_builtin("iris").X.shape == (2, 1)
    files = {"mnist", "digits", "iris", "wine", "breast_cancer", "diabetes", "penguins", "cars"}
    assert set(BUILTIN) == files | {"spirals", "moons", "circles", "xor", "blobs"}


def write(path, text):
    path.write_text(text)
    return path


def test_csv_round_trip_with_string_labels(tmp_path):
    path = write(tmp_path / "d.csv", "a,b,label\n1,2,dog\n3,4.5,cat\n5,6,dog\n")
    data = load_path(path)
    assert data.class_names == ["cat", "dog"]  # sorted
    np.testing.assert_array_equal(data.y, [1, 0, 1])
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4.5], [5, 6]])
    assert data.feature_names == ["a", "b"] and data.task == "classification"


def test_csv_target_column_and_task_inference(tmp_path):
    path = write(tmp_path / "d.csv", "y,a\n1.5,1\n2.25,2\n")
    data = load_path(path, target="y")
    assert data.task == "regression" and data.y.shape == (2, 1)
    data = load_path(write(tmp_path / "e.csv", "a,y\n1,3\n2,7\n"), task="regression")
    assert data.task == "regression"
    np.testing.assert_array_equal(data.y[:, 0], [3, 7])
    assert load_path(tmp_path / "e.csv").task == "classification"  # integers → classes


def test_npz_round_trip(tmp_path, rng):
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 3, 20)
    Xt, yt = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=Xt, y_test=yt)
    data = load_path(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.X_test, Xt)
    assert data.task == "classification"
    np.savez(tmp_path / "r.npz", X=X, y=rng.standard_normal((20, 2)))
    assert load_path(tmp_path / "r.npz").y.shape == (20, 2)
    np.savez_compressed(tmp_path / "c.npz", X=X, y=y)
    np.testing.assert_array_equal(load_path(tmp_path / "c.npz").X, X)


@pytest.mark.parametrize("name", ["bomb.csv.gz", "bomb-images.gz"])
def test_gzip_data_expanding_beyond_the_memory_is_refused_while_decompressing(tmp_path, monkeypatch, name):
    from mlp.io import files

    (tmp_path / name).write_bytes(gzip.compress(b"a,b\n" + b"0,0\n" * 250_000))  # 1 MB from about 1 KB
    monkeypatch.setattr(files, "_physical_memory", lambda: 100_000)
    produced = []
    decompressobj = files.zlib.decompressobj

    class Recording:  # what each decompression call was allowed to produce
        def __init__(self, *args):
            self.inner = decompressobj(*args)

        def decompress(self, data, max_length=0):
            produced.append(max_length)
            return self.inner.decompress(data, max_length)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(files.zlib, "decompressobj", Recording)
    path = tmp_path / name if name.endswith(".csv.gz") else [tmp_path / name, tmp_path / name]
    with pytest.raises(DataError, match=rf"{name}: its gzip data expands to more than this machine's 0.10 MiB"):
        load_path(path)
    assert produced and all(0 < n <= 100_001 for n in produced)


def test_gzip_data_of_several_members_is_read_whole(tmp_path):
    blob = gzip.compress(b"a,b,label\n1,2,x\n") + gzip.compress(b"3,4,y\n") + b"\0" * 8
    (tmp_path / "d.csv.gz").write_bytes(blob)
    data = load_path(tmp_path / "d.csv.gz")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.class_names == ["x", "y"]


def test_an_npz_declaring_more_than_the_memory_is_refused_before_reading(tmp_path, rng, monkeypatch):
    from mlp.io import files

    np.savez_compressed(tmp_path / "d.npz", X=np.zeros((1000, 10)), y=np.zeros(1000, dtype=np.int64))
    monkeypatch.setattr(files, "_physical_memory", lambda: 50_000)  # the arrays declare 88,256 bytes
    monkeypatch.setattr(files.np, "load", lambda *a, **k: pytest.fail("np.load must not be reached"))
    with pytest.raises(
        DataError, match=r"d.npz: its arrays would take 0.08 MiB, more than this machine's 0.05 MiB of memory"
    ):
        load_path(tmp_path / "d.npz")


def idx_bytes(array, type_byte=0x08):
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(">u1").tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, rng, compress):
    images = rng.integers(0, 256, (6, 4, 4)).astype(np.uint8)
    labels = np.array([0, 1, 2, 1, 0, 2], dtype=np.uint8)
    opener = gzip.compress if compress else bytes
    (tmp_path / "img").write_bytes(opener(idx_bytes(images)))
    (tmp_path / "lab").write_bytes(opener(idx_bytes(labels)))
    data = load_path([str(tmp_path / "img"), str(tmp_path / "lab")])
    np.testing.assert_array_equal(data.X, images.reshape(6, 16))
    np.testing.assert_array_equal(data.y, labels)
    assert data.class_names == ["0", "1", "2"]


def test_idx_labels_name_the_classes_present(tmp_path):
    """Classes are the label values that occur (as in CSV and NPZ files), not 0…max: a label of
    2,000,000,000 made 2·10⁹ class names (16 GB) before."""
    (tmp_path / "img").write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8)))
    big = np.array([7, 3, 2_000_000_000], dtype=">i4")
    (tmp_path / "lab").write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">i", 3) + big.tobytes())
    data = load_path([str(tmp_path / "img"), str(tmp_path / "lab")])
    assert data.class_names == ["3", "7", "2000000000"]
    np.testing.assert_array_equal(data.y, [1, 0, 2])


def test_splits_are_stratified_deterministic_and_disjoint():
    data = load_builtin("wine")
    first = prepare_split(data, np.random.default_rng(3), validation_split=0.2, test_split=0.25)
    second = prepare_split(data, np.random.default_rng(3), validation_split=0.2, test_split=0.25)
    np.testing.assert_array_equal(first.X_train, second.X_train)
    np.testing.assert_array_equal(first.test_rows, second.test_rows)
    counts = np.bincount(data.y)
    np.testing.assert_array_equal(np.bincount(first.y_test), np.round(counts * 0.25))
    raw = lambda X: {tuple(np.round(r, 6)) for r in first.transform.standardizer.inverse(X)}
    train, val, test = raw(first.X_train), raw(first.X_val), raw(first.X_test)
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train) + len(val) + len(test) == len(data.y)
    other = prepare_split(data, np.random.default_rng(4), validation_split=0.2, test_split=0.25)
    assert not np.array_equal(other.test_rows, first.test_rows)


def test_zero_splits():
    splits = prepare_split(load_builtin("iris"), np.random.default_rng(0), validation_split=0, test_split=0)
    assert splits.sizes() == {"train": 150, "validation": 0, "test": 0}


def test_standardization_uses_training_rows_only(rng):
    data = load_builtin("diabetes")
    splits = prepare_split(data, np.random.default_rng(0), dtype=np.float64)
    np.testing.assert_allclose(splits.X_train.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(splits.X_train.std(axis=0), 1, rtol=1e-10)
    assert np.any(np.abs(splits.X_test.mean(axis=0)) > 1e-3)  # test rows do not shape the statistics
    train_raw = np.asarray(data.X)[np.isin(np.arange(442), splits.test_rows, invert=True)]
    assert not np.allclose(splits.transform.standardizer.mean, train_raw.mean(axis=0))  # validation rows excluded too
    constant = Standardizer.fit(np.ones((5, 2)))
    np.testing.assert_array_equal(constant.std, [1, 1])


def test_encodings():
    np.testing.assert_array_equal(encode_targets(np.array([1, 0]), 3, "one_hot"), [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(encode_targets(np.array([2]), 3, "plus_minus_one"), [[-1, -1, 1]])


def test_minibatches_cover_each_row_once_in_seeded_order():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    batches = Minibatches(X, y, 4, np.random.default_rng(0))
    assert len(batches) == 3
    order = batches.draw_order()
    seen = [yb.copy() for _, _, yb in batches.batches(order)]
    assert [len(s) for s in seen] == [4, 4, 2]  # the last partial batch is kept
    np.testing.assert_array_equal(np.concatenate(seen), order)
    assert sorted(np.concatenate(seen)) == list(range(10))
    again = Minibatches(X, y, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(again.draw_order(), order)
    assert not np.array_equal(batches.draw_order(), order)  # a fresh permutation each epoch
    x_rows = [xb[:, 0].copy() / 2 for _, xb, _ in Minibatches(X, y, 4, np.random.default_rng(0)).batches(order)]
    np.testing.assert_array_equal(np.concatenate(x_rows), order)


# -------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="data file not found: .*nope.csv"):
        load_path(tmp_path / "nope.csv")


def test_unknown_target_column(tmp_path):
    with pytest.raises(DataError, match="no column 'z'; columns: 'a', 'b'"):
        load_path(write(tmp_path / "d.csv", "a,b\n1,2\n"), target="z")


def fitted(path):
    """Load a CSV file and fit its feature transform, as training does (text cells are judged there)."""
    return prepare_split(load_path(path), np.random.default_rng(0), validation_split=0, test_split=0)


def test_non_numeric_feature(tmp_path):
    with pytest.raises(DataError, match=r"line 3, column 'b': 'x' is not a number"):
        fitted(write(tmp_path / "d.csv", "a,b,y\n1,2,0\n1,x,1\n"))


def test_csv_rows_blank_at_the_end_are_ignored_and_elsewhere_an_error(tmp_path):
    data = load_path(write(tmp_path / "d.csv", 'a,"b\nname",y\n1,2,"two\nlines"\n3,4,x\n\n , \n,,\n'))
    np.testing.assert_array_equal(np.asarray(data.X), [[1, 2], [3, 4]])  # a quoted field may span lines
    assert data.feature_names == ["a", "b\nname"] and data.class_names == ["two\nlines", "x"]
    with pytest.raises(DataError, match=r"d.csv, line 3: 0 fields, but the header has 3"):
        load_path(write(tmp_path / "d.csv", "a,b,y\n1,2,0\n\n3,4,1\n"))
    with pytest.raises(DataError, match=r"d.csv, line 3, column 'a': missing value; set data.missing: impute"):
        fitted(write(tmp_path / "d.csv", "a,b,y\n1,2,0\n,,1\n3,4,1\n"))


def test_a_long_bad_cell_is_quoted_short(tmp_path):
    with pytest.raises(DataError, match=r"line 2, column 'b': 'xxx+\.\.\.x+' is not a number, but 1 of") as caught:
        fitted(write(tmp_path / "d.csv", "a,b,y\n1," + "x" * 5000 + ",0\n1,2,1\n"))
    assert "x" * 100 not in str(caught.value) and len(str(caught.value)) < 300  # the cell is quoted short


def test_a_field_the_csv_module_refuses_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"d.csv, line 3: not readable as CSV \(field larger than field limit"):
        load_path(write(tmp_path / "d.csv", "a,b,y\n1,2,0\n1," + "9" * 200_000 + ",1\n"))


@pytest.mark.parametrize(
    "cell,message", [("nan", "missing value; set data.missing: impute"), ("inf", "inf is not a finite number")]
)
def test_nan_and_inf_in_features(tmp_path, cell, message):
    """``nan`` is a missing cell (one of the markers), ``inf`` an error where the file is read."""
    path = write(tmp_path / "d.csv", f"a,b,y\n1,2,0\n1,{cell},1\n{cell},3,1\n")
    with pytest.raises(DataError, match=rf"d.csv, line 3, column 'b': {message}"):
        fitted(path)


def test_nan_in_targets(tmp_path):
    with pytest.raises(DataError, match=r"column 'y' \(the target\) is missing on 1 row\(s\), line\(s\) 2; fill them"):
        load_path(write(tmp_path / "d.csv", "a,y\n1,nan\n2,1.5\n"))
    with pytest.raises(DataError, match=r"line 3, column 'y': 'inf' is not a finite number"):
        load_path(write(tmp_path / "d.csv", "a,y\n1,0.5\n2,inf\n"))
    np.savez(tmp_path / "d.npz", X=np.ones((2, 2)), y=np.array([1.0, np.inf]))
    with pytest.raises(
        DataError, match=r"d.npz: y: 1 NaN or infinite value\(s\) in the targets; the first is at row 1"
    ):
        load_path(tmp_path / "d.npz")


def test_lengths_differ(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((3, 2)), y=np.array([1, 0]))
    with pytest.raises(DataError, match="X has 3 rows but y has 2"):
        load_path(tmp_path / "d.npz")


def test_bad_idx_magic_and_size(tmp_path, rng):
    images = rng.integers(0, 256, (3, 2, 2)).astype(np.uint8)
    (tmp_path / "bad_magic").write_bytes(b"\x01\x02\x08\x03" + idx_bytes(images)[4:])
    (tmp_path / "labels").write_bytes(idx_bytes(np.array([0, 1, 2], dtype=np.uint8)))
    with pytest.raises(DataError, match="not an IDX file"):
        load_path([str(tmp_path / "bad_magic"), str(tmp_path / "labels")])
    (tmp_path / "short").write_bytes(idx_bytes(images)[:-3])
    with pytest.raises(DataError, match=r"IDX size mismatch: the header says shape \(3, 2, 2\)"):
        load_path([str(tmp_path / "short"), str(tmp_path / "labels")])


def test_truncated_gzip(tmp_path):
    blob = gzip.compress(b"a,b\n" + b"1,2\n" * 1000)
    (tmp_path / "d.csv.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="truncated or corrupt gzip data"):
        load_path(tmp_path / "d.csv.gz")


def test_label_a_loss_cannot_take():
    from mlp.nn.losses import get_loss

    with pytest.raises(ValueError, match="label 3 at row 0 is out of range"):
        get_loss("cross_entropy").prepare_target(np.array([3, 0]), (2, 3))
    with pytest.raises(ValueError, match=r"target 2 at row 1 is not in \[0, 1\]"):
        get_loss("binary_cross_entropy").prepare_target(np.array([0, 2]), (2, 1))


def test_float_labels_cannot_be_classes(tmp_path):
    with pytest.raises(
        DataError,
        match="line 2, column 'y': '0.5' is not a whole number, so the column cannot hold class labels; use data.task: regression",
    ):
        load_path(write(tmp_path / "d.csv", "a,y\n1,0.5\n2,1\n"), task="classification")


def test_block_gathering_matches_plain_indexing(monkeypatch):
    import mlp.data.batching

    monkeypatch.setattr(mlp.data.batching, "BLOCK_BYTES", 3 * 8 * 4)  # blocks of 3 batches of 4 rows
    X = np.arange(46 * 2, dtype=np.float64).reshape(46, 2)
    y = np.arange(46)
    batches = Minibatches(X, y, 4, np.random.default_rng(1))
    order = batches.draw_order()
    full = [(i, xb.copy(), yb.copy()) for i, xb, yb in batches.batches(order)]
    assert [i for i, _, _ in full] == list(range(12))
    for i, xb, yb in full:
        np.testing.assert_array_equal(yb, order[4 * i : 4 * i + 4])
        np.testing.assert_array_equal(xb, X[order[4 * i : 4 * i + 4]])
    resumed = [(i, yb.copy()) for i, _, yb in batches.batches(order, start=5)]  # mid-epoch resume
    assert [i for i, _ in resumed] == list(range(5, 12))
    for (_, yb), (_, _, expected) in zip(resumed, full[5:]):
        np.testing.assert_array_equal(yb, expected)


@pytest.mark.parametrize("start", [0, 1, 5, 11])
def test_prefetching_gives_the_same_batches(monkeypatch, start):
    import threading

    import mlp.data.batching

    monkeypatch.setattr(mlp.data.batching, "BLOCK_BYTES", 3 * 8 * 4)  # blocks of 3 batches of 4 rows
    X = np.arange(46 * 2, dtype=np.float64).reshape(46, 2)
    y = np.arange(46)
    order = np.random.default_rng(2).permutation(46)
    plain = Minibatches(X, y, 4, None)
    ahead = Minibatches(X, y, 4, None, prefetch=True)
    assert ahead.prefetch and not plain.prefetch
    expected = [(i, xb.copy(), yb.copy()) for i, xb, yb in plain.batches(order, start)]
    got = [(i, xb.copy(), yb.copy()) for i, xb, yb in ahead.batches(order, start)]
    assert [i for i, _, _ in got] == [i for i, _, _ in expected] == list(range(start, 12))
    for (_, x1, y1), (_, x2, y2) in zip(got, expected):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    abandoned = ahead.batches(order)
    next(abandoned)
    abandoned.close()  # an interrupted epoch: the helper thread ends with it
    assert not [t for t in threading.enumerate() if t.name.startswith("mlp-gather")]


def test_prefetching_is_chosen_for_small_networks_only():
    from mlp.data.batching import worth_prefetching

    assert worth_prefetching(784 * 4, 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10)
    assert not worth_prefetching(784 * 4, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10)


@pytest.mark.parametrize("version", ["numpy", "numba"])
def test_eight_bit_rows_are_kept_as_they_came_and_train_exactly_as_floats(version):
    """uint8 rows stay uint8 in memory (read as float) and train bit for bit as their float copy."""
    if version == "numba":
        pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (300, 12)).astype(np.uint8)
    y = (X[:, 0] > X[:, 1]).astype(int)
    config = {
        "data": {"standardize": False},
        "model": {"hidden": [8]},
        "training": {"epochs": 3, "batch_size": 16, "kernels": version},
        "optimizer": {"lr": 0.001},
    }
    experiment = build_experiment(resolve(config, data_given=True), from_arrays(X, y))
    assert isinstance(experiment.splits.X_train, ScaledRows) and experiment.splits.X_train.raw.dtype == np.uint8
    as_ints = mlp.train(config, data=(X, y)).model.network.flat_params
    as_floats = mlp.train(config, data=(X.astype(np.float32), y)).model.network.flat_params
    np.testing.assert_array_equal(as_ints, as_floats)
