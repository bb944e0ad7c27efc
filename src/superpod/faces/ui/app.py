"""The Streamlit page of ``superpod ui`` (run by ``streamlit run``; see :mod:`superpod.faces.ui`).

Sidebar: systems (catalog, or an uploaded system TOML) and a model (catalog, or an uploaded TOML /
HF config.json). Tabs, one module each: Compare, Train (with plan editing), Serve, Scale, Claims,
Validation, Sweeps. Each draws views of :mod:`superpod.faces.report.views` (the static report's
too) from the Python API; every chart downloads as PNG/HTML and every table as CSV. Input the API
refuses shows its one-line message in an error box, never a traceback. Only the open tab runs
(Streamlit's lazy tabs, where the installed Streamlit has them).
"""

from __future__ import annotations

import streamlit as st

from superpod.faces.ui import TABS, compare, evidence, scale, serve, sweeps, train
from superpod.faces.ui.widgets import sidebar

st.set_page_config(page_title="superpod", layout="wide")
st.title("superpod")
picks = sidebar()
try:
    tabs, lazy = st.tabs(list(TABS), key="tab", on_change="rerun"), True
except TypeError:  # a Streamlit without lazy tabs: every tab runs
    tabs, lazy = st.tabs(list(TABS)), False
pages = (lambda: compare.render(picks), lambda: train.render(picks), lambda: serve.render(picks),
         lambda: scale.render(picks), evidence.claims, evidence.validation, sweeps.render)
for tab, page in zip(tabs, pages):
    if not lazy or tab.open is not False:
        with tab:
            page()
