"""Fleet size, power and serving cost of a deployment (issue 12), with ``superpod scale``'s cost model.

* Fleet: a target of output tokens/s (or requests/s) takes ``ceil(target / capacity)`` instances of
  the deployment, each a copy of the sized system (its leftover chips installed but idle); racks
  are the system's racks per copy (whole SuperPoDs for fixed systems), IT power the catalog's
  nameplate breakdown at full load on the chips used and idle draw on the rest
  (:func:`superpod.scaling.energy.power_w`), facility power IT x PUE.
* Cost: :func:`superpod.scaling.economics.usd_per_s` (capex over the amortisation, electricity at
  facility power, other opex as a share of capex), the defaults of ``catalog/scale/cost.toml`` and
  ``energy.toml`` (PUE). A disaggregated deployment charges its prefill chips to input tokens and its
  decode chips to output tokens (leftover chips pro rata); a co-located one splits by token count
  (every token runs the same linear layers). ``usd_per_mtok_all_in`` charges everything to the output
  tokens (the price a provider must charge per output token to cover the fleet).
"""

from __future__ import annotations

import math
from typing import Any

from superpod.errors import InvalidOptionError
from superpod.scaling import params
from superpod.scaling.economics import HOUR_S, YEAR_S, capex_usd, usd_per_s
from superpod.scaling.energy import power_w
from superpod.spec.catalog import load_system
from superpod.units import from_si


def fleet(system: str, n_chips: int, dep: dict[str, Any], output_len: float,
          target_output_tokens_per_s: float | None, target_requests_per_s: float | None,
          pue: float | None = None) -> dict[str, Any]:
    """Whole instances of ``dep`` (a deployment on ``n_chips`` of ``system``) meeting the targets
    (one instance when none is given)."""
    s = load_system(system)
    sized = s.at(n_chips)
    cap = dep["capacity_requests_per_s"]
    need = []
    if target_output_tokens_per_s is not None:
        need.append(target_output_tokens_per_s / (cap * output_len))
    if target_requests_per_s is not None:
        need.append(target_requests_per_s / cap)
    instances = max(math.ceil(max(need) - 1e-9), 1) if need else 1
    en = params.energy()
    pue = _pue(pue, en)
    installed = instances * n_chips
    pw = power_w(s, installed, instances * dep["chips_used"], 1.0, en.accelerator_idle_fraction.si, pue)
    racks_per = sized.racks
    racks = instances * racks_per
    return {"instances": instances, "chips": installed, "chips_idle": instances * dep["chips_left"],
            "racks": math.ceil(racks - 1e-9) if s.kind == "fixed" else racks,
            "systems": instances * sized.copies if s.kind == "fixed" else None,
            "power_it_w": float(pw["it_w"]), "power_facility_w": float(pw["total_w"]), "pue": pue,
            "requests_per_s": instances * cap, "output_tokens_per_s": instances * cap * output_len,
            "floor_space": "not in the catalog"}


def _pue(pue: float | None, en) -> float:
    pue = en.pue.si if pue is None else pue
    if not pue >= 1:
        raise InvalidOptionError(f"--pue must be >= 1, got {pue!r}")
    return float(pue)


def cost(system: str, fl: dict[str, Any], dep: dict[str, Any], input_len: float, output_len: float, *,
         electricity: str | float | None = None, capex_per_chip_usd: float | None = None,
         years: float | None = None) -> dict[str, Any]:
    """The contract's ``cost`` object for fleet ``fl``, with every input's source (``bases``)."""
    co = params.costs()
    s = load_system(system)
    price, price_basis = co.price_usd_per_kwh(electricity)
    years = from_si(co.amortisation.si, "year") if years is None else years
    if not years > 0:
        raise InvalidOptionError(f"--years must be > 0, got {years!r}")
    capex, capex_basis = capex_usd(s, fl["chips"], co, 0.0, capex_per_chip_usd)
    capex = float(capex)
    opex = co.opex_other_per_year.si
    rate = float(usd_per_s(capex, years, fl["power_facility_w"], price, opex))  # USD/s of the whole fleet
    energy_rate = fl["power_facility_w"] * price / (1000.0 * HOUR_S)
    req = fl["requests_per_s"]
    out_tps, in_tps = req * output_len, req * input_len
    if dep["mode"] == "pd":
        p = dep["prefill"]["workers"] * dep["prefill"]["chips_per_worker"]
        share_in = p / max(dep["chips_used"], 1)
    else:
        share_in = input_len / (input_len + output_len)
    return {
        "usd_per_mtok_output": 1e6 * rate * (1 - share_in) / out_tps,
        "usd_per_mtok_input": 1e6 * rate * share_in / in_tps,
        "usd_per_mtok_all_in": 1e6 * rate / out_tps,
        "tco_usd_per_year": rate * YEAR_S,
        "usd_per_hour": rate * HOUR_S,
        "energy_share_of_cost": energy_rate / rate,
        "electricity_usd_per_kwh": price, "pue": fl["pue"], "capex_usd": capex, "amortisation_years": years,
        "opex_other_per_year": opex, "input_cost_share": share_in,
        "bases": {"electricity": price_basis, "capex": capex_basis,
                  "amortisation": "user input" if years != from_si(co.amortisation.si, "year") else co.amortisation.cite(),
                  "pue": params.energy().pue.cite(), "opex_other": co.opex_other_per_year.cite()},
    }
