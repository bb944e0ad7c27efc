"""The Serve tab: throughput against the TPOT target per system (and the plan picked at each target),
then a request-level simulation's TTFT/TPOT distributions (superpod.simulate). Its sections are
:data:`superpod.faces.report.views.serve.SECTIONS`: a new serving view (Pareto frontier, chosen
deployment, fleet and cost) added there shows here and in the report."""

from __future__ import annotations

import streamlit as st

from superpod import api
from superpod.faces.report.views import serve as view
from superpod.faces.ui.widgets import Picks, show


@st.cache_data(show_spinner="pricing each TPOT target...")
def _curve(model: str, systems: tuple[str, ...], targets: tuple[float, ...]):
    return view.curve(api, model, systems, targets)


@st.cache_data(show_spinner="simulating requests...")
def _simulation(model: str, systems: tuple[str, ...], rate: float, requests: int, tpot: float, ttft: float,
                chips: int | None):
    return view.simulation(api, model, systems, rate, requests, tpot, ttft, chips)


@st.cache_data(show_spinner=False)
def _section(name: str, model: str, systems: tuple[str, ...], chips: int | None):
    fn = next(f for f in view.SECTIONS if f.__name__ == name)
    return fn(api, model, systems, chips=chips)


def render(p: Picks) -> None:
    targets = st.multiselect("TPOT targets (ms)", [5, 10, 15, 20, 30, 50, 75, 100, 150, 200],
                             [int(t * 1e3) for t in view.TPOT_TARGETS_S], key="tpot_targets")
    show(_curve(p.model, p.systems, tuple(sorted(t / 1e3 for t in targets))), "serve-curve", columns=1)
    st.subheader("Request-level simulation")
    c = st.columns(4)
    rate = float(c[0].number_input("arrivals per second", 0.01, 10_000.0, 2.0, key="sim_rate"))
    requests = int(c[1].number_input("requests", 10, 20_000, 400, step=100, key="sim_requests"))
    tpot = float(c[2].number_input("TPOT SLO (ms)", 1.0, 10_000.0, 50.0, key="sim_tpot")) / 1e3
    ttft = float(c[3].number_input("TTFT SLO (s)", 0.01, 600.0, 2.0, key="sim_ttft"))
    show(_simulation(p.model, p.systems, rate, requests, tpot, ttft, p.chips), "serve-sim")
    for f in view.SECTIONS:  # sections added after these two (deployments, fleet, cost) plug in here
        if f not in (view.curve, view.simulation):
            st.subheader(f.__name__.replace("_", " ").capitalize())
            show(_section(f.__name__, p.model, p.systems, p.chips), f"serve-{f.__name__}")
