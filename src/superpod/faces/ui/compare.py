"""The Compare tab: system totals side by side, a bar chart per total with ratios to the first system;
hover a bar for its basis (count x per-chip value, source, confidence)."""

from __future__ import annotations

import streamlit as st

from superpod import api
from superpod.faces.report.views import compare as view
from superpod.faces.ui.widgets import Picks, show


@st.cache_data(show_spinner="comparing...")
def _view(systems: tuple[str, ...], chips: int | None):
    return view.compare(api, systems, chips)


def render(p: Picks) -> None:
    st.caption("Totals of each system" + (f" sized to {p.chips:,} chips" if p.chips else " at its own size")
               + "; labels give the ratio to the first system. Hover a bar for its source and confidence (A/B/C/U).")
    show(_view(p.systems, p.chips), "compare", columns=3)
