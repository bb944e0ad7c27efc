"""The Claims tab (published figures recomputed, with verdicts and bases) and the Validation tab
(predicted against measured per group and partition: training, serving, measured silicon; MAPE)."""

from __future__ import annotations

import streamlit as st

from superpod import api
from superpod.faces.report.views import evidence as view
from superpod.faces.ui.widgets import show


@st.cache_data(show_spinner="recomputing claims...")
def _claims():
    return view.claims(api)


@st.cache_data(show_spinner="validating...")
def _validation(silicon: bool):
    return view.validation(api, silicon)


def claims() -> None:
    show(_claims(), "claims", columns=1)


def validation() -> None:
    silicon = st.checkbox("Include the measured silicon runs (about 5 s)", True, key="silicon")
    show(_validation(silicon), "validation", columns=3)
