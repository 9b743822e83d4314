"""What is done to each raw column of a table before the network sees it.

Fitted on the training rows of a CSV table (:class:`~mlp.data.table.Cells`), an :class:`Encoding`
holds one :class:`ColumnPlan` per input column, in the file's order:

* a **numeric** column is kept as it is; a missing cell is an error (``data.missing: error``) or is
  filled with the training rows' median or mean, or 0 (``data.impute.numeric``);
* a **categorical** column (``data.categorical``: ``auto`` takes the columns whose non-missing cells
  are all text) becomes one 0/1 column per category seen in the training rows, in sorted order; a
  missing cell takes the training rows' most frequent category, or its own category ``__missing__``
  (``data.impute.categorical``); a category the training rows never had is all zeros (and counted in
  a warning), like scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``;
* with ``data.impute.indicator``, a column that had missing training cells adds one 0/1 column
  (``<name>_missing``).

The network's inputs are ``[numeric columns | indicator columns | one-hot columns]``; only the
numeric ones are standardized afterwards. A column of numbers with a few text cells is an error
naming the first one (a typo must not become a category), as is a categorical column with more than
``data.max_categories`` categories (likely an ID).
"""

import warnings
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import DataError, shown
from .table import MISSING_MARKERS

MISSING_CATEGORY = "__missing__"


class DataWarning(UserWarning):
    """Something about the data worth knowing that does not stop the run."""


def cell_text(cells, column, row):
    """A cell as text: its text, or its number written shortest (``4.0`` → ``"4"``), or ``None`` if missing."""
    text = cells.text.get(column, {}).get(row)
    if text is not None:
        return text
    value = cells.X[row, column]
    return None if np.isnan(value) else format(value, "g")


@dataclass
class ColumnPlan:
    """One input column: its ``kind`` (``numeric`` or ``categorical``), the value a missing cell
    takes (``fill``; None: none was needed or allowed), whether it has a missing-indicator column,
    and a categorical column's ``levels``."""

    name: str
    kind: str
    fill: float | str | None = None
    indicator: bool = False
    levels: list | None = None

    def describe(self, standardized):
        """What is done to the column, for ``mlp summary`` and reports."""
        if self.kind == "categorical":
            done = f"one-hot, {len(self.levels or [])} levels"
            imputed = f", missing → {self.fill!r}" if self.fill is not None else ""
        else:
            done = "numeric" + (", standardized" if standardized else "")
            imputed = f", missing → {self.fill:g}" if self.fill is not None else ""
        return done + imputed + (", missing indicator" if self.indicator else "")


@dataclass
class Encoding:
    """The plans of the input columns and the missing-cell policy (``error`` or ``impute``)."""

    columns: list
    missing: str = "error"

    @property
    def names(self):
        return [plan.name for plan in self.columns]

    @property
    def numeric(self):
        return [plan for plan in self.columns if plan.kind == "numeric"]

    def output_names(self):
        """The network's inputs: numeric columns, indicators, then ``<column>=<category>``."""
        names = [plan.name for plan in self.numeric]
        names += [f"{plan.name}_missing" for plan in self.columns if plan.indicator]
        for plan in self.columns:
            if plan.kind == "categorical":
                names += [f"{plan.name}={level}" for level in plan.levels]
        return names

    # ------------------------------------------------------------------ fitting

    @classmethod
    def fit(cls, cells, train_rows, options, target=None, id_column=None):
        """Plans for the columns ``options`` selects, statistics from ``train_rows`` only.

        ``options`` has the ``data`` section's keys: ``features``, ``ignore``, ``categorical``,
        ``missing``, ``impute`` (``numeric``, ``categorical``, ``indicator``) and ``max_categories``.
        """
        selected = _select(cells, options, target, id_column)
        kinds = {column: _kind(cells, column, options) for column in selected}
        missing_of = {column: cells.missing(column) for column in selected}
        if options.missing == "error":
            found = [(int(np.argmax(m)), column) for column, m in missing_of.items() if m.any()]
            if found:
                row, column = min(found)  # the first in the file, row by row
                raise DataError(
                    f"{cells.where(row)}, column {shown(cells.names[column])}: missing value; set data.missing: "
                    f"impute to fill missing cells ({', '.join(repr(m) for m in MISSING_MARKERS)}) from the "
                    f"training rows"
                )
        plans = []
        for column in selected:
            name, kind, missing = cells.names[column], kinds[column], missing_of[column]
            plan = ColumnPlan(name, kind)
            training_missing = bool(missing[train_rows].any())
            if kind == "numeric":
                if options.missing == "impute":
                    plan.fill = _numeric_fill(cells.X[train_rows, column], options.impute.numeric)
            else:
                values = [cell_text(cells, column, row) for row in train_rows]
                present = [value for value in values if value is not None]
                if options.missing == "impute":
                    plan.fill = _categorical_fill(present, options.impute.categorical)
                levels = set(present)
                if training_missing and plan.fill is not None:
                    levels.add(plan.fill)
                plan.levels = sorted(levels)
                if len(plan.levels) > options.max_categories:
                    raise DataError(
                        f"{cells.source}: column {shown(name)} has {len(plan.levels)} categories in the training "
                        f"rows, more than data.max_categories ({options.max_categories}): likely an ID or free "
                        f"text; list it in data.ignore or data.id_column, or raise data.max_categories"
                    )
            plan.indicator = bool(options.impute.indicator and training_missing and options.missing == "impute")
            plans.append(plan)
        if not plans:
            raise DataError(f"{cells.source}: no feature columns are left after data.features and data.ignore")
        return cls(plans, options.missing)

    # ------------------------------------------------------------------ applying

    def encode(self, cells, rows=None):
        """The encoded rows ``(n, width)`` float64 of ``cells`` (its columns matched by name)."""
        rows = np.arange(len(cells.X)) if rows is None else np.asarray(rows)
        position = self.positions(cells)
        numeric, indicators, onehots = [], [], []
        unknown = {}
        for plan in self.columns:
            column = position[plan.name]
            missing = cells.missing(column)[rows]
            if plan.kind == "numeric":
                text = cells.text.get(column, {})
                if text:
                    taken = set(rows.tolist())
                    for row in sorted(r for r in text if r in taken):
                        raise DataError(
                            f"{cells.where(row)}, column {shown(plan.name)}: {shown(text[row])} is not a number"
                        )
                values = cells.X[rows, column].astype(np.float64)
                if missing.any():
                    values[missing] = self._fill(plan, cells, column, rows[missing])
                numeric.append(values)
            else:
                index = {level: k for k, level in enumerate(plan.levels)}
                block = np.zeros((len(rows), len(plan.levels)))
                for k, row in enumerate(rows):
                    value = cell_text(cells, column, int(row))
                    if value is None:
                        value = self._fill(plan, cells, column, [row])
                    if value in index:
                        block[k, index[value]] = 1.0
                    else:
                        unknown.setdefault(plan.name, []).append(value)
                onehots.append(block)
            if plan.indicator:
                indicators.append(missing.astype(np.float64))
        if unknown:
            detail = "; ".join(
                f"column {name!r}: {len(values)} ({shown(sorted(set(values)), items=3)})"
                for name, values in unknown.items()
            )
            warnings.warn(
                f"{cells.source}: categories the training rows never had, encoded as all zeros — {detail}",
                DataWarning,
                stacklevel=2,
            )
        parts = [np.stack(numeric, axis=1)] if numeric else []
        parts += [np.stack(indicators, axis=1)] if indicators else []
        return np.concatenate(parts + onehots, axis=1) if parts or onehots else np.zeros((len(rows), 0))

    def _fill(self, plan, cells, column, missing_rows):
        if plan.fill is None:
            row = int(missing_rows[0])
            hint = (
                "set data.missing: impute when training"
                if self.missing == "error"
                else "this column had no missing cells to learn a fill from"
            )
            raise DataError(f"{cells.where(row)}, column {shown(plan.name)}: missing value ({hint})")
        return plan.fill

    def positions(self, cells):
        """Where each of the model's columns is in ``cells``: matched by name, or by position for arrays."""
        if cells.names is None:  # arrays: the columns in the order the model takes them
            if cells.X.shape[1] != len(self.columns):
                raise DataError(f"{cells.source}: {cells.X.shape[1]} columns, the model takes {len(self.columns)}")
            return {plan.name: j for j, plan in enumerate(self.columns)}
        position = {name: j for j, name in enumerate(cells.names)}
        missing = [plan.name for plan in self.columns if plan.name not in position]
        if missing:
            raise DataError(
                f"{cells.source}: missing feature column {shown(missing[0])} "
                f"(the model needs {len(self.columns)} columns)"
            )
        return position

    def plain_for(self, cells):
        """Whether encoding ``cells`` would only take its columns as they are (all numeric, in order,
        nothing missing, no text): then the rows are used without an encoded copy."""
        return (
            not cells.text
            and cells.names is not None
            and self.names == list(cells.names)
            and all(plan.kind == "numeric" and not plan.indicator for plan in self.columns)
            and not any(np.isnan(cells.X[start : start + 8192]).any() for start in range(0, len(cells.X), 8192))
        )

    def to_json(self):
        return {"missing": self.missing, "columns": [asdict(plan) for plan in self.columns]}

    @classmethod
    def from_json(cls, data):
        """The encoding a model file holds; ``ValueError`` for anything it could not have written."""
        plans = [ColumnPlan(**plan) for plan in data["columns"]]
        for plan in plans:
            fine = isinstance(plan.name, str) and isinstance(plan.indicator, bool)
            if plan.kind == "categorical":
                fine = fine and isinstance(plan.levels, list) and all(isinstance(v, str) for v in plan.levels)
                fine = fine and (plan.fill is None or isinstance(plan.fill, str))
            else:
                fine = fine and plan.kind == "numeric" and plan.levels is None
                fine = fine and (plan.fill is None or isinstance(plan.fill, (int, float)) and np.isfinite(plan.fill))
            if not fine:
                raise ValueError(f"column plan {shown(asdict(plan))}")
        if data["missing"] not in ("error", "impute") or not plans:
            raise ValueError(f"missing policy {shown(data['missing'])}")
        return cls(plans, data["missing"])


def _select(cells, options, target, id_column):
    """Indices of the feature columns: ``data.features``, else all but target, id and ignored."""
    names = cells.names
    for key in ("features", "ignore", "categorical"):
        listed = getattr(options, key)
        for name in listed if isinstance(listed, list) else []:
            if name not in names:
                raise DataError(
                    f"{cells.source}: data.{key} names column {shown(name)}, which the file does not "
                    f"have (or which is the target or the id column); columns: {shown(names, items=30)[1:-1]}"
                )
    if options.features is not None:
        chosen = [name for name in options.features if name not in options.ignore]
    else:
        chosen = [name for name in names if name not in options.ignore and name not in (target, id_column)]
    return sorted(names.index(name) for name in chosen)


def _kind(cells, column, options):
    name = cells.names[column]
    if isinstance(options.categorical, list):
        if name in options.categorical:
            return "categorical"
        text = cells.text.get(column)
        if text:
            row, cell = min(text.items())
            raise DataError(
                f"{cells.where(row)}, column {shown(name)}: {shown(cell)} is not a number (list the "
                f"column in data.categorical if its cells are categories)"
            )
        return "numeric"
    text = cells.text.get(column, {})
    numbers = int(np.count_nonzero(~np.isnan(cells.X[:, column])))
    if not text:
        return "numeric"
    if numbers == 0:
        return "categorical"
    if len(text) <= numbers:  # mostly numbers: the text cells are typos, not categories
        row, cell = min(text.items())
        raise DataError(
            f"{cells.where(row)}, column {shown(name)}: {shown(cell)} is not a number, but {numbers} "
            f"of the column's cells are; fix the cell, or list the column in data.categorical"
        )
    row = int(np.argmax(~np.isnan(cells.X[:, column])))
    raise DataError(
        f"{cells.where(row)}, column {shown(name)}: {format(cells.X[row, column], 'g')} is a number in "
        f"a column of text; list the column in data.categorical to take its cells as categories"
    )


def _numeric_fill(values, how):
    present = values[~np.isnan(values)]
    if how == "constant" or present.size == 0:
        return 0.0
    return float(np.median(present) if how == "median" else np.mean(present))


def _categorical_fill(present, how):
    if how == "constant" or not present:
        return MISSING_CATEGORY
    counts = Counter(present)
    most = max(counts.values())
    return min(value for value, count in counts.items() if count == most)  # ties: the first in sorted order
