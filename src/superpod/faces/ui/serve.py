"""The Serve tab: throughput against the TPOT target per system (and the plan picked at each target),
a request-level simulation's TTFT/TPOT distributions (superpod.simulate), then the deployment
``serve --phase pd`` builds under the same TTFT/TPOT SLOs: its Pareto frontier, its workers, and the
fleet and cost of a target output rate at an electricity price (china/us/eu or a custom USD/kWh). Its
sections are :data:`superpod.faces.report.views.serve.SECTIONS`, shared with the static report."""

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


@st.cache_data(show_spinner="sizing the deployment...")
def _section(name: str, model: str, systems: tuple[str, ...], chips: int | None, tpot: float, ttft: float,
             target: float, electricity: str | float):
    fn = next(f for f in view.SECTIONS if f.__name__ == name)
    return fn(api, model, systems, chips=chips, tpot_slo_s=tpot, ttft_slo_s=ttft, target_output_tokens_per_s=target,
              electricity=electricity)


TITLES = {"pareto": "Pareto frontier", "deployment": "Chosen deployment", "fleet_cost": "Fleet and cost"}


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
    st.subheader("Deployment under these TTFT/TPOT SLOs (serve --phase pd)")
    c = st.columns(3)
    regions = [*view.ELECTRICITY_REGIONS, "custom"]
    region = c[0].selectbox("electricity price", regions, regions.index(view.ELECTRICITY), key="serve_electricity",
                            help="catalog/scale/cost.toml's regions, or a price in USD/kWh")
    electricity: str | float = region
    if region == "custom":
        electricity = float(c[1].number_input("USD per kWh", 0.0, 1000.0, 0.08, step=0.01, format="%.3f",
                                              key="serve_usd_kwh"))
    target = float(c[2].number_input("target output tokens/s", 1.0, 1e12, view.TARGET_OUTPUT_TOKENS_PER_S,
                                     step=1e6, format="%.3g", key="serve_target"))
    for f in view.SECTIONS:  # every section after the curve and the simulation: deployments, fleet, cost
        if f not in (view.curve, view.simulation):
            st.subheader(TITLES.get(f.__name__, f.__name__.replace("_", " ").capitalize()))
            show(_section(f.__name__, p.model, p.systems, p.chips, tpot, ttft, target, electricity),
                 f"serve-{f.__name__}", columns=1)
