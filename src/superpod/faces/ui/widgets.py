"""Shared widgets of the dashboard: the sidebar's picks, a view's blocks drawn with Streamlit (each chart
with PNG and HTML downloads, each table with a CSV download), uploads kept as temporary files, and
the error box that shows a one-line SuperpodError instead of a traceback."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from superpod import api
from superpod.errors import SuperpodError
from superpod.faces.report import static
from superpod.faces.report.views import Chart, Metric, Note, Table, View

DEFAULT_SYSTEMS = ["cloudmatrix384", "gb200-nvl72"]
DEFAULT_MODEL = "deepseek-v3"


@dataclass(frozen=True)
class Picks:
    """What the sidebar chose: systems (catalog names or uploaded files), a model, a chip count (None: each system's size)."""

    systems: tuple[str, ...]
    model: str
    chips: int | None


def upload(label: str, types: list[str], key: str, where=st.sidebar) -> str | None:
    """Path of an uploaded file kept in a temporary directory (its name kept: the loader reads the suffix)."""
    f = where.file_uploader(label, type=types, key=key)
    if f is None:
        return None
    d = Path(tempfile.gettempdir()) / "superpod-ui" / f.file_id
    d.mkdir(parents=True, exist_ok=True)
    p = d / Path(f.name).name
    p.write_bytes(f.getvalue())
    return str(p)


@st.cache_data(show_spinner=False)
def _catalog() -> tuple[list[str], list[str]]:
    return [r["name"] for r in api.systems()], [r["name"] for r in api.models()]


def sidebar() -> Picks:
    """The sidebar: systems and a model from the catalog or uploaded files; stops the page with an error box
    when the API refuses them."""
    systems, models = _catalog()
    sb = st.sidebar
    chosen = sb.multiselect("Systems", systems, DEFAULT_SYSTEMS, key="systems",
                            help="Catalog systems; the first is the reference of every ratio.")
    up_system = upload("Or add a system TOML", ["toml"], "system_file")
    model = sb.selectbox("Model", models, models.index(DEFAULT_MODEL), key="model")
    up_model = upload("Or use a model TOML / HF config.json", ["toml", "json"], "model_file")
    chips = int(sb.number_input("Chips for compare, train and simulate (0: each system's size)", 0, 10_000_000, 384,
                                key="chips"))
    picked = list(chosen)
    try:
        if up_system:
            api.system(up_system)  # load it now: a malformed file is an error box, not a traceback
            picked.append(up_system)
        if up_model:
            api.model(up_model)
            model = up_model
        if not picked:
            raise SuperpodError("pick at least one system")
        api.model(model)
    except SuperpodError as e:
        st.error(str(e))
        st.stop()
    return Picks(tuple(picked), model, chips or None)


def guarded(fn: Callable[[], Any]) -> Any:
    """``fn()``, or None after an error box with its one-line message."""
    try:
        return fn()
    except SuperpodError as e:
        st.error(str(e))
        return None


def _metrics(ms: list[Metric]) -> None:
    for i in range(0, len(ms), 4):
        for col, m in zip(st.columns(4), ms[i:i + 4]):
            col.metric(m.label, m.value, m.delta, help=m.help, delta_color="off")


def chart(c: Chart, key: str) -> None:
    """A chart, interactive, with PNG (matplotlib) and HTML (plotly, self-contained) downloads."""
    st.plotly_chart(c.fig, key=f"{key}-chart", config={"displaylogo": False})
    try:
        row = st.container(horizontal=True)
        a = b = row
    except TypeError:  # a Streamlit without horizontal containers
        a, b = st.columns(2)
    a.download_button("PNG", lambda: static.png(c.fig, width_in=c.width_in, height_in=c.height_in), f"{c.key}.png",
                      "image/png", key=f"{key}-png", on_click="ignore")
    b.download_button("HTML", lambda: c.fig.to_html(include_plotlyjs=True, full_html=True), f"{c.key}.html", "text/html",
                      key=f"{key}-html", on_click="ignore")


def table(t: Table, key: str) -> None:
    """A table, with a CSV download."""
    import pandas as pd

    if t.title:
        st.caption(t.title)
    frame = pd.DataFrame(t.rows, columns=t.columns)
    for c in frame.columns:  # one type per column (Arrow): mixed columns shown as text
        if frame[c].map(type).nunique() > 1:
            frame[c] = frame[c].map(lambda v: "" if v is None else str(v))
    st.dataframe(frame, hide_index=True, key=f"{key}-table")
    st.download_button("CSV", t.csv(), f"{t.key}.csv", "text/csv", key=f"{key}-csv", on_click="ignore")


def show(view: View | None, key: str, columns: int = 2) -> None:
    """Draw a view: its errors, metrics, charts (``columns`` to a row) and tables."""
    if view is None:
        return
    for b in view.blocks:
        if isinstance(b, Note):
            (st.error if b.error else st.caption)(b.text)
    _metrics([b for b in view.blocks if isinstance(b, Metric)])
    charts = [b for b in view.blocks if isinstance(b, Chart)]
    for i in range(0, len(charts), columns):
        for j, (col, c) in enumerate(zip(st.columns(columns), charts[i:i + columns])):
            with col:
                chart(c, f"{key}-{i + j}")
    for i, t in enumerate(b for b in view.blocks if isinstance(b, Table)):
        table(t, f"{key}-t{i}")
