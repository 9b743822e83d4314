"""From a data set to training, validation and held-out test arrays.

* The test set is the data set's own when it has one, else ``test_split`` of the rows; validation
  is ``validation_split`` of the remaining rows. Both are drawn with the run's split generator and
  stratified by class for classification (each class contributes round(fraction · its count) rows).
* Standardization statistics (mean, std; a constant column gets std 1) come from the training rows
  only and are applied to every split and, through the model file, to later predictions.
* Regression targets are standardized the same way for training; predictions and reports are
  converted back to the original units.
* Features become one float array in ``[train | validation]`` row order, so that the training and
  validation sets are views of it (MNIST: one float32 array, no second copy).
"""
from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .losses import REGRESSION_LOSSES


@dataclass
class Standardizer:
    """``z = (x − mean) / std`` column by column; ``inverse`` maps back."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X, chunk=8192):
        """Mean and std of the rows of ``X`` (N, d), accumulated in float64 by chunks."""
        total = np.zeros(X.shape[1])
        squares = np.zeros(X.shape[1])
        for start in range(0, len(X), chunk):
            block = X[start:start + chunk].astype(np.float64)
            total += block.sum(axis=0)
            squares += np.square(block).sum(axis=0)
        mean = total / max(len(X), 1)
        var = np.maximum(squares / max(len(X), 1) - mean ** 2, 0.0)
        std = np.sqrt(var)
        std[std < 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
        return cls(mean, std)

    def apply(self, X, out=None):
        """Standardize ``X`` (into ``out``, which may be ``X`` itself)."""
        out = np.empty_like(X) if out is None else out
        np.subtract(X, self.mean.astype(X.dtype), out=out)
        out /= self.std.astype(X.dtype)
        return out

    def inverse(self, Z):
        return Z * self.std.astype(Z.dtype) + self.mean.astype(Z.dtype)


@dataclass
class Splits:
    """The arrays a run trains, validates and reports on.

    ``X_*`` : (n, d) float; ``y_*`` : (n,) int labels or (n, k) float targets (standardized when
    ``target_scaler`` is set); ``test_rows`` : row numbers of the test rows in their source (the data
    set's own test file, or the single file they were drawn from).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    test_rows: np.ndarray
    task: str
    class_names: list
    feature_names: list
    n_outputs: int
    standardizer: Standardizer = None
    target_scaler: Standardizer = None
    target_names: list = None
    train_rows: np.ndarray = None
    val_rows: np.ndarray = None

    def rows(self, split):
        """Row numbers in their source of the ``train``, ``val`` or ``test`` rows."""
        return {"train": self.train_rows, "val": self.val_rows, "test": self.test_rows}[split]

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
    chosen = rows[rng.permutation(len(rows))[:int(round(fraction * len(rows)))]]
    signs = rng.choice([-1.0, 1.0], size=(len(chosen), 1))
    y = y.copy()
    y[chosen] += signs * 10 * y[rows].std(axis=0)
    return y


def prepare(dataset, rng, validation_split=0.1, test_split=0.2, standardize=None,
            dtype=np.float32, standardize_target=True, corrupt_fraction=0.0, n_outputs=None):
    """Split, convert and standardize ``dataset`` into :class:`Splits`.

    ``rng`` is the run's split generator; ``standardize=None`` takes the data set's default (true
    for tabular data, false for images); ``corrupt_fraction`` corrupts that share of the
    non-test regression targets (never the test rows).
    """
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

    features = _to_float(dataset.X, np.concatenate([train_rows, val_rows]), dataset.feature_scale, dtype)
    X_train, X_val = features[:len(train_rows)], features[len(train_rows):]
    if own_test:
        X_test = _to_float(dataset.X_test, test_rows, dataset.feature_scale, dtype)
        y_test = dataset.y_test
    else:
        X_test = _to_float(dataset.X, test_rows, dataset.feature_scale, dtype)
        y_test = y[test_rows]

    standardize = dataset.standardize_default if standardize is None else standardize
    standardizer = None
    if standardize:
        standardizer = Standardizer.fit(X_train)
        for block in (features, X_test):
            standardizer.apply(block, out=block)

    y_train, y_val = y[train_rows], y[val_rows]
    target_scaler = None
    if not classification and standardize_target:
        target_scaler = Standardizer.fit(y_train)
        y_train, y_val, y_test = (target_scaler.apply(t.astype(np.float64)) for t in (y_train, y_val, y_test))
    if n_outputs is None:
        n_outputs = len(dataset.class_names) if classification else y.shape[1]
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test, test_rows, dataset.task,
                  dataset.class_names, dataset.feature_names, n_outputs, standardizer, target_scaler,
                  dataset.target_names, train_rows, val_rows)


def _to_float(X, rows, scale, dtype, chunk=8192):
    """``X[rows] · scale`` as a new ``dtype`` array, converted a chunk of rows at a time.

    Never holds more than one chunk of the source (e.g. uint8 pixels) besides the result.
    """
    out = np.empty((len(rows),) + X.shape[1:], dtype=dtype)
    factor = np.dtype(dtype).type(scale)
    for start in range(0, len(rows), chunk):
        picked = np.take(X, rows[start:start + chunk], axis=0)
        if scale == 1.0:
            np.copyto(out[start:start + chunk], picked, casting="unsafe")
        else:
            np.multiply(picked, factor, out=out[start:start + chunk])
    return out


def class_targets(labels, loss_config, n_outputs, dtype):
    """Class labels as a loss takes them: encoded rows for a regression loss, else the labels."""
    encoding = loss_config["target_encoding"]
    if encoding is not None and loss_config["name"] in REGRESSION_LOSSES:
        return encode_targets(labels, n_outputs, encoding, dtype)
    return labels


def encode_targets(labels, n_classes, encoding, dtype=np.float32):
    """Integer labels ``(N,)`` as ``one_hot`` rows (0/1) or ``plus_minus_one`` rows (±1), ``(N, K)``."""
    rows = np.zeros((len(labels), n_classes), dtype=dtype)
    rows[np.arange(len(labels)), labels] = 1
    if encoding == "plus_minus_one":
        rows = 2 * rows - 1
    return rows
