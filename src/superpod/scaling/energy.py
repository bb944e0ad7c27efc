"""System power at a given utilisation, cooling via PUE, and energy per token (formulas.md sec. 10).

The catalog's power breakdown of a system (nameplate, pro-rata to the chips installed) is
split into categories by part name. Accelerator parts draw ``P_max (idle + (1 - idle) u)``
with ``u`` the busy fraction (goodput x the non-bubble share of a step, zero for chips
the job leaves idle); hosts, switches and optics draw their nameplate; hot spares idle;
cooling and facility losses are ``IT x (PUE - 1)``. The parts add up to ``power_w``.

>>> split_part("npus")
'accelerators'
"""

from __future__ import annotations

import numpy as np

from superpod.spec.system import System
from superpod.scaling.params import energy

def split_part(name: str) -> str:
    """The category of a power part: accelerators, hosts, network, optics or other (the
    catalog's table, ``scale/energy.toml [power_categories]``, else by substring)."""
    table = energy().power_categories.parts
    if name in table:
        return table[name]
    low = name.lower()
    if any(s in low for s in ("gpu", "npu", "tpu")):
        return "accelerators+other" if any(s in low for s in ("other", "switch")) else "accelerators"
    if "optic" in low:
        return "optics"
    if any(s in low for s in ("network", "switch", "nic")):
        return "network"
    if any(s in low for s in ("cpu", "host")):
        return "hosts"
    return "other"


def per_chip_parts_w(system: System) -> dict[str, float]:
    """Nameplate power per installed chip, by catalog part (the pro-rata basis of SizedSystem)."""
    return {k: v.si / system.size for k, v in system.power.parts.items()}


def power_w(system: System, installed_chips, job_chips, busy, idle_fraction: float, pue: float,
            spare_chips=0.0) -> dict:
    """Facility power and its breakdown (W), arrays over sizes.

    ``busy``: busy fraction of the job's chips (0-1). Returns ``total_w``, ``it_w``,
    ``parts_w`` (catalog parts at utilisation, plus ``hot_spares_idle`` and
    ``cooling_facility_pue``; they sum to ``total_w``), ``category_w`` and
    ``accelerator_basis`` (how the accelerator draw was found).
    """
    inst = np.asarray(installed_chips, dtype=float)
    job = np.minimum(np.asarray(job_chips, dtype=float), inst)
    u = np.clip(np.asarray(busy, dtype=float), 0.0, 1.0) * job / inst  # idle installed chips at u = 0
    factor = idle_fraction + (1.0 - idle_fraction) * u
    parts, cats = {}, {}
    active_categories = energy().power_categories.active
    accel_per_chip = 0.0
    for name, w in per_chip_parts_w(system).items():
        cat = split_part(name)
        active = cat in active_categories
        parts[name] = w * inst * (factor if active else 1.0)
        cats[name] = cat
        if active:
            accel_per_chip += w
    parts["hot_spares_idle"] = accel_per_chip * idle_fraction * np.asarray(spare_chips, dtype=float) + 0.0 * inst
    cats["hot_spares_idle"] = "accelerators"
    it = sum(parts.values())
    parts["cooling_facility_pue"] = it * (pue - 1.0)
    cats["cooling_facility_pue"] = "cooling"
    total = it * pue
    by_cat: dict[str, np.ndarray] = {}
    for k, v in parts.items():
        by_cat[cats[k]] = by_cat.get(cats[k], 0.0) + v
    mixed = [k for k, c in cats.items() if c == "accelerators+other"]
    basis = (f"parts {', '.join(mixed)} mix accelerators with switches/other and scale with utilisation as a whole"
             if mixed else "accelerator parts of the catalog breakdown scale with utilisation")
    return {"total_w": total, "it_w": it, "parts_w": parts, "category_w": by_cat, "utilisation": u,
            "accelerator_basis": basis, "pue": pue, "idle_fraction": idle_fraction}


def joules_per_token(total_w, tokens_per_s) -> np.ndarray:
    """E_token = P_sys / X (formulas.md sec. 10)."""
    return np.asarray(total_w, dtype=float) / np.asarray(tokens_per_s, dtype=float)


def serving_energy(system: System, chips: int, output_tokens_per_s_per_chip: float, idle_fraction: float,
                   pue: float, busy: float = 1.0) -> dict:
    """J per output token of a serving deployment at a TPOT target: facility power / output rate.

    The output rate comes from the serving estimator (decode tokens/s per chip at the TPOT
    target, :func:`superpod.planners.scale_estimate.decode_tokens_per_s_per_chip`) or from the user.
    """
    p = power_w(system, chips, chips, busy, idle_fraction, pue)
    rate = output_tokens_per_s_per_chip * chips
    return {"power_w": float(p["total_w"]), "output_tokens_per_s": rate,
            "energy_j_per_output_token": float(p["total_w"]) / rate, "parts_w": {k: float(v) for k, v in p["parts_w"].items()}}
