"""The machinery of API results: a frozen wrapper of a command's JSON record.

The record (the dict ``superpod <command> --json`` prints) is the source of truth;
a result exposes its main figures as typed, documented attributes (:class:`Figure`),
``.to_dict()`` (exactly the CLI's JSON object), ``.to_frame()`` (a pandas DataFrame; pandas
is the optional extra ``superpod[frames]``) and ``.explain()`` (where the numbers come from,
as text). ``result["key"]`` reads the record, so scripts written against the dict API keep working.
The result types of each command are in :mod:`superpod.api.results`.
"""

from __future__ import annotations

import math
from typing import Any, Generic, Iterator, Sequence, TypeVar, overload

from pydantic import BaseModel

from superpod.errors import SuperpodError

T = TypeVar("T")


def clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars and arrays -> Python, models -> dicts."""
    if isinstance(obj, BaseModel):
        return clean(obj.model_dump())
    if isinstance(obj, (Result, Results)):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "tolist") and getattr(obj, "ndim", 0) > 0:  # numpy array
        return clean(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def pandas():
    """pandas, or a one-line error saying how to get it."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the dev extra
        raise SuperpodError("to_frame() needs pandas: pip install 'superpod[frames]'") from None
    return pd


def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one level of ``a.b`` keys (lists stay as cells)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= flat(v, f"{prefix}{k}.")
        else:
            out[prefix + k] = v
    return out


def text_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (first column left-aligned, the rest right-aligned)."""
    cells = [list(map(str, columns))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [title] if title else []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Figure(Generic[T]):
    """A typed attribute read from the record at ``path`` (``"decode", "tpot_s"``); ``doc``
    says what it means and its unit. Missing keys read as None."""

    def __init__(self, *path: str, doc: str, kind: type[T] = float):  # type: ignore[assignment]
        self.path, self.kind = path, kind
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type) -> Figure[T]: ...
    @overload
    def __get__(self, obj: Result, owner: type) -> T: ...

    def __get__(self, obj, owner):
        if obj is None:
            return self
        v: Any = obj.record
        for p in self.path:
            if not isinstance(v, dict) or p not in v:
                return None
            v = v[p]
        return v


class Result:
    """Base: a frozen wrapper of one command record."""

    __slots__ = ("record",)
    record: dict[str, Any]

    def __init__(self, record: dict[str, Any]):
        object.__setattr__(self, "record", record)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __reduce__(self):
        return type(self), (self.record,)

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __contains__(self, key: str) -> bool:
        return key in self.record

    def keys(self):
        return self.record.keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.record.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        inner = ", ".join(f"{k}={v!r}" for k, v in list(shown.items())[:6])
        return f"{type(self).__name__}({inner}, ...)"

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` object (a fresh, JSON-safe copy)."""
        return clean(self.record)

    def row(self) -> dict[str, Any]:
        """This result as one flat frame row (nested keys joined with dots)."""
        return flat(self.to_dict())

    def to_frame(self):
        """A one-row pandas DataFrame of the record's flattened keys."""
        return pandas().DataFrame([self.row()])

    def explain(self) -> str:
        """The record's scalar figures, one a line."""
        return "\n".join(f"{k}: {v:.6g}" if isinstance(v, float) else f"{k}: {v}"
                         for k, v in self.row().items() if not isinstance(v, list))


R = TypeVar("R", bound=Result)


class Results(Sequence[R]):
    """Several results (one per system, build or row): iterable, indexable, one frame row each."""

    __slots__ = ("items", "key", "extra")

    def __init__(self, items: Sequence[R], key: str = "systems", extra: dict[str, Any] | None = None):
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "extra", extra or {})

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __reduce__(self):
        return type(self), (self.items, self.key, self.extra)

    @overload
    def __getitem__(self, i: int) -> R: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[R]: ...

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[R]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.items)!r})"

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` object: ``{key: [record, ...], **extra}`` (in ``extra``'s order
        when it holds ``key``)."""
        items = [r.to_dict() for r in self.items]
        if self.key not in self.extra:
            return {self.key: items, **clean(self.extra)}
        return {k: items if k == self.key else clean(v) for k, v in self.extra.items()}

    def to_frame(self):
        """One row per item."""
        return pandas().DataFrame([r.row() for r in self.items])

    def explain(self) -> str:
        return "\n\n".join(r.explain() for r in self.items)
