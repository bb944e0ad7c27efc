"""A chunk's result columns as the sweep builds them: numbers as numpy arrays, other values as lists.

:func:`.points.evaluate_columns` fills a column for a group of rows at once. A column whose
values are all numbers of one Python type (``float``, ``int`` or ``bool``) is kept as a numpy
array of that type (``float64``, ``int64``, ``bool``), with a validity mask (:class:`Masked`)
where some rows have no value (``None``), so the store builds its Arrow array from the buffer
instead of from one Python object per value; any other column is a list. :func:`as_list` gives
any column back as the list of Python values (``None`` where missing) the row-wise path has:
``float64`` -> ``float``, ``int64`` -> ``int``, ``bool`` -> ``bool``, the same values.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: numpy kinds kept as arrays: bool, signed int, float (each from one Python type, see :func:`array`)
KINDS = "bif"
_INT64 = 1 << 62  # ints kept as int64 stay well inside its range


class Masked:
    """A numeric column with rows that have no value: ``values`` where ``valid``, else None."""

    __slots__ = ("values", "valid")

    def __init__(self, values: np.ndarray, valid: np.ndarray):
        self.values, self.valid = values, valid

    def __len__(self) -> int:
        return len(self.values)

    def tolist(self) -> list:
        return [v if ok else None for v, ok in zip(self.values.tolist(), self.valid.tolist())]


def as_list(col) -> list:
    """A column as a list of Python values (None where a row has none)."""
    return col if isinstance(col, list) else col.tolist()


def value(col, i: int) -> Any:
    """Row ``i`` of a column, as a Python value (None where missing)."""
    if isinstance(col, list):
        return col[i]
    if isinstance(col, Masked):
        return col.values[i].item() if col.valid[i] else None
    return col[i].item()


def array(vals: Sequence) -> np.ndarray | list:
    """``vals`` as a numpy array when they are all floats, all ints (within int64) or all bools;
    else the list itself (mixed types or other values keep the list's own conversion in the store)."""
    if isinstance(vals, np.ndarray):
        return vals if vals.dtype.kind in KINDS else list(vals.tolist())
    kinds = set(map(type, vals))
    if len(kinds) != 1:
        return list(vals)
    (kind,) = kinds
    if kind is float:
        return np.array(vals, dtype=np.float64)
    if kind is bool:
        return np.array(vals, dtype=bool)
    if kind is int and -_INT64 < min(vals) and max(vals) < _INT64:
        return np.array(vals, dtype=np.int64)
    return list(vals)


def const(x: Any, n: int) -> np.ndarray | list:
    """One value for ``n`` rows (an array for a float, bool or int within int64, else a list)."""
    t = type(x)
    if t is float or t is bool or (t is int and -_INT64 < x < _INT64):
        return np.full(n, x, dtype=np.float64 if t is float else bool if t is bool else np.int64)
    return [x] * n


class Builder:
    """The columns of ``n`` rows, filled a group of rows at a time (see the module docstring)."""

    def __init__(self, n: int):
        self.n = n
        self.cols: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.cols

    def get(self, name: str, i: int) -> Any:
        return value(self.cols[name], i)

    def set(self, name: str, vals) -> None:
        """A whole column (one value per row)."""
        self.cols[name] = vals

    def fill(self, name: str, rows: np.ndarray, vals) -> None:
        """``vals[j]`` into row ``rows[j]`` (an index array: ascending, distinct); other rows keep what they
        hold (None if new)."""
        if len(rows) == self.n and name not in self.cols:  # every row, in order
            self.cols[name] = vals
            return
        col = self.cols.get(name)
        if not isinstance(vals, np.ndarray) and (col is None or isinstance(col, Masked)):
            vals = array(vals)  # numbers of one type: as an array too
        arr = isinstance(vals, np.ndarray) and vals.dtype.kind in KINDS
        if col is None and arr:
            values = np.zeros(self.n, dtype=vals.dtype)
            valid = np.zeros(self.n, dtype=bool)
            values[rows], valid[rows] = vals, True
            self.cols[name] = Masked(values, valid)
            return
        if isinstance(col, Masked) and arr and col.values.dtype == vals.dtype:
            col.values[rows], col.valid[rows] = vals, True
            return
        col = self._list(name)
        for i, v in zip(rows.tolist(), as_list(vals)):
            col[i] = v

    def put(self, name: str, i: int, v: Any) -> None:
        """One value into row ``i``."""
        self._list(name)[i] = v

    def _list(self, name: str) -> list:
        col = self.cols.get(name)
        if col is None:
            col = self.cols[name] = [None] * self.n
        elif not isinstance(col, list):
            col = self.cols[name] = as_list(col)
        return col
