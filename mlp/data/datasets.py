"""Data sets: the built-in ones shipped with the package and user files (CSV, NPZ, IDX).

Every loader returns a :class:`Dataset`: features ``X`` of shape ``(N, d)`` (kept in their stored
dtype, e.g. uint8 pixels, with ``feature_scale`` applied when they are converted to floats),
targets ``y`` — integer labels ``(N,)`` in ``0..K−1`` for classification, floats ``(N, k)`` for
regression — and, when the data set has one, its own test set. Every problem with a file raises
:class:`~mlp.errors.DataError` naming the file and, where it applies, the column and the line.
"""

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, shown
from ..io.files import read_bytes, read_npz
from .encoding import cell_text
from .table import MISSING_MARKERS, Cells, read_csv_columns
from .toy import TOY, generate

TASKS = ("classification", "regression")


@dataclass
class Dataset:
    """Features, targets and what is known about them.

    ``X`` : (N, d) numbers, or a CSV table's :class:`~mlp.data.table.Cells` (numbers, text and
    missing cells, by column name); ``y`` : (N,) int labels or (N, k) float targets;
    ``X_test``/``y_test`` likewise or ``None``; ``class_names`` : one name per label
    (classification only); ``ids`` (and ``test_ids``) : the rows' IDs from ``data.id_column``.
    """

    name: str
    X: Any
    y: np.ndarray
    task: str
    feature_names: list
    class_names: list | None = None
    X_test: Any = None
    y_test: np.ndarray | None = None
    feature_scale: float = 1.0
    standardize_default: bool = True
    target_names: list = field(default_factory=lambda: ["target"])
    source: str = ""  # where the rows come from, for messages (a file; the name when empty)
    ids: np.ndarray | None = None
    id_name: str | None = None
    test_ids: np.ndarray | None = None

    @property
    def where(self):
        return self.source or self.name

    @property
    def n_features(self):
        return self.X.shape[1]


# --------------------------------------------------------------------------------------------
# Locating the built-in data


def data_dir():
    """Folder of the built-in data: ``$MLP_DATA_DIR``, else the package's copy, else ``./data``."""
    override = os.environ.get("MLP_DATA_DIR")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_data", package.parent / "data"):
        if (candidate / "tabular").is_dir():
            return candidate
    raise DataError("the built-in data sets are missing: set MLP_DATA_DIR to a folder holding mnist/ and tabular/")


BUILTIN = {
    "mnist": {"kind": "idx"},
    "digits": {"file": "digits.csv.gz", "target": "digit", "task": "classification"},
    "iris": {"file": "iris.csv", "target": "species", "task": "classification"},
    "wine": {"file": "wine.csv", "target": "cultivar", "task": "classification"},
    "breast_cancer": {"file": "breast_cancer.csv", "target": "diagnosis", "task": "classification"},
    "diabetes": {"file": "diabetes.csv", "target": "progression", "task": "regression"},
    "penguins": {"file": "penguins.csv", "target": "species", "task": "classification"},
    "cars": {"file": "cars.csv", "target": "Miles_per_Gallon", "task": "regression"},
    **{name: {"kind": "toy"} for name in TOY},  # generated, with data.params
}


MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def builtin_files(name):
    """The files a built-in data set is read from."""
    if name not in BUILTIN:
        raise DataError(f"unknown data set {name!r}; built-in data sets: {', '.join(sorted(BUILTIN))}")
    spec, root = BUILTIN[name], data_dir()
    if spec.get("kind") == "toy":
        return []  # drawn from data.params, which the config holds
    if spec.get("kind") == "idx":
        return [root / "mnist" / file for file in MNIST_FILES]
    return [root / "tabular" / spec["file"]]


def load_builtin(name, id_column=None, drop_missing_target=False, params=None):
    """Load a built-in data set by name (``DataError`` lists the valid names); a table's
    ``id_column`` and missing targets are handled as for a file (:func:`load_csv`); a generated
    2-D set (:mod:`mlp.data.toy`) is drawn with ``params``."""
    files = builtin_files(name)
    spec = BUILTIN[name]
    if spec.get("kind") == "toy":
        X, y = generate(name, params or {})
        return from_arrays(
            X, y, name=name, feature_names=["x1", "x2"], class_names=[str(k) for k in range(y.max() + 1)]
        )
    if spec.get("kind") == "idx":
        train = load_idx_pair(files[0], files[1], name)
        test = load_idx_pair(files[2], files[3], name)
        train.X_test, train.y_test = test.X, test.y
        if len(test.class_names) > len(train.class_names):
            train.class_names = test.class_names
        return train
    dataset = load_csv(
        files[0], spec["target"], spec["task"], id_column=id_column, drop_missing_target=drop_missing_target
    )
    dataset.name = name
    return dataset


def fingerprint(dataset_or_paths):
    """SHA-256 of the files (a list of paths) or of a data set's arrays (rows given in memory)."""
    digest = hashlib.sha256()
    if isinstance(dataset_or_paths, Dataset):
        data = dataset_or_paths
        for array in (data.X, data.y, data.X_test, data.y_test):
            if array is not None:
                array = np.ascontiguousarray(array)
                digest.update(f"{array.dtype.str}{array.shape}".encode())
                digest.update(array.tobytes())
        return digest.hexdigest()
    for path in dataset_or_paths:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Raw bytes


# --------------------------------------------------------------------------------------------
# IDX

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX array: header (0, 0, type byte, ndim), ndim big-endian int32 sizes, then the data."""
    raw = read_bytes(path, DataError, "data file")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        magic = raw[:4].hex() if len(raw) >= 4 else raw.hex()
        raise DataError(f"{path}: not an IDX file (magic number 0x{magic} is not 0x0000TTNN with a known type)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated ({len(raw)} bytes)")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX size mismatch: the header says shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def load_idx_pair(images_path, labels_path, name=None):
    """Images ``(N, …)`` flattened to ``(N, d)`` and labels ``(N,)`` from two IDX files."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: labels must be one-dimensional, got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} has {images.shape[0]} images but {labels_path} has {labels.shape[0]} labels")
    X = images.reshape(images.shape[0], -1)
    check_finite(X, f"{images_path}", "features")
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        raise DataError(f"{labels_path}: IDX labels must be non-negative integers")
    y, class_names = encode_labels(labels.astype(np.int64))
    scale = 1 / 255 if images.dtype == np.uint8 else 1.0
    width = X.shape[1]
    return Dataset(
        name or Path(images_path).name,
        X,
        y,
        "classification",
        [f"pixel_{j}" for j in range(width)],
        class_names,
        feature_scale=scale,
        standardize_default=False,
    )


# --------------------------------------------------------------------------------------------
# CSV


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def read_table(path):
    """Every column of a CSV file as :class:`~mlp.data.table.Cells` (numbers, text and missing cells)."""

    def choose(header):
        if not header:
            raise DataError(f"{path}: empty file")
        return list(range(len(header))), header, None

    return read_csv_columns(path, choose)[0]


def column_text(cells, column):
    """A column's cells as text (``""`` where missing): ID values, for predictions and reports."""
    return np.array([cell_text(cells, column, row) or "" for row in range(len(cells))], dtype=object)


def load_csv(path, target=None, task=None, name=None, id_column=None, drop_missing_target=False):
    """A CSV file with a header row; ``target`` names the target column (default: the last).

    Feature cells stay as they are (:class:`~mlp.data.table.Cells`: numbers, text, missing); the
    feature transform decides what each column becomes. ``id_column`` is taken out of the features
    and kept as the rows' IDs. A missing target is an error naming its line, unless
    ``drop_missing_target`` drops those rows.
    """
    layout = {}

    def choose(header):
        if not header:
            raise DataError(f"{path}: needs a header row and at least one data row")
        column = header[-1] if target is None else target
        for key, wanted in (("", column), (" (data.id_column)", id_column)):
            if wanted is not None and wanted not in header:
                raise DataError(f"{path}: no column {shown(wanted)}{key}; columns: {shown(header, items=30)[1:-1]}")
        if id_column == column:
            raise DataError(f"{path}: data.id_column {shown(id_column)} is the target column")
        t = header.index(column)
        picked = [j for j in range(len(header)) if j != t]
        layout.update(target=column)
        return picked, [header[j] for j in picked], t

    cells, raw_target = read_csv_columns(path, choose)
    if not raw_target:
        raise DataError(f"{path}: needs a header row and at least one data row")
    target = layout["target"]
    missing = [row for row, value in enumerate(raw_target) if value in MISSING_MARKERS]
    if missing and not drop_missing_target:
        lines = ", ".join(str(row + 2) for row in missing[:5]) + (", …" if len(missing) > 5 else "")
        raise DataError(
            f"{path}: column {target!r} (the target) is missing on {len(missing)} row(s), line(s) {lines}; "
            f"fill them, or set data.drop_missing_target: true to train without those rows"
        )
    if missing:
        kept = np.setdiff1d(np.arange(len(raw_target)), missing)
        cells = cells.subset(kept)
        raw_target = [raw_target[row] for row in kept]
        if not raw_target:
            raise DataError(f"{path}: every row's target is missing")
    ids = None
    if id_column is not None:
        column = cells.names.index(id_column)
        ids = column_text(cells, column)
        cells = cells.without_column(column)
    y, class_names, inferred = parse_target(raw_target, path, target, cells.lines)
    task = infer_task(task, inferred, f"{path}: ")
    if task == "regression" and class_names is not None:
        if inferred == "strings":
            raise DataError(f"{path}: column {target!r} holds text, so it cannot be a regression target")
        y = np.array([float(v) for v in raw_target])[:, None]
        class_names = None
    if task == "classification" and class_names is None:
        values = y[:, 0]
        fractional = np.flatnonzero(values != np.round(values))
        if fractional.size:
            row = int(fractional[0])
            raise DataError(
                f"{path}, line {cells.lines[row]}, column {target!r}: {raw_target[row]!r} is not a whole number, "
                f"so the column cannot hold class labels; use data.task: regression"
            )
        y, class_names = encode_labels(values.astype(np.int64))  # labels written 1.0, 2.0: classes 1, 2
    return Dataset(
        name or Path(path).name.split(".")[0],
        cells,
        y,
        task,
        list(cells.names),
        class_names,
        target_names=[target],
        source=str(path),
        ids=ids,
        id_name=id_column,
    )


def parse_target(values, path, column, lines):
    """``(y, class_names, kind)``: kind is ``"integers"``, ``"strings"`` or ``"floats"``."""
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        array = np.array(numbers)
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise DataError(
                f"{path}, line {lines[bad[0]]}, column {column!r}: {values[bad[0]]!r} is not a finite number"
            )
        if all(v.lstrip("+-").isdigit() for v in values):
            labels, names = encode_labels(array.astype(np.int64))
            return labels, names, "integers"
        return array[:, None], None, "floats"
    names = sorted(set(values))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64), names, "strings"


def infer_task(task, inferred, where):
    if task in (None, "auto"):
        return "regression" if inferred == "floats" else "classification"
    if task not in TASKS:
        raise DataError(f"{where}task must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def encode_labels(values):
    """Map label values to indices 0..K−1 in sorted order; names are the values as strings."""
    unique, labels = np.unique(values, return_inverse=True)
    return labels.astype(np.int64), [str(v.item() if hasattr(v, "item") else v) for v in unique]


# --------------------------------------------------------------------------------------------
# NPZ


def load_npz(path, task=None, name=None):
    """An NPZ file with ``X`` (N, d) and ``y`` (N,) or (N, k); optionally ``X_test`` and ``y_test``."""
    path = Path(path)
    arrays = read_npz(path, DataError, "data file")
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r}; found {', '.join(arrays) or 'none'}")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: X_test and y_test must come together")
    dataset = from_arrays(
        arrays["X"], arrays["y"], arrays.get("X_test"), arrays.get("y_test"), task, name or path.stem, f"{path}: "
    )
    dataset.source = str(path)
    return dataset


def from_arrays(
    X, y, X_test=None, y_test=None, task=None, name="arrays", where="", feature_names=None, class_names=None
):
    """A :class:`Dataset` from arrays: ``X`` (N, d) numeric, or a table's
    :class:`~mlp.data.table.Cells`; ``y`` (N,) class labels (integers or strings) or (N,)/(N, k) float
    regression targets; optionally a test set ``X_test``, ``y_test``.

    ``class_names`` fixes the classes (``y`` then holds indices into it, and classes that no row has
    keep their output). ``where`` prefixes messages (a file name, or nothing for arrays from Python).
    """
    if (X_test is None) != (y_test is None):
        raise DataError(f"{where}X_test and y_test must come together")
    X, y = _checked_pair(X, y, "X", "y", where)
    strings = y.dtype.kind in "US"
    task = infer_task(task, "strings" if strings else "floats" if y.dtype.kind == "f" else "integers", where)
    if X_test is not None:
        X_test, y_test = _checked_pair(X_test, y_test, "X_test", "y_test", where)
        if X_test.shape[1] != X.shape[1]:
            raise DataError(f"{where}X_test has {X_test.shape[1]} columns but X has {X.shape[1]}")
    if task == "classification":
        labels = [y] if y_test is None else [y, y_test]
        for key, values in zip(("y", "y_test"), labels):
            if values.ndim != 1 or (values.dtype.kind == "f" and np.any(values != np.round(values))):
                raise DataError(f"{where}{key} must hold integer class labels of shape (N,) for classification")
        pooled = np.concatenate(labels)
        if class_names is None:
            encoded, class_names = encode_labels(pooled if strings else pooled.astype(np.int64))
        else:
            encoded = pooled.astype(np.int64)
            if encoded.min() < 0 or encoded.max() >= len(class_names):
                raise DataError(f"{where}y must index the {len(class_names)} classes given")
            class_names = list(class_names)
        y = encoded[: len(y)]
        y_test = None if y_test is None else encoded[len(y) :]
    else:
        if strings:
            raise DataError(f"{where}y holds text, so it cannot be a regression target")
        y = y.astype(np.float64).reshape(len(y), -1)
        y_test = None if y_test is None else y_test.astype(np.float64).reshape(len(y_test), -1)
    if isinstance(X, Cells):
        names = list(X.names)
    else:
        names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
    width = 1 if task == "classification" else y.shape[1]
    targets = ["y"] if width == 1 else [f"y{j}" for j in range(width)]
    return Dataset(name, X, y, task, names, class_names, X_test, y_test, target_names=targets)


def _checked_pair(X, y, x_key, y_key, where):
    if isinstance(X, Cells):  # a table's cells: the feature transform judges them
        y = np.asarray(y)
        if len(X) != len(y):
            raise DataError(f"{where}{x_key} has {len(X)} rows but {y_key} has {len(y)}")
        if len(X) == 0:
            raise DataError(f"{where}{x_key} has no rows")
        if y.dtype.kind not in "US":
            check_finite(y.reshape(len(y), -1).astype(np.float64), f"{where}{y_key}", "targets")
        return X, y
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise DataError(f"{where}{x_key} must have shape (N, d), got {X.shape}")
    if y.ndim not in (1, 2):
        raise DataError(f"{where}{y_key} must have shape (N,) or (N, k), got {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{where}{x_key} has {X.shape[0]} rows but {y_key} has {y.shape[0]}")
    if X.shape[0] == 0:
        hint = "; leave X_test and y_test out to hold out a test split instead" if x_key == "X_test" else ""
        raise DataError(f"{where}{x_key} has no rows{hint}")
    if X.dtype.kind not in "fiub" or y.dtype.kind not in "fiubUS":
        raise DataError(f"{where}{x_key} must be a numeric array and {y_key} numbers or strings")
    check_finite(X, f"{where}{x_key}", "features")
    if y.dtype.kind not in "US":
        check_finite(y.reshape(len(y), -1), f"{where}{y_key}", "targets")
    return X, y


# --------------------------------------------------------------------------------------------


def check_finite(array, where, what, columns=None, first_line=None):
    """``DataError`` if ``array`` (2-D) holds NaN or ±inf: how many, and where the first one is."""
    if array.dtype.kind != "f":
        return
    bad = ~np.isfinite(array)
    count = int(bad.sum())
    if not count:
        return
    row, col = (int(v) for v in np.argwhere(bad)[0])
    column = shown(columns[col]) if columns is not None else str(col)
    position = f"line {row + first_line}" if first_line is not None else f"row {row}"
    raise DataError(
        f"{where}: {count} NaN or infinite value(s) in the {what}; the first is at {position}, "
        f"column {column} ({array[row, col]})"
    )


def read_feature_rows(path, transform):
    """Raw rows for ``transform`` (a model's): a CSV file's cells, its columns found by name, or an NPZ
    file's array ``X`` (columns by position)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        X = read_npz(path, DataError, "input file").get("X")
        if X is None:
            raise DataError(f"{path}: no array 'X'")
        width = len(transform.input_columns)
        if X.ndim != 2 or X.shape[1] != width or X.dtype.kind not in "fiub":
            raise DataError(f"{path}: X must be numbers of shape (N, {width}), got {X.dtype} {X.shape}")
        check_finite(X.astype(np.float64), str(path), "features")
        return X
    cells = read_table(path)
    transform.columns_in(cells.names, path)  # every column the model needs is there
    return cells


def load_path(path, target=None, task=None, id_column=None, drop_missing_target=False):
    """Load a user file: ``.csv``/``.csv.gz``, ``.npz``, or a ``[images, labels]`` IDX pair."""
    if isinstance(path, (list, tuple)):
        if len(path) != 2:
            raise DataError(f"an IDX data path must be [images, labels], got {len(path)} paths")
        dataset = load_idx_pair(path[0], path[1])
        if task == "regression":
            raise DataError(f"{path[1]}: IDX labels are class labels; regression needs a CSV or NPZ file")
        return dataset
    suffixes = "".join(Path(path).suffixes[-2:]).lower()
    if suffixes.endswith(".npz"):
        return load_npz(path, task)
    if suffixes.endswith(".csv") or suffixes.endswith(".csv.gz"):
        return load_csv(path, target, task, id_column=id_column, drop_missing_target=drop_missing_target)
    raise DataError(f"{path}: unknown data file type; use .csv, .csv.gz, .npz or an [images, labels] IDX pair")
