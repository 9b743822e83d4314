"""From a data set to training, validation and held-out test arrays.

* The test set is the data set's own when it has one, else ``test_split`` of the rows; validation
  is ``validation_split`` of the remaining rows. Both are drawn with the run's split generator and
  stratified by class for classification (each class contributes round(fraction · its count) rows).
  :func:`split_rows_of` draws them; training and ``mlp evaluate`` both call it, so a model is
  scored on exactly the rows it was held out from.
* The feature transform (:mod:`mlp.data.transform`) is fitted on the training rows only and
  applied to every split.
* Regression targets are standardized the same way for training; predictions and reports are
  converted back to the original units.
* Features become one float array in ``[train | validation]`` row order, so that the training and
  validation sets are views of it (MNIST: one float32 array, no second copy).
"""

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .encoding import Encoding
from .table import Cells
from .transform import FeatureTransform, ScaledRows, Standardizer


@dataclass
class RowSplit:
    """Row numbers of each split in their source; ``own_test``: the test rows index the data set's
    own test set, not its training rows. ``y``: the targets (corrupted where asked)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    own_test: bool
    y: np.ndarray


@dataclass
class Splits:
    """The arrays a run trains, validates and reports on.

    ``X_*`` : (n, d) float (the training and validation rows of 8-bit images as
    :class:`~mlp.data.transform.ScaledRows`, read as float); ``y_*`` : (n,) int labels or (n, k) float targets (standardized when
    ``target_scaler`` is set); ``rows`` : where each split's rows come from in their source.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    rows: RowSplit
    task: str
    class_names: list
    n_outputs: int
    transform: FeatureTransform
    target_scaler: Standardizer | None = None
    target_names: list | None = None
    ids: np.ndarray | None = None  # the test rows' IDs (data.id_column)

    @property
    def test_rows(self):
        return self.rows.test

    def sizes(self):
        return {"train": len(self.X_train), "validation": len(self.X_val), "test": len(self.X_test)}


def split_rows(rows, fraction, rng, labels=None):
    """Split ``rows`` into ``(kept, taken)``: ``taken`` is ``fraction`` of them, per class if ``labels``."""
    if fraction <= 0:
        return rows, rows[:0]
    taken = []
    groups = [rows] if labels is None else [rows[labels[rows] == c] for c in np.unique(labels[rows])]
    for group in groups:
        count = int(round(fraction * len(group)))
        taken.append(group[rng.permutation(len(group))[:count]])
    taken = np.sort(np.concatenate(taken))
    kept = np.setdiff1d(rows, taken, assume_unique=True)
    return kept, taken


def corrupt_targets(y, rows, fraction, rng):
    """Shift ``fraction`` of ``y[rows]`` by ±10 standard deviations (outliers for robust losses)."""
    chosen = rows[rng.permutation(len(rows))[: int(round(fraction * len(rows)))]]
    signs = rng.choice([-1.0, 1.0], size=(len(chosen), 1))
    y = y.copy()
    y[chosen] += signs * 10 * y[rows].std(axis=0)
    return y


def split_rows_of(dataset, rng, validation_split=0.1, test_split=0.2, corrupt_fraction=0.0):
    """The seeded :class:`RowSplit` of ``dataset``; ``corrupt_fraction`` corrupts that share of the
    non-test regression targets (never the test rows)."""
    classification = dataset.task == "classification"
    y = dataset.y
    rows = np.arange(len(y))
    labels = y if classification else None
    own_test = dataset.X_test is not None
    if own_test:
        rest, test_rows = rows, np.arange(len(dataset.y_test))
    else:
        rest, test_rows = split_rows(rows, test_split, rng, labels)
    train_rows, val_rows = split_rows(rest, validation_split, rng, labels)
    if len(train_rows) == 0:
        raise DataError(
            f"{dataset.name}: no training rows left after the test ({test_split}) and validation "
            f"({validation_split}) splits of {len(y)} rows"
        )
    if corrupt_fraction > 0:
        if classification:
            raise DataError("data.corrupt_targets applies to regression targets only")
        y = corrupt_targets(y, rest, corrupt_fraction, rng)
    return RowSplit(train_rows, val_rows, test_rows, own_test, y)


def split_features(dataset, rows, transform, dtype, split):
    """The ``split`` (``train``, ``val`` or ``test``) rows of ``dataset`` through ``transform``."""
    source = dataset.X_test if split == "test" and rows.own_test else dataset.X
    return transform.apply(source, dtype, getattr(rows, split), dataset.where)


def split_targets(dataset, rows, split):
    """The targets of the ``split`` rows (in the data's own units)."""
    if split == "test" and rows.own_test:
        return dataset.y_test
    return rows.y[getattr(rows, split)]


def fit_encoding(dataset, rows, options):
    """The feature transform of ``dataset`` with what is done to each column fitted on the training
    rows (a CSV table's columns: :mod:`mlp.data.encoding`); its standardization is fitted by
    :func:`prepare`. ``options`` is the config's ``data`` section."""
    if isinstance(dataset.X, Cells):
        encoding = Encoding.fit(dataset.X, rows.train, options)
        return FeatureTransform(encoding.output_names(), dataset.feature_scale, None, encoding)
    table_only = {
        "data.features": options.features is not None,
        "data.ignore": bool(options.ignore),
        "data.categorical": isinstance(options.categorical, list) and bool(options.categorical),
        "data.missing": options.missing != "error",
        "data.id_column": options.id_column is not None,
    }
    for key, set_away in table_only.items():
        if set_away:
            raise DataError(f"{key} applies to CSV tables (columns by name); {dataset.where} holds arrays")
    return FeatureTransform(list(dataset.feature_names), dataset.feature_scale)


def prepare(dataset, rows, transform, standardize=None, dtype=np.float32, standardize_target=True, n_outputs=None):
    """The arrays of the splits ``rows`` of ``dataset`` through ``transform``, its standardization
    fitted on the training rows: :class:`Splits`.

    ``standardize=None`` takes the data set's default (true for tabular data, false for images).
    """
    trainval = np.concatenate([rows.train, rows.val])
    standardize = dataset.standardize_default if standardize is None else standardize
    numbers, picked = transform.numbers(dataset.X, trainval)
    test_numbers, test_picked = transform.numbers(dataset.X_test if rows.own_test else dataset.X, rows.test)
    X_test = transform.convert(test_numbers, dtype, test_picked)
    blocks = [(X_test, test_numbers, test_picked)]
    if ScaledRows.fits(numbers, standardize):  # 8-bit pixels: scaled as they are read, batch by batch
        raw = numbers if picked is None else np.take(numbers, picked, axis=0)
        X_train = ScaledRows(raw[: len(rows.train)], transform.scale, dtype)
        X_val = ScaledRows(raw[len(rows.train) :], transform.scale, dtype)
    else:
        features = transform.convert(numbers, dtype, picked)
        X_train, X_val = features[: len(rows.train)], features[len(rows.train) :]
        blocks.append((features, numbers, picked))
    for block, source, block_rows in blocks:  # a cell too large for the dtype, before it skews the statistics
        transform.check_finite(block, source, block_rows, dataset.where)
    transform.fit(X_train, standardize)
    for block, source, block_rows in blocks:
        transform.check_finite(transform.standardize(block), source, block_rows, dataset.where)

    y_train, y_val, y_test = (split_targets(dataset, rows, split) for split in ("train", "val", "test"))
    target_scaler = None
    if dataset.task == "regression" and standardize_target:
        target_scaler = Standardizer.fit(y_train)
        y_train, y_val, y_test = (target_scaler.apply(t.astype(np.float64)) for t in (y_train, y_val, y_test))
    if n_outputs is None:
        n_outputs = len(dataset.class_names) if dataset.task == "classification" else dataset.y.shape[1]
    return Splits(
        X_train,
        y_train,
        X_val,
        y_val,
        X_test,
        y_test,
        rows,
        dataset.task,
        dataset.class_names,
        n_outputs,
        transform,
        target_scaler,
        dataset.target_names,
    )
