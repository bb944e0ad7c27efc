"""Whole-system figures of a serving estimate: how many whole instances of each phase's plan the
system's nodes and scale-up domains hold, the chips they use and leave, and the system's throughput,
power, per-kW and per-token figures on the chips deployed (issue 12: never per-chip x every chip when
the chips do not divide into instances)."""

from __future__ import annotations

import math
from typing import Any

from superpod.planners.conventions import NAMEPLATE, default_pue, power_record
from superpod.planners.serve_capacity import whole_instances
from superpod.spec.catalog import load_system

#: the per-chip throughput key of each phase
RATE_KEYS = {"prefill": "tokens_per_s_per_chip", "decode": "tokens_per_s_per_chip",
             "both": "output_tokens_per_s_per_chip", "pd": "output_tokens_per_s_per_chip"}


def _system_totals(out: dict[str, Any], system: str, chips: int | None, dep: dict[str, Any] | None = None) -> None:
    """Whole-system figures (:class:`SystemTotals`) added to the record ``out``."""
    SystemTotals(system, chips).apply(out, dep)


class SystemTotals:
    """Whole-system figures: the whole instances of each phase's plan the system's nodes and scale-up
    domains hold (:func:`~superpod.planners.serve_capacity.whole_instances`; ``instances``,
    ``chips_used``, ``chips_left``) at the per-chip rate, or, for ``pd``, the integer deployment's
    capacity on its chips; the system's nameplate IT power pro-rata (catalog breakdown) and
    facility power (x PUE); per kW and per token of the chips deployed (the older ``system_power_w``,
    ``tokens_per_s_per_kw`` and ``energy_j_per_token`` are the IT figures). Built once per system
    and size (the sweep applies one to many records)."""

    def __init__(self, system: str, chips: int | None):
        spec = load_system(system)
        sized = spec.at(chips)
        self.n = n = sized.n_chips
        self.cpn, self.dom = spec.chips_per_node, spec.scaleup_domain
        power_w = sum(sized.power_parts_w().values())
        self.pue = pue = default_pue()
        self.per_chip_w = power_w / n
        self.fixed = {"system_chips": n, "system_power_w": power_w, "system_power_it_w": power_w,
                      "system_power_facility_w": power_w * pue, "pue": pue, "power_draw": NAMEPLATE}
        self._instances: dict[int, int] = {}

    def instances(self, inst_chips: int) -> int:
        k = self._instances.get(inst_chips)
        if k is None:
            k = self._instances[inst_chips] = int(whole_instances(inst_chips, self.n, self.cpn, self.dom))
        return k

    def apply(self, out: dict[str, Any], dep: dict[str, Any] | None = None) -> None:
        n, per_chip_w = self.n, self.per_chip_w
        f = self.fixed
        out["system_chips"] = n
        out["system_ranks"] = n * out["ranks_per_chip"]
        for k in ("system_power_w", "system_power_it_w", "system_power_facility_w", "pue", "power_draw"):
            out[k] = f[k]
        for phase, key in RATE_KEYS.items():
            if phase not in out:
                continue
            x = out[phase]
            if phase == "pd" and dep is not None:  # the deployment's capacity on the chips it uses
                used = int(dep["chips_used"])
                x.update({"instances": 1, "chips_used": used, "chips_left": n - used})
                system_rate = dep["capacity_output_tokens_per_s"]
            else:
                inst_chips = math.ceil(max(float(x.get("chips", 1.0)), 1.0) - 1e-9)
                k = self.instances(inst_chips)
                x.update({"instances": k, "chips_used": k * inst_chips, "chips_left": n - k * inst_chips})
                system_rate = x[key] * k * inst_chips
            rate = system_rate / x["chips_used"] if x["chips_used"] > 0 else x[key]  # per chip deployed
            x["tokens_per_s_per_system"] = system_rate
            x["tokens_per_s_per_kw"] = rate / (per_chip_w / 1e3)
            x["energy_j_per_token"] = per_chip_w / rate if rate > 0 else float("inf")
            p = power_record(per_chip_w, self.pue, rate, NAMEPLATE)
            x.update({k: p[k] for k in ("tokens_per_s_per_kw_it", "tokens_per_s_per_kw_facility",
                                        "energy_it_j_per_token", "energy_facility_j_per_token")})
            if "chips" in x:
                x["ranks"] = x["chips"] * out["ranks_per_chip"]
