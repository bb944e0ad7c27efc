"""Sweeps: a results store written by ``superpod sweep`` (DuckDB table ``results`` or Parquet), pivoted
and plotted: y against x, one line per colour value, aggregated per (colour, x)."""

from __future__ import annotations

from typing import Any

from superpod.faces.report.views import COLORS, Chart, Note, Table, View, figure

AGGREGATES = ("max", "min", "avg", "median", "sum", "count")


def _query(path: str, sql: str) -> tuple[list[str], list[tuple]]:
    from superpod.planners.sweep import query  # DuckDB is the sweep extra: imported only here

    return query(path, sql)


def columns(path: str) -> list[tuple[str, str]]:
    """(name, type) of the store's columns."""
    cols, rows = _query(path, "SELECT column_name, column_type FROM (DESCRIBE results)")
    return [(r[0], r[1]) for r in rows]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sweep(path: str, x: str, y: str, color: str | None = None, agg: str = "max", where: str | None = None,
          logx: bool = False, logy: bool = False) -> View:
    """The pivot of ``agg(y)`` by ``x`` (rows) and ``color`` (columns), and its chart."""
    v = View()
    if agg not in AGGREGATES:
        return v.add(Note(f"aggregate must be one of {', '.join(AGGREGATES)}, not {agg!r}", error=True))
    group = [_q(c) for c in (color, x) if c]
    cond = where or "error IS NULL"
    sql = (f"SELECT {', '.join(group)}, {agg}({_q(y)}) AS value FROM results WHERE {cond} "
           f"GROUP BY {', '.join(group)} ORDER BY {', '.join(group)}")
    got = v.guard(lambda: _query(path, sql))
    if got is None:
        return v
    _, rows = got
    series: dict[Any, list[tuple]] = {}
    for r in rows:
        key, xv, val = (r[0], r[1], r[2]) if color else (y, r[0], r[1])
        series.setdefault(key, []).append((xv, val))
    fig = figure(f"{agg}({y}) against {x}" + (f" by {color}" if color else ""), x, f"{agg}({y})", logx=logx, logy=logy)
    for c, (key, pts) in enumerate(series.items()):
        fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=str(key),
                        line={"color": COLORS[c % len(COLORS)]})
    v.add(Chart("sweep", fig, 7, 4))
    xs = sorted({p[0] for pts in series.values() for p in pts}, key=lambda t: (t is None, str(type(t)), t))
    piv = {k: dict(pts) for k, pts in series.items()}
    v.add(Table("sweep-pivot", [x, *[str(k) for k in series]], [[xv, *[piv[k].get(xv) for k in series]] for xv in xs],
                f"{agg}({y}) by {x}" + (f" and {color}" if color else "")))
    return v
