"""The Scale tab: effective compute, MFU, goodput and facility power against chips (log-log, dotted
verticals at each system's scale-up domain), then a scenario (the same paper FLOPs built several ways;
Huaweiopolis by default)."""

from __future__ import annotations

import streamlit as st

from superpod import api
from superpod.faces.report.views import scale as view
from superpod.faces.ui.widgets import Picks, show

SCENARIOS = ("huaweiopolis",)


@st.cache_data(show_spinner="sweeping chip counts...")
def _curves(model: str, systems: tuple[str, ...], points: int, lo: int, hi: int):
    return view.curves(api, model, systems, points, lo, hi)


@st.cache_data(show_spinner="building the scenario...")
def _scenario(name: str):
    return view.scenario(api, name)


def render(p: Picks) -> None:
    c = st.columns(3)
    points = int(c[0].number_input("points per curve", 3, 40, 10, key="scale_points"))
    lo = int(c[1].number_input("fewest chips", 1, 10_000_000, 64, key="scale_min"))
    hi = int(c[2].number_input("most chips", 2, 10_000_000, 262_144, key="scale_max"))
    show(_curves(p.model, p.systems, points, lo, hi), "scale")
    st.subheader("Scenario")
    name = st.selectbox("Scenario", SCENARIOS, key="scenario")
    show(_scenario(name), "scenario", columns=1)
