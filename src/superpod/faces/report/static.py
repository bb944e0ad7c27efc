"""Static pictures of the views' plotly figures: matplotlib SVG (the HTML report) and PNG (downloads).

The views (:mod:`superpod.faces.report.views`) build each chart once, as a plotly figure: the
dashboard shows it interactive, this module redraws it with matplotlib for a file that needs no
JavaScript (the report's inline SVG, a dashboard chart's PNG download). It draws what the views
use, nothing more: scatter traces (lines, markers, dashes), bars (vertical or horizontal,
grouped or stacked), log axes, axis titles, the title, and vertical line shapes.
"""

from __future__ import annotations

import io
from typing import Any

DASH = {"dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--", "solid": "-", None: "-"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "superpod"})
    return plt


def _title(t: Any) -> str:
    text = getattr(t, "text", None) if t is not None else None
    return (text or "").replace("<br>", "\n")


def _bars(ax, bars: list, layout) -> list:
    """Bar traces, grouped (side by side) or stacked (``barmode="stack"``/``"relative"``)."""
    import numpy as np

    stacked = layout.barmode in ("stack", "relative")
    horiz = bars[0].orientation == "h"
    cats: list = []
    for b in bars:
        for c in (b.y if horiz else b.x) or ():
            if c not in cats:
                cats.append(c)
    pos = np.arange(len(cats), dtype=float)
    width = 0.8 if stacked else 0.8 / len(bars)
    base = np.zeros(len(cats))
    for k, b in enumerate(bars):
        keys = list(b.y if horiz else b.x)
        vals = np.zeros(len(cats))
        for c, v in zip(keys, (b.x if horiz else b.y)):
            vals[cats.index(c)] = 0.0 if v is None else float(v)
        at = pos if stacked else pos - 0.4 + width * (k + 0.5)
        color = getattr(b.marker, "color", None)
        color = color if isinstance(color, (str, list, tuple)) else None
        draw = ax.barh if horiz else ax.bar
        kw = {"left" if horiz else "bottom": base} if stacked else {}
        drawn = draw(at, vals, width, color=color, label=b.name if b.showlegend is not False and b.name else None, **kw)
        if b.text is not None:
            for rect, t in zip(drawn, b.text):
                if horiz:
                    ax.annotate(str(t), (rect.get_x() + rect.get_width(), rect.get_y() + rect.get_height() / 2),
                                va="center", ha="left", fontsize=7)
                else:
                    ax.annotate(str(t), (rect.get_x() + rect.get_width() / 2, rect.get_y() + rect.get_height()),
                                ha="center", va="bottom", fontsize=7)
        if stacked:
            base = base + vals
    (ax.set_yticks if horiz else ax.set_xticks)(pos, [str(c) for c in cats], fontsize=7)
    if horiz:
        ax.invert_yaxis()
    else:
        ax.tick_params(axis="x", labelrotation=15 if len(cats) <= 8 else 90, labelsize=7 if len(cats) <= 20 else 5)
    return cats


def _scatter(ax, t, cats: list) -> None:
    import numpy as np

    mode = t.mode or "lines+markers"
    line = t.line or {}
    color = getattr(line, "color", None) or getattr(t.marker, "color", None)
    color = color if isinstance(color, str) else None
    style = ("o" if "markers" in mode else "") + (DASH.get(getattr(line, "dash", None), "-") if "lines" in mode else "")

    def num(vals):  # a category (a bar's label) at its bar's position
        return np.asarray([np.nan if v is None else cats.index(v) if isinstance(v, str) else v for v in vals], dtype=float)

    x, y = num(t.x), num(t.y)
    label = t.name if t.showlegend is not False and t.name else None
    ax.plot(x, y, style, color=color, ms=3, lw=getattr(line, "width", None) or 1.5, label=label,
            alpha=t.opacity if t.opacity is not None else 1.0)


def figure(fig, width_in: float = 6.4, height_in: float = 3.6):
    """A matplotlib figure drawing the plotly figure ``fig`` (one panel)."""
    plt = _plt()
    lay = fig.layout
    out, ax = plt.subplots(figsize=(width_in, height_in))
    bars = [t for t in fig.data if t.type == "bar"]
    cats = _bars(ax, bars, lay) if bars else []
    for t in fig.data:
        if t.type == "scatter":
            _scatter(ax, t, cats)
        elif t.type == "histogram":
            vals = [v for v in t.x if v is not None]
            lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
            pad = 0.0 if hi - lo > 1e-9 * max(abs(hi), 1e-30) else max(abs(hi) * 0.01, 1e-12)  # all alike: one bin
            ax.hist(vals, bins=int(t.nbinsx or 30) if not pad else 1, range=(lo - pad, hi + pad), alpha=0.6,
                    label=t.name, color=getattr(t.marker, "color", None))
    for s in lay.shapes or ():
        color, ls = (s.line.color if s.line else None) or "grey", DASH.get(s.line.dash if s.line else None)
        if s.type == "line" and s.x0 == s.x1 and s.x0 is not None:
            ax.axvline(s.x0, color=color, ls=ls, lw=1)
        elif s.type == "line" and s.y0 == s.y1 and s.y0 is not None:
            ax.axhline(s.y0, color=color, ls=ls, lw=1)
    for axis, scale in (("x", lay.xaxis.type), ("y", lay.yaxis.type)):
        if scale == "log":
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        elif not (axis == "x" and cats and not bars[0].orientation == "h") and not (axis == "y" and cats and
                                                                                      bars[0].orientation == "h"):
            ax.ticklabel_format(axis=axis, useOffset=False, style="plain" if axis == "x" else "sci", scilimits=(-3, 5))
    ax.set_xlabel(_title(lay.xaxis.title))
    ax.set_ylabel(_title(lay.yaxis.title))
    ax.set_title(_title(lay.title), fontsize=9)
    ax.grid(alpha=0.3)
    if any(h.get_label() and not h.get_label().startswith("_") for h in ax.get_legend_handles_labels()[0]):
        ax.legend(fontsize=7)
    out.tight_layout()
    return out


def svg(fig, **size: float) -> str:
    """``fig`` as inline SVG text (no XML header)."""
    plt = _plt()
    m = figure(fig, **size)
    buf = io.StringIO()
    m.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(m)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def png(fig, dpi: int = 130, **size: float) -> bytes:
    """``fig`` as PNG bytes."""
    plt = _plt()
    m = figure(fig, **size)
    buf = io.BytesIO()
    m.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(m)
    return buf.getvalue()
