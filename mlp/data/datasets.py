"""Data sets: the built-in ones shipped with the package and user files (CSV, NPZ, IDX).

Every loader returns a :class:`Dataset`: features ``X`` of shape ``(N, d)`` (kept in their stored
dtype, e.g. uint8 pixels, with ``feature_scale`` applied when they are converted to floats),
targets ``y`` — integer labels ``(N,)`` in ``0..K−1`` for classification, floats ``(N, k)`` for
regression — and, when the data set has one, its own test set. Every problem with a file raises
:class:`~mlp.errors.DataError` naming the file and, where it applies, the column and the line.
"""

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, shown
from ..io.files import gunzip, read_npz, regular_file

TASKS = ("classification", "regression")


@dataclass
class Dataset:
    """Features, targets and what is known about them.

    ``X`` : (N, d) numeric; ``y`` : (N,) int labels or (N, k) float targets; ``X_test``/``y_test``
    likewise or ``None``; ``class_names`` : one name per label (classification only).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list
    class_names: list | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    feature_scale: float = 1.0
    standardize_default: bool = True
    target_names: list = field(default_factory=lambda: ["target"])
    source: str = ""  # where the rows come from, for messages (a file; the name when empty)

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
    if spec.get("kind") == "idx":
        return [root / "mnist" / file for file in MNIST_FILES]
    return [root / "tabular" / spec["file"]]


def load_builtin(name):
    """Load a built-in data set by name (``DataError`` lists the valid names)."""
    files = builtin_files(name)
    spec = BUILTIN[name]
    if spec.get("kind") == "idx":
        train = load_idx_pair(files[0], files[1], name)
        test = load_idx_pair(files[2], files[3], name)
        train.X_test, train.y_test = test.X, test.y
        if len(test.class_names) > len(train.class_names):
            train.class_names = test.class_names
        return train
    dataset = load_csv(files[0], target=spec["target"], task=spec["task"])
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


def read_bytes(path):
    """File contents, gunzipped when the file starts with the gzip magic bytes."""
    path = regular_file(path, DataError, "data file")
    raw = path.read_bytes()
    return gunzip(raw, path, DataError) if raw[:2] == b"\x1f\x8b" else raw


# --------------------------------------------------------------------------------------------
# IDX

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX array: header (0, 0, type byte, ndim), ndim big-endian int32 sizes, then the data."""
    raw = read_bytes(path)
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


def _csv_records(path, text):
    """The rows of the CSV ``text`` of ``path``, one list of strings at a time. A field the csv
    module refuses (e.g. longer than its 131,072-character limit) is a ``DataError`` naming the line.
    """
    reader = csv.reader(_lines(text))
    try:
        yield from reader
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: not readable as CSV ({exc})") from None


def _lines(text):
    """The lines of ``text``, each with its ``\\n`` (as iterating a ``StringIO`` gives them), without
    the copy of the whole text a ``StringIO`` makes."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def read_csv_columns(path, choose):
    """A CSV file with a header row, read row by row into arrays: ``(X, kept)``.

    ``choose(header)`` (the header's cells, stripped) returns ``(columns, names, keep)``: the indices
    of the columns parsed as numbers into ``X`` (N, len(columns)) float64 — by ``float()``'s rules;
    ``names`` name them in messages — and the index of a column whose stripped cells come back as the
    list ``kept`` (or None). No list of every row is built. Blank rows at the end are ignored;
    anywhere else they are an error naming their line, as is a row of the wrong length.
    """
    # UTF-8 with or without a byte-order mark; bytes that are not UTF-8 become U+FFFD (and then fail
    # as a number, naming the cell)
    text = read_bytes(path).decode("utf-8-sig", errors="replace")
    records = _csv_records(path, text)
    header = [cell.strip() for cell in next(records, [])]
    columns, names, keep = choose(header)
    X = np.empty((text.count("\n") + 1, len(columns)))  # rows at most; rows never filled cost no memory
    n, kept, blank = 0, [], []
    for row in records:
        if not any(cell.strip() for cell in row):
            blank.append(row)  # dropped if only blank rows follow
            continue
        for pending in [*blank, row]:
            line = n + 2
            if len(pending) != len(header):
                raise DataError(f"{path}, line {line}: {len(pending)} fields, but the header has {len(header)}")
            cells = [pending[j] for j in columns]
            try:
                X[n] = cells
            except ValueError:
                bad = next(k for k, cell in enumerate(cells) if _number(cell) is None)
                raise DataError(
                    f"{path}, line {line}, column {shown(names[bad])}: {shown(cells[bad])} is not a number"
                ) from None
            if keep is not None:
                kept.append(pending[keep].strip())
            n += 1
        blank.clear()
    return X[:n], kept


def load_csv(path, target=None, task=None, name=None):
    """A CSV file with a header row; ``target`` names the target column (default: the last)."""
    layout = {}

    def choose(header):
        if not header:
            raise DataError(f"{path}: needs a header row and at least one data row")
        column = header[-1] if target is None else target
        if column not in header:
            raise DataError(f"{path}: no column {shown(column)}; columns: {shown(header, items=30)[1:-1]}")
        t = header.index(column)
        picked = [j for j in range(len(header)) if j != t]
        layout.update(target=column, features=[header[j] for j in picked])
        return picked, layout["features"], t

    X, raw_target = read_csv_columns(path, choose)
    if not raw_target:
        raise DataError(f"{path}: needs a header row and at least one data row")
    target, features = layout["target"], layout["features"]
    check_finite(X, str(path), "features", features, first_line=2)
    y, class_names, inferred = parse_target(raw_target, path, target)
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
            line = int(fractional[0]) + 2
            raise DataError(
                f"{path}, line {line}, column {target!r}: {raw_target[line - 2]!r} is not a whole number, "
                f"so the column cannot hold class labels; use data.task: regression"
            )
        y, class_names = encode_labels(values.astype(np.int64))  # labels written 1.0, 2.0: classes 1, 2
    return Dataset(
        name or Path(path).name.split(".")[0],
        X,
        y,
        task,
        features,
        class_names,
        target_names=[target],
        source=str(path),
    )


def parse_target(values, path, column):
    """``(y, class_names, kind)``: kind is ``"integers"``, ``"strings"`` or ``"floats"``."""
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        array = np.array(numbers)
        check_finite(array[:, None], str(path), "targets", [column], first_line=2)
        if all(v.lstrip("+-").isdigit() for v in values):
            labels, names = encode_labels(array.astype(np.int64))
            return labels, names, "integers"
        return array[:, None], None, "floats"
    names = sorted(set(values))
    if "" in names:
        line = values.index("") + 2
        raise DataError(f"{path}, line {line}, column {column!r}: empty target")
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


def from_arrays(X, y, X_test=None, y_test=None, task=None, name="arrays", where="", feature_names=None):
    """A :class:`Dataset` from arrays: ``X`` (N, d) numeric; ``y`` (N,) class labels (integers or
    strings) or (N,)/(N, k) float regression targets; optionally a test set ``X_test``, ``y_test``.

    ``where`` prefixes messages (a file name, or nothing for arrays passed in from Python).
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
    class_names = None
    if task == "classification":
        labels = [y] if y_test is None else [y, y_test]
        for key, values in zip(("y", "y_test"), labels):
            if values.ndim != 1 or (values.dtype.kind == "f" and np.any(values != np.round(values))):
                raise DataError(f"{where}{key} must hold integer class labels of shape (N,) for classification")
        pooled = np.concatenate(labels)
        encoded, class_names = encode_labels(pooled if strings else pooled.astype(np.int64))
        y = encoded[: len(y)]
        y_test = None if y_test is None else encoded[len(y) :]
    else:
        if strings:
            raise DataError(f"{where}y holds text, so it cannot be a regression target")
        y = y.astype(np.float64).reshape(len(y), -1)
        y_test = None if y_test is None else y_test.astype(np.float64).reshape(len(y_test), -1)
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
    width = 1 if task == "classification" else y.shape[1]
    targets = ["y"] if width == 1 else [f"y{j}" for j in range(width)]
    return Dataset(name, X, y, task, names, class_names, X_test, y_test, target_names=targets)


def _checked_pair(X, y, x_key, y_key, where):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise DataError(f"{where}{x_key} must have shape (N, d), got {X.shape}")
    if y.ndim not in (1, 2):
        raise DataError(f"{where}{y_key} must have shape (N,) or (N, k), got {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{where}{x_key} has {X.shape[0]} rows but {y_key} has {y.shape[0]}")
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
    """Raw feature rows for ``transform`` (a model's) from a CSV, its columns picked by name, or from
    an NPZ file's array ``X`` (columns by position)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        X = read_npz(path, DataError, "input file").get("X")
        if X is None:
            raise DataError(f"{path}: no array 'X'")
        if X.ndim != 2 or X.shape[1] != transform.width:
            raise DataError(f"{path}: X must have shape (N, {transform.width}), got {X.shape}")
        check_finite(X.astype(np.float64), str(path), "features")
        return X

    def choose(header):
        return transform.columns_in(header, path), transform.feature_names, None

    X, _ = read_csv_columns(path, choose)
    check_finite(X, str(path), "features", transform.feature_names, first_line=2)
    return X


def load_path(path, target=None, task=None):
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
        return load_csv(path, target, task)
    raise DataError(f"{path}: unknown data file type; use .csv, .csv.gz, .npz or an [images, labels] IDX pair")
