"""The feature transform: raw rows in, the network's input out — the one place it happens.

A :class:`FeatureTransform` is fitted on the training rows and saved in the model file; training,
``evaluate`` and ``predict`` all apply it, so a model is always fed exactly as it was trained:

    z = (x · scale − mean) / std        column by column, in the model's dtype

where ``scale`` is the data's own unit (1/255 for 8-bit pixels, else 1), and ``mean`` and ``std``
come from the training rows only (a constant column gets std 1); without standardization the
network sees ``x · scale``. Columns are the ones named ``feature_names``, in that order: a CSV is
read by those names, an array by position.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, shown

CHUNK_ROWS = 8192


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
    """Raw feature rows ``(N, d)`` → the network's input ``(N, d)`` in a float dtype.

    ``feature_names`` : the input columns, in order; ``scale`` : the data's unit; ``standardizer``
    : fitted on the training rows, or ``None`` (no standardization).
    """

    feature_names: list
    scale: float = 1.0
    standardizer: Standardizer | None = None

    @property
    def width(self):
        return len(self.feature_names)

    def fit(self, converted_train, standardize):
        """Fit the standardization on the training rows, already through :meth:`convert`."""
        self.standardizer = Standardizer.fit(converted_train) if standardize else None
        return self

    def convert(self, X, dtype, rows=None):
        """``X[rows] · scale`` as a new ``dtype`` array (every row without ``rows``).

        Converted a chunk of rows at a time, so a large integer source (MNIST's uint8 pixels) never
        has a second full-size copy besides the result.
        """
        X = np.asarray(X)
        rows = np.arange(len(X)) if rows is None else rows
        out = np.empty((len(rows),) + X.shape[1:], dtype=dtype)
        factor = np.dtype(dtype).type(self.scale)
        with np.errstate(over="ignore", invalid="ignore"):  # found below, naming the cell
            for start in range(0, len(rows), CHUNK_ROWS):
                picked = np.take(X, rows[start : start + CHUNK_ROWS], axis=0)
                if self.scale == 1.0:
                    np.copyto(out[start : start + CHUNK_ROWS], picked, casting="unsafe")
                else:
                    np.multiply(picked, factor, out=out[start : start + CHUNK_ROWS])
        return out

    def standardize(self, converted):
        """Standardize converted rows in place (nothing without a standardizer); return them."""
        if self.standardizer is not None:
            with np.errstate(over="ignore", invalid="ignore"):  # found by check_finite, naming the cell
                self.standardizer.apply(converted, out=converted)
        return converted

    def check_finite(self, transformed, X, rows=None, source="the data"):
        """``DataError`` naming the first cell of ``X`` (raw, finite) whose value became infinite on
        the way in: too large for the model's dtype (``1e308`` in float32) or after standardization."""
        bad = ~np.isfinite(transformed)
        if not bad.any():
            return
        row, column = (int(v) for v in np.argwhere(bad)[0])
        source_row = row if rows is None else int(rows[row])
        raw = np.asarray(X)[source_row, column].item()
        raise DataError(
            f"{source}: row {source_row}, column {shown(self.feature_names[column])}: {raw!r} is out of range "
            f"for {transformed.dtype} (the model's dtype) once scaled; rescale that column, or use training.dtype: "
            f"float64"
        )

    def apply(self, X, dtype, rows=None, source="the data"):
        """The network's input for raw rows ``X`` (or ``X[rows]``); ``source`` names them in messages."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.width:
            raise DataError(f"{source}: the model takes rows of {self.width} features, got shape {X.shape}")
        converted = self.convert(X, dtype, rows)
        self.check_finite(converted, X, rows, source)
        transformed = self.standardize(converted)
        self.check_finite(transformed, X, rows, source)
        return transformed

    def columns_in(self, header, source):
        """Positions of the model's columns in a CSV ``header`` (matched by name)."""
        if not header:
            raise DataError(f"{source}: empty file")
        position = {name: j for j, name in enumerate(header)}
        missing = [name for name in self.feature_names if name not in position]
        if missing:
            raise DataError(
                f"{source}: missing feature column {shown(missing[0])} (the model needs {self.width} columns)"
            )
        return [position[name] for name in self.feature_names]

    def to_metadata(self):
        """The model file's fields for the transform (the format of model files so far)."""
        return {
            "feature_names": list(self.feature_names),
            "feature_scale": self.scale,
            "standardizer": None if self.standardizer is None else self.standardizer.to_json(),
        }

    @classmethod
    def from_metadata(cls, metadata):
        return cls(
            list(metadata["feature_names"]),
            float(metadata["feature_scale"]),
            Standardizer.from_json(metadata["standardizer"]),
        )
