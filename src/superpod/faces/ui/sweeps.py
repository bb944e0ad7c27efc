"""The Sweeps tab: a results store written by ``superpod sweep`` (.duckdb or .parquet, by path or upload),
pivoted (an aggregate of a column per x and colour) and plotted."""

from __future__ import annotations

import streamlit as st

from superpod.faces.report.views import sweeps as view
from superpod.faces.ui.widgets import guarded, show, upload


@st.cache_data(show_spinner=False)
def _columns(path: str, mtime: float):
    return view.columns(path)


def render() -> None:
    c = st.columns(2)
    path = c[0].text_input("Results store (path to .duckdb or .parquet)", "", key="sweep_path")
    up = upload("or upload one", ["duckdb", "parquet", "db"], "sweep_file", where=c[1])
    path = up or path.strip()
    if not path:
        st.info("Give a store written by `superpod sweep SPEC.toml --out results.duckdb` (docs/sweeps.md).")
        return
    import os

    cols = guarded(lambda: _columns(path, os.path.getmtime(path) if os.path.exists(path) else 0.0))
    if not cols:
        return
    names = [n for n, _ in cols]
    numeric = [n for n, t in cols if t.upper() in ("DOUBLE", "BIGINT", "INTEGER", "FLOAT", "HUGEINT")] or names
    st.caption(f"{len(names)} columns")
    a = st.columns(4)
    x = a[0].selectbox("x", names, key="sweep_x")
    y = a[1].selectbox("y (aggregated)", numeric, key="sweep_y")
    color = a[2].selectbox("colour (a line each)", ["(none)", *names], key="sweep_color")
    agg = a[3].selectbox("aggregate", view.AGGREGATES, key="sweep_agg")
    b = st.columns([4, 1, 1])
    where = b[0].text_input("where (SQL; default: rows without error)", "", key="sweep_where")
    logx = b[1].checkbox("log x", key="sweep_logx")
    logy = b[2].checkbox("log y", key="sweep_logy")
    show(view.sweep(path, x, y, None if color == "(none)" else color, agg, where or None, logx, logy), "sweep", columns=1)
