"""The Train tab: the best plan per system, where its step time goes, memory per chip by part, the top-K
plans; then plan editing: change any plan field and see the price move (superpod.train prices a plan with
any of its fields fixed, searching the rest)."""

from __future__ import annotations

import streamlit as st

from superpod import api
from superpod.faces.report.views import train as view
from superpod.faces.ui.widgets import Picks, guarded, show


@st.cache_data(show_spinner="searching plans...")
def _view(model: str, systems: tuple[str, ...], chips: int | None, top: int):
    return view.train(api, model, systems, chips, top)


@st.cache_data(show_spinner=False)
def _best(model: str, system: str, chips: int | None):
    return api.train(model, f"{system}@{chips}" if chips else system)


@st.cache_data(show_spinner="pricing the plan...")
def _priced(model: str, system: str, chips: int | None, plan: tuple, _best):
    return view.priced(api, model, system, chips, dict(plan), _best)


def _editor(p: Picks) -> None:
    st.subheader("Edit the plan")
    system = st.selectbox("System", p.systems, key="plan_system")
    best = guarded(lambda: _best(p.model, system, p.chips))
    if best is None:
        return
    start = view.plan_of(best)
    st.caption(f"Best plan: {best.plan.text()}. Change any field; 0 (or 'searched') leaves it to the search. "
               "DP starts searched so that TP x PP x CP x DP still fills the chips.")
    tag = f"{p.model}_{system}_{p.chips}"  # fresh fields when the plan they start from changes
    with st.form("plan_form"):
        cols = st.columns(6)
        plan: dict = {}
        for i, k in enumerate(("tp", "pp", "dp", "ep", "cp", "micro_batch", "vpp")):
            val = 0 if k == "dp" else int(start[k])
            got = cols[i % 6].number_input(k.replace("_", " "), 0, 1_000_000, val, key=f"plan_{tag}_{k}")
            plan[k] = int(got) or None
        for i, k in enumerate(("zero", "recompute", "schedule", "sp")):
            options = ["searched", *view.CHOICES[k]]
            got = cols[(i + 1) % 6].selectbox(k, options, options.index(start[k]), key=f"plan_{tag}_{k}")
            plan[k] = None if got == "searched" else got
        st.form_submit_button("Price this plan")
    show(_priced(p.model, system, p.chips, tuple(sorted(plan.items())), best), "plan", columns=1)


def render(p: Picks) -> None:
    top = int(st.number_input("Plans listed per system (top K)", 1, 50, 5, key="top"))
    show(_view(p.model, p.systems, p.chips, top), "train", columns=1)
    _editor(p)
