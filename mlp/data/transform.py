"""The feature transform: raw rows in, the network's input out — the one place it happens.

A :class:`FeatureTransform` is fitted on the training rows and saved in the model file; training,
``evaluate`` and ``predict`` all apply it, so a model is always fed exactly as it was trained:

    x  = encode(row)                    a table's columns matched by name, missing cells filled,
                                        categories one-hot (:mod:`mlp.data.encoding`); arrays as they are
    z  = (x · scale − mean) / std       numeric columns, in the model's dtype

where ``scale`` is the data's own unit (1/255 for 8-bit pixels, else 1), and ``mean`` and ``std``
come from the training rows only (a constant column gets std 1); without standardization the
network sees ``x · scale``; indicator and one-hot columns are never standardized. Every value that
comes out is finite, or the cell it came from is named.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, shown
from .encoding import Encoding
from .table import Cells

CHUNK_ROWS = 8192


class ScaledRows:
    """Rows of small integers ``(N, d)`` (8-bit pixels) kept as they came and read as ``X · scale`` in
    ``dtype``: indexing gives float rows, and the trainer's batches are gathered and scaled in one
    pass (:func:`mlp.kernels.gather_rows`), so the float copy of the whole set never exists (MNIST's
    training rows: 42 MB of uint8 instead of 169 MB of float32). The values are those
    :meth:`FeatureTransform.convert` gives, bit for bit (the same cast and product)."""

    def __init__(self, raw, scale, dtype):
        self.raw = raw
        self.dtype = np.dtype(dtype)
        self.factor = self.dtype.type(scale)

    @property
    def shape(self):
        return self.raw.shape

    @property
    def ndim(self):
        return self.raw.ndim

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, key):
        return np.multiply(self.raw[key], self.factor, dtype=self.dtype)

    def __array__(self, dtype=None, copy=None):
        values = self[:]
        return values if dtype is None else values.astype(dtype)

    @staticmethod
    def fits(numbers, standardize):
        """Whether rows of ``numbers`` can be kept as they came: small integers (at most 16 bits,
        never out of float range once scaled) and no standardization to fit on them."""
        return (
            isinstance(numbers, np.ndarray) and numbers.dtype.kind in "iu" and numbers.itemsize <= 2 and not standardize
        )


def largest_magnitude(rows):
    """``max |x|`` over network input rows ``(N, d)`` (0 without rows); of :class:`ScaledRows` from
    their integers, without the float copy."""
    if isinstance(rows, ScaledRows):
        raw = rows.raw
        return max(abs(int(raw.min())), abs(int(raw.max()))) * float(rows.factor) if raw.size else 0.0
    return float(np.max(np.abs(rows))) if rows.size else 0.0


@dataclass
class Standardizer:
    """``z = (x − mean) / std`` column by column; ``inverse`` maps back."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X, chunk=CHUNK_ROWS):
        """Mean and std of the rows of ``X`` (N, d), accumulated in float64 by chunks."""
        total = np.zeros(X.shape[1])
        squares = np.zeros(X.shape[1])
        for start in range(0, len(X), chunk):
            block = X[start : start + chunk].astype(np.float64)
            total += block.sum(axis=0)
            squares += np.square(block).sum(axis=0)
        mean = total / max(len(X), 1)
        var = np.maximum(squares / max(len(X), 1) - mean**2, 0.0)
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

    def to_json(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data):
        return (
            None
            if data is None
            else cls(np.array(data["mean"], dtype=np.float64), np.array(data["std"], dtype=np.float64))
        )


@dataclass
class FeatureTransform:
    """Raw rows (an array ``(N, d)`` or a table's :class:`~mlp.data.table.Cells`) → the network's
    input ``(N, width)`` in a float dtype.

    ``feature_names`` : the network's inputs, in order; ``scale`` : the data's unit; ``standardizer``
    : over the first ``n_numeric`` inputs, fitted on the training rows, or ``None``; ``encoding`` :
    what is done to each column of a table, or ``None`` for rows of numbers taken by position (or, in
    a CSV, by the names ``feature_names``).
    """

    feature_names: list
    scale: float = 1.0
    standardizer: Standardizer | None = None
    encoding: Encoding | None = None

    @property
    def width(self):
        return len(self.feature_names)

    @property
    def n_numeric(self):
        """How many of the first inputs are numeric columns (the standardized ones)."""
        return self.width if self.encoding is None else len(self.encoding.numeric)

    @property
    def input_columns(self):
        """The raw columns the model reads, by name."""
        return self.feature_names if self.encoding is None else self.encoding.names

    def unstandardize(self, inputs):
        """Network inputs ``(N, width)`` back to the data's units × ``scale`` (the standardization
        undone), in float64 — for rows of numbers (no encoded columns)."""
        inputs = np.asarray(inputs, dtype=np.float64)
        return inputs if self.standardizer is None else self.standardizer.inverse(inputs)

    def fit(self, converted_train, standardize):
        """Fit the standardization on the training rows, already through :meth:`convert`."""
        n = self.n_numeric
        self.standardizer = Standardizer.fit(converted_train[:, :n]) if standardize and n else None
        return self

    def numbers(self, X, rows=None):
        """``(numbers, rows)``: what :meth:`convert` takes for raw rows ``X`` — the array itself, or a
        table's encoded rows (then ``rows`` is spent: None)."""
        if not isinstance(X, Cells):
            if self.encoding is None or self.encoding.plain_for(Cells(np.asarray(X, float), self.encoding.names)):
                return X, rows
            return self.encoding.encode(Cells(np.asarray(X, np.float64)), rows), None
        if self.encoding is None:
            columns = self.columns_in(X.names, X.source) if X.names is not None else list(range(X.X.shape[1]))
            for column in columns:
                text = X.text.get(column)
                missing = X.missing(column)
                if text or missing.any():
                    row = min(text) if text else int(np.argmax(missing))
                    cell = shown(text[row]) if text else "a missing cell"
                    name = X.names[column] if X.names is not None else column
                    raise DataError(f"{X.where(row)}, column {shown(name)}: {cell} is not a number")
            return X.X[:, columns] if columns != list(range(X.X.shape[1])) else X.X, rows
        if self.encoding.plain_for(X):
            return X.X, rows
        return self.encoding.encode(X, rows), None

    def convert(self, X, dtype, rows=None):
        """``X[rows] · scale`` as a new ``dtype`` array (every row without ``rows``); ``X`` holds
        numbers (see :meth:`numbers`).

        Converted a chunk of rows at a time, so a large integer source (MNIST's uint8 pixels) never
        has a second full-size copy besides the result.
        """
        X = np.asarray(X)
        rows = np.arange(len(X)) if rows is None else rows
        out = np.empty((len(rows),) + X.shape[1:], dtype=dtype)
        factor = np.dtype(dtype).type(self.scale)
        with np.errstate(over="ignore", invalid="ignore"):  # found by check_finite, naming the cell
            for start in range(0, len(rows), CHUNK_ROWS):
                picked = np.take(X, rows[start : start + CHUNK_ROWS], axis=0)
                if self.scale == 1.0:
                    np.copyto(out[start : start + CHUNK_ROWS], picked, casting="unsafe")
                else:
                    np.multiply(picked, factor, out=out[start : start + CHUNK_ROWS])
        return out

    def standardize(self, converted):
        """Standardize the numeric columns of converted rows in place (nothing without a standardizer)."""
        if self.standardizer is not None:
            numeric = converted[:, : self.n_numeric]
            with np.errstate(over="ignore", invalid="ignore"):  # found by check_finite, naming the cell
                self.standardizer.apply(numeric, out=numeric)
        return converted

    def check_finite(self, transformed, X, rows=None, source="the data"):
        """``DataError`` naming the first cell of ``X`` (numbers, finite) whose value became infinite on
        the way in: too large for the model's dtype (``1e308`` in float32) or after standardization."""
        for start in range(0, len(transformed), CHUNK_ROWS):  # a chunk's mask at a time: no full-size copy
            bad = ~np.isfinite(transformed[start : start + CHUNK_ROWS])
            if bad.any():
                row, column = (int(v) for v in np.argwhere(bad)[0])
                break
        else:
            return
        row += start
        source_row = row if rows is None else int(rows[row])
        raw = np.asarray(X)[source_row, column].item()
        raise DataError(
            f"{source}: row {source_row}, column {shown(self.feature_names[column])}: {raw!r} is out of range "
            f"for {transformed.dtype} (the model's dtype) once scaled; rescale that column, or use training.dtype: "
            f"float64"
        )

    def apply(self, X, dtype, rows=None, source=None):
        """The network's input for raw rows ``X`` (or ``X[rows]``); ``source`` names them in messages."""
        source = source or (X.source if isinstance(X, Cells) else "the data")
        if not isinstance(X, Cells):
            X = np.asarray(X)
            if X.ndim != 2 or X.shape[1] != len(self.input_columns):
                raise DataError(
                    f"{source}: the model takes rows of {len(self.input_columns)} features, got shape {X.shape}"
                )
        numbers, rows = self.numbers(X, rows)
        converted = self.convert(numbers, dtype, rows)
        self.check_finite(converted, numbers, rows, source)
        transformed = self.standardize(converted)
        self.check_finite(transformed, numbers, rows, source)
        return transformed

    def columns_in(self, header, source):
        """Positions of the model's columns in a CSV ``header`` (matched by name)."""
        if not header:
            raise DataError(f"{source}: empty file")
        position = {name: j for j, name in enumerate(header)}
        missing = [name for name in self.input_columns if name not in position]
        if missing:
            raise DataError(
                f"{source}: missing feature column {shown(missing[0])} (the model needs {len(self.input_columns)} columns)"
            )
        return [position[name] for name in self.input_columns]

    def describe(self, standardized=None):
        """``(column, what is done to it)`` for every raw input column (``standardized``: whether the
        numeric columns are, when the transform is not fitted yet)."""
        standardized = self.standardizer is not None if standardized is None else standardized
        if self.encoding is None:
            done = (
                "numeric"
                + (", standardized" if standardized else "")
                + (f", scaled by {self.scale:g}" if self.scale != 1.0 else "")
            )
            return [(name, done) for name in self.feature_names]
        return [(plan.name, plan.describe(standardized)) for plan in self.encoding.columns]

    def to_metadata(self):
        """The model file's fields for the transform."""
        return {
            "feature_names": list(self.feature_names),
            "feature_scale": self.scale,
            "standardizer": None if self.standardizer is None else self.standardizer.to_json(),
            "encoding": None if self.encoding is None else self.encoding.to_json(),
        }

    @classmethod
    def from_metadata(cls, metadata):
        encoding = metadata.get("encoding")
        return cls(
            list(metadata["feature_names"]),
            float(metadata["feature_scale"]),
            Standardizer.from_json(metadata["standardizer"]),
            None if encoding is None else Encoding.from_json(encoding),
        )
