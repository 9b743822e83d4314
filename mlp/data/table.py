"""Tables as practitioners have them: CSV cells that are numbers, text, or missing.

A CSV file (with a header row, gzipped or not) is read row by row into :class:`Cells`: one float64
matrix ``X`` (N, C) holding every cell that is a number (by ``float()``'s rules), NaN where a cell is
missing or text; the text cells kept by column and row; and the columns' names. A row whose cells
are all numbers goes into ``X`` in one step (a 110 MB numeric CSV loads as before); only a row with
text or missing cells is looked at cell by cell.

Missing cells are written, after stripping blanks, as one of :data:`MISSING_MARKERS`:
an empty cell, ``NA``, ``N/A``, ``NaN``, ``nan``, ``null``, ``None`` or ``?``.
"""

import csv
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, shown
from ..io.files import read_bytes

MISSING_MARKERS = ("", "NA", "N/A", "NaN", "nan", "null", "None", "?")
_MISSING = frozenset(MISSING_MARKERS)


@dataclass
class Cells:
    """Feature cells of N rows.

    ``X`` : (N, C) float64, NaN where a cell is missing or text; ``names`` : the C column names
    (None: columns known by position only); ``text`` : column index → {row → the text of a cell that
    is not a number}; ``source`` names the rows in messages and ``lines`` holds each row's line in its
    file (None for arrays).
    """

    X: np.ndarray
    names: list | None = None
    text: dict = field(default_factory=dict)
    source: str = "the rows"
    lines: np.ndarray | None = None

    @property
    def shape(self):
        return self.X.shape

    def __len__(self):
        return len(self.X)

    def __array__(self, dtype=None, copy=None):
        """The numbers (NaN where a cell is missing or text), for code that wants an array."""
        return self.X if dtype is None else self.X.astype(dtype)

    def where(self, row):
        """``file, line L`` or ``source: row r`` for messages."""
        return f"{self.source}, line {int(self.lines[row])}" if self.lines is not None else f"{self.source}: row {row}"

    def subset(self, rows):
        """The cells of ``rows`` (an increasing index array), renumbered from 0."""
        renumber = {int(old): new for new, old in enumerate(rows)}
        text = {j: {renumber[r]: v for r, v in cells.items() if r in renumber} for j, cells in self.text.items()}
        lines = None if self.lines is None else self.lines[rows]
        return Cells(self.X[rows], self.names, {j: t for j, t in text.items() if t}, self.source, lines)

    def without_column(self, column):
        """The cells without ``column``."""
        text = {(j if j < column else j - 1): t for j, t in self.text.items() if j != column}
        names = None if self.names is None else [n for j, n in enumerate(self.names) if j != column]
        return Cells(np.delete(self.X, column, axis=1), names, text, self.source, self.lines)

    def missing(self, column):
        """Rows whose cell of ``column`` is missing (NaN and not text), as a boolean (N,)."""
        missing = np.isnan(self.X[:, column]) if self.X.dtype.kind == "f" else np.zeros(len(self.X), bool)
        for row in self.text.get(column, {}):
            missing[row] = False
        return missing


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


def _cell_by_cell(cells, row, X_row, text):
    """Fill ``X_row`` from ``cells`` one at a time: numbers, missing markers (NaN), text (kept)."""
    for j, cell in enumerate(cells):
        stripped = cell.strip()
        if stripped in _MISSING:
            X_row[j] = np.nan
            continue
        try:
            X_row[j] = float(stripped)
        except ValueError:
            X_row[j] = np.nan
            text.setdefault(j, {})[row] = stripped


def read_csv_columns(path, choose):
    """A CSV file with a header row, read row by row: ``(Cells, kept)``.

    ``choose(header)`` (the header's cells, stripped) returns ``(columns, names, keep)``: the indices
    of the columns read into the :class:`Cells` (``names`` name them), and the index of a column
    whose stripped cells come back as the list ``kept`` (or None). A header that names a column
    twice is an error naming it. No list of every row is built. Blank rows at the end are ignored;
    anywhere else they are an error naming their line, as is a row of the wrong length.
    """
    # UTF-8 with or without a byte-order mark; bytes that are not UTF-8 become U+FFFD (and then read
    # as text, which the feature transform names as not a number)
    raw = read_bytes(path, DataError, "data file").decode("utf-8-sig", errors="replace")
    records = _csv_records(path, raw)
    header = [cell.strip() for cell in next(records, [])]
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: the header names column {shown(name)} twice; column names must be unique")
        seen.add(name)
    columns, names, keep = choose(header)
    X = np.empty((raw.count("\n") + 1, len(columns)))  # rows at most; rows never filled cost no memory
    n, kept, blank, text = 0, [], [], {}
    for row in records:
        if not any(cell.strip() for cell in row):
            blank.append(row)  # dropped if only blank rows follow
            continue
        for pending in [*blank, row]:
            if len(pending) != len(header):
                raise DataError(f"{path}, line {n + 2}: {len(pending)} fields, but the header has {len(header)}")
            cells = [pending[j] for j in columns]
            try:
                X[n] = cells  # every cell a number: one step
            except ValueError:
                _cell_by_cell(cells, n, X[n], text)
            if keep is not None:
                kept.append(pending[keep].strip())
            n += 1
        blank.clear()
    X = X[:n]
    # "nan" and "NaN" parse as numbers too: they are missing cells; "inf" is an error (a chunk at a time)
    for start in range(0, len(X), 8192):
        infinite = np.isinf(X[start : start + 8192])
        if infinite.any():
            row, j = (int(v) for v in np.argwhere(infinite)[0])  # the first in the file, row by row
            raise DataError(
                f"{path}, line {start + row + 2}, column {shown(names[j])}: {X[start + row, j]} is not a finite number"
            )
    return Cells(X, list(names), text, str(path), np.arange(2, n + 2)), kept
