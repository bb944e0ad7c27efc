"""Capex, amortisation, electricity and other opex: cost per million tokens and TCO (formulas.md sec. 10).

``cost per 1e6 tokens = 1e6 (C_capex / T_life + P_facility c_energy + C_opex_other) / (X G)``
with every cost per second, X the training throughput (tokens/s) and G the goodput.
Defaults live in ``catalog/scale/cost.toml``; every one can be overridden.

>>> round(float(usd_per_s(3.6e6, 1.0, 1000.0, 0.1, 0.0)) * 3600, 2)   # $3.6M over 1 year + 1 kW at $0.1/kWh, per hour
410.78
"""

from __future__ import annotations

import numpy as np

from superpod.spec.system import System
from superpod.units import to_si
from superpod.scaling.params import Costs

YEAR_S = to_si(1.0, "year")
HOUR_S = to_si(1.0, "h")
J_PER_KWH = to_si(1.0, "kW") * HOUR_S


def capex_usd(system: System, installed_chips, costs: Costs, spare_chips=0.0,
              override_per_chip: float | None = None) -> tuple[np.ndarray, str]:
    """Capex of ``installed_chips`` of ``system`` (+ hot spares at the per-chip rate) and its basis."""
    n = np.asarray(installed_chips, dtype=float)
    if override_per_chip is not None:
        per_chip, basis = override_per_chip, "user input (per chip)"
    elif system.capex is not None:
        q = system.capex
        per_chip, basis = q.si / system.size, f"{q.value:,.4g} {q.unit} per {system.size:,} chips ({q.source}) [{q.confidence}]"
    elif system.name in costs.capex_system:
        q = costs.capex_system[system.name]
        per_chip, basis = q.si / system.size, f"{q.value:,.4g} {q.unit} per {system.size:,} chips ({q.source}) [{q.confidence}]"
    else:
        q = costs.capex_chip.get(system.chip.name) or costs.capex_chip["default"]
        per_chip, basis = q.si, f"{q.value:,.0f} {q.unit} per chip ({q.source}) [{q.confidence}]"
    return per_chip * (n + np.asarray(spare_chips, dtype=float)), basis


def usd_per_s(capex: float, amortisation_years: float, facility_w: float, usd_per_kwh: float,
              opex_per_year: float) -> np.ndarray:
    """Cost rate of running a system: amortised capex + electricity + other opex (USD/s)."""
    capex = np.asarray(capex, dtype=float)
    life_s = amortisation_years * YEAR_S
    energy = np.asarray(facility_w, dtype=float) * usd_per_kwh / J_PER_KWH
    return capex / life_s + energy + capex * opex_per_year / YEAR_S


def cost_record(capex, amortisation_years: float, facility_w, usd_per_kwh: float, opex_per_year: float,
                useful_tokens_per_s, run_s) -> dict:
    """Cost per million training tokens, cost of the run and lifetime TCO (arrays)."""
    capex = np.asarray(capex, dtype=float)
    rate = usd_per_s(capex, amortisation_years, facility_w, usd_per_kwh, opex_per_year)
    energy_rate = np.asarray(facility_w, dtype=float) * usd_per_kwh / J_PER_KWH
    life_s = amortisation_years * YEAR_S
    x = np.asarray(useful_tokens_per_s, dtype=float)
    return {
        "cost_per_mtok": 1e6 * rate / x,
        "energy_cost_per_mtok": 1e6 * energy_rate / x,
        "capex_usd": capex,
        "usd_per_hour": rate * HOUR_S,
        "energy_usd_per_hour": energy_rate * HOUR_S,
        "run_cost_usd": rate * np.asarray(run_s, dtype=float),
        "tco_usd": capex + (energy_rate + capex * opex_per_year / YEAR_S) * life_s,
        "energy_share_of_cost": energy_rate / rate,
    }
