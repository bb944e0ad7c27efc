"""The views both faces show: the dashboard (:mod:`superpod.faces.ui`) and the static report (:mod:`superpod.faces.report.html`).

A view is a list of blocks built from the Python API (``superpod.api``; no model logic here):
:class:`Metric` (a headline number), :class:`Chart` (a plotly figure: interactive in the dashboard,
redrawn as SVG/PNG by :mod:`superpod.faces.report.static`), :class:`Table` (columns and rows, a CSV
download) and :class:`Note` (text, or a one-line error the API gave). One module per tab:
``compare``, ``train``, ``serve``, ``scale``, ``evidence`` (claims, validation), ``sweeps``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

import numpy as np

from superpod.errors import SuperpodError

COLORS = ["#c0392b", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


@dataclass
class Metric:
    label: str
    value: str
    help: str | None = None
    delta: str | None = None  #: change from a reference, shown under the value


@dataclass
class Chart:
    key: str  #: file name stem of its downloads
    fig: Any  #: a plotly Figure
    width_in: float = 6.4  #: size of the static (matplotlib) drawing
    height_in: float = 3.6


@dataclass
class Table:
    key: str
    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(self.columns)
        w.writerows(self.rows)
        return buf.getvalue()


@dataclass
class Note:
    text: str
    error: bool = False


Block = Union[Metric, Chart, Table, Note]


@dataclass
class View:
    """The blocks of one view, and the errors met while building it."""

    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> "View":
        self.blocks.extend(blocks)
        return self

    def guard(self, fn: Callable[[], Any], prefix: str = "") -> Any:
        """``fn()``, or None with its one-line SuperpodError message added as an error note."""
        try:
            return fn()
        except SuperpodError as e:
            self.blocks.append(Note(f"{prefix}{e}", error=True))
            return None

    def errors(self) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, Note) and b.error]


def g(x: float | None, unit: str = "") -> str:
    """A number in engineering form: 2.89e17 -> '289 P'."""
    if x is None or not np.isfinite(x):
        return "-"
    for f, p in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= f:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}".strip()


def figure(title: str, x: str = "", y: str = "", logx: bool = False, logy: bool = False, **layout: Any):
    """An empty plotly figure with the house layout."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=title, template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      xaxis={"title": x, "type": "log" if logx else None}, yaxis={"title": y, "type": "log" if logy else None},
                      legend={"font": {"size": 10}, "orientation": "h", "yanchor": "top", "y": -0.3}, **layout)
    return fig


def finite(v: Sequence[Any]) -> list[float | None]:
    """Values as floats, None where not finite (plotly draws gaps)."""
    out = []
    for x in v:
        x = None if x is None else float(x)
        out.append(x if x is not None and np.isfinite(x) else None)
    return out
