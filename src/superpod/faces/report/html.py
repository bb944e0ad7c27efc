"""``superpod report --html``: one self-contained static HTML page of the dashboard's views.

The sections are the views of :mod:`superpod.faces.report.views`, the same the dashboard
(``superpod ui``) shows: compare (totals, ratios to the first, each total's basis), train (best
plan, step-time breakdown, memory per chip by part, top-K plans), serve (throughput against the
TPOT target, TTFT/TPOT distributions of a simulation), scale (effective compute, MFU, goodput and
power against chips; the Huaweiopolis scenario), claims and validation (predicted against
measured per group and partition, with MAPE). Charts are the views' plotly figures redrawn as
inline matplotlib SVG (:mod:`superpod.faces.report.static`) and the CSS is inline: no script, no
network, a few hundred kB to about 1 MB. A view the API refuses shows its one-line message.
"""

from __future__ import annotations

import datetime as _dt
import html
from pathlib import Path
from typing import Any, Callable, Sequence

from superpod.errors import SuperpodError
from superpod.faces.report import static
from superpod.faces.report.views import Chart, Metric, Note, Table, View

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1em;margin:.8em 0 .2em}
table{border-collapse:collapse;font-size:.8em;margin:.4em 0}td,th{border:1px solid #ddd;padding:.2em .45em;
text-align:left;vertical-align:top}th{background:#f4f4f4}.err{background:#fdecea;border:1px solid #e0b4b4;
padding:.5em;color:#8a1f11}nav a{margin-right:1em}svg{max-width:100%;height:auto}.note{color:#666;font-size:.85em}
.charts{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-start}.charts>div{flex:0 1 auto;max-width:100%}
.metrics{display:flex;flex-wrap:wrap;gap:1.5em;margin:.6em 0}.metric{max-width:24em}.metric b{display:block;font-size:1.3em}
.metric span{color:#666;font-size:.8em}details{margin:.4em 0}"""
MAX_ROWS = 60  # rows of a table shown inline; the rest are counted (the dashboard downloads them all)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    return "" if v is None else str(v)


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r) + "</tr>" for r in t.rows[:MAX_ROWS])
    more = f'<p class="note">{len(t.rows) - MAX_ROWS:,} more rows not shown.</p>' if len(t.rows) > MAX_ROWS else ""
    table = f"<table><tr>{head}</tr>{body}</table>{more}"
    if t.title:
        return f"<details><summary>{html.escape(t.title)}</summary>{table}</details>"
    return table


def _err(msg: str) -> str:
    return f'<p class="err">{html.escape(msg)}</p>'


def render(view: View) -> str:
    """A view's blocks as HTML: metrics in a row, charts as inline SVG side by side, then the tables."""
    metrics, charts, rest = [], [], []
    for b in view.blocks:
        if isinstance(b, Metric):
            sub = " ".join(x for x in (b.delta, b.help) if x)
            metrics.append(f'<div class="metric">{html.escape(b.label)}<b>{html.escape(b.value)}</b>'
                           f"<span>{html.escape(sub)}</span></div>")
        elif isinstance(b, Chart):
            charts.append(f"<div>{static.svg(b.fig, width_in=b.width_in, height_in=b.height_in)}</div>")
        elif isinstance(b, Table):
            rest.append(_table(b))
        elif isinstance(b, Note):
            rest.insert(0, _err(b.text)) if b.error else rest.append(f'<p class="note">{html.escape(b.text)}</p>')
    out = f'<div class="metrics">{"".join(metrics)}</div>' if metrics else ""
    out += f'<div class="charts">{"".join(charts)}</div>' if charts else ""
    return out + "".join(rest)


def sections(systems: Sequence[str], model: str, chips: int | None, silicon: bool) -> list[tuple[str, str, Callable[[], View]]]:
    """(id, title, view builder) of each section, in order."""
    from superpod import api
    from superpod.faces.report.views import compare, evidence, scale, serve, train

    def both(*fns: Callable[[], View]) -> Callable[[], View]:
        return lambda: View([b for f in fns for b in f().blocks])

    return [
        ("compare", "Compare: system totals", lambda: compare.compare(api, systems, chips)),
        ("train", f"Train {model}: best plan, where the step time goes, memory per chip",
         lambda: train.train(api, model, systems, chips)),
        ("serve", f"Serve {model}: throughput against the TPOT target; latency distributions; deployment, fleet, cost",
         lambda: serve.serve(api, model, systems, chips=chips)),
        ("scale", f"Scale {model}: effective compute, MFU, goodput and power with chips; the Huaweiopolis scenario",
         both(lambda: scale.curves(api, model, systems), lambda: scale.scenario(api))),
        ("claims", "Claims: published figures recomputed", lambda: evidence.claims(api)),
        ("validation", "Validation: predicted against measured", lambda: evidence.validation(api, silicon)),
    ]


def build(systems: Sequence[str], model: str, chips: int | None = None, silicon: bool = True) -> str:
    """The report's HTML text."""
    parts = []
    views = sections(systems, model, chips, silicon)
    for key, title, fn in views:
        try:
            body = render(fn())
        except SuperpodError as e:
            body = _err(str(e))
        parts.append(f'<section id="{key}"><h2>{html.escape(title)}</h2>{body}</section>')
    nav = "".join(f'<a href="#{k}">{k}</a>' for k, _, _ in views)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = f"systems {', '.join(systems)}; model {model}" + (f"; {chips:,} chips" if chips else "")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>superpod report</title>'
            f"<style>{CSS}</style></head><body><h1>superpod report</h1>"
            f'<p class="note">{html.escape(sub)}; generated {when}</p><nav>{nav}</nav>{"".join(parts)}</body></html>')


def write(out: str | Path, systems: Sequence[str], model: str, chips: int | None = None, silicon: bool = True) -> Path:
    """Write the report to ``out``."""
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(build(systems, model, chips, silicon), encoding="utf-8")
    return p
