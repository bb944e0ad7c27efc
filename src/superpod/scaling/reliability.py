"""Failures, checkpoints, restarts and goodput (formulas.md sec. 9), vectorized over job sizes.

* Job failure rate ``1/MTBF_job = sum_i N_i / MTBF_i`` over components (accelerator, HBM,
  host, NIC, network/optics, software), each rate calibrated on Llama 3's 54-day record
  (:mod:`.params`); ``N_i`` counts chips, nodes, NICs and optical modules of the job.
* Checkpoint interval by Young, ``sqrt(2 delta M)``, or Daly's higher-order form.
* Goodput = useful time / wall time from Daly's expected wall time
  ``T_wall = M e^{R/M} (e^{(tau+delta)/M} - 1) T_solve / tau``.
* Hot spares: failed units under repair are Poisson (M/G/inf), ``nu = N MTTR / MTBF``.

Every function takes numpy arrays (or scalars) and broadcasts.

>>> round(float(daly_interval_s(300.0, 24 * 3600.0)) / 60)   # Daly's own example: 117 min
117
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.spec.fabric import SWITCHED
from superpod.spec.system import System
from superpod.scaling.params import Optics, Reliability



# ---------------------------------------------------------------- counting units
def optics_per_chip_by_tier(system: System, optics: Optics) -> dict[str, float]:
    """Optical modules per chip on each tier (before asking whether the job spans it).

    A tier's own ``optics_per_chip`` wins; an all-to-all-optical tier with ``links_per_chip``
    has ``modules_per_link`` per link; a switched tier beyond the scale-up domain has
    ``switched_tier_per_chip / oversubscription``; electrical scale-up tiers (NVLink, board
    meshes, cabinet meshes, tori) have none.
    """
    out = {}
    for i, t in enumerate(system.tiers):
        over = t.oversubscription.si if t.oversubscription else 1.0
        if t.optics_per_chip is not None:
            v = t.optics_per_chip.si
        elif t.topology == "all-to-all-optical":
            v = (optics.modules_per_link.si * t.links_per_chip if t.links_per_chip
                 else optics.switched_tier_per_chip.si / over)
        elif i >= system.scaleup_tiers and t.topology in SWITCHED:
            v = optics.switched_tier_per_chip.si / over
        else:
            v = 0.0
        out[t.name] = v
    return out


def spans(system: System, chips) -> list[np.ndarray]:
    """For each tier, whether a job of ``chips`` reaches it (the innermost tier always)."""
    n = floats(chips)
    out, inner = [], 1.0
    for t in system.tiers:
        out.append(n > inner)
        inner = t.domain if np.isfinite(t.domain) else inner
    out[0] = np.ones_like(n, dtype=bool)
    return out


def optics_per_chip(system: System, chips, optics: Optics) -> tuple[np.ndarray, str]:
    """Optical modules per chip the job depends on, and the basis of the number."""
    n = floats(chips)
    if system.optical_modules is not None:
        q = system.optical_modules
        return np.full_like(n, q.si / system.size), f"{q.value:,.0f} per {system.size:,} chips ({q.source}) [{q.confidence}]"
    per = optics_per_chip_by_tier(system, optics)
    total = np.zeros_like(n)
    for (name, v), used in zip(per.items(), spans(system, n)):
        total = total + np.where(used, v, 0.0)
    basis = ", ".join(f"{k} {v:.3g}" for k, v in per.items() if v) or "no optical tiers"
    return total, f"per chip by tier, counted where the job spans the tier: {basis} (scale/reliability.toml optics rules) [U]"


def unit_counts(system: System, chips, optics: Optics) -> dict[str, np.ndarray]:
    """Chips, nodes, NICs and optical modules a job of ``chips`` depends on."""
    n = floats(chips)
    scaleout = system.scaleout_tier
    uses_nic = spans(system, n)[system.scaleup_tiers] if scaleout is not None else np.zeros_like(n, dtype=bool)
    return {
        "chip": n,
        "node": np.ceil(n / system.chips_per_node),
        "nic": np.where(uses_nic, n, 0.0),
        "optical_module": n * optics_per_chip(system, n, optics)[0],
    }


# ---------------------------------------------------------------- failure rates
def record_units(rel: Reliability) -> dict[str, float]:
    """Units of each kind in the reliability record's job (chips, nodes, NICs, optical modules)."""
    from superpod.spec.catalog import load_system

    return unit_counts(load_system(rel.record.system), rel.record.chips.si, rel.optics)


def component_rates_per_s(rel: Reliability) -> dict[str, float]:
    """Interruptions per second per unit (chip, node, NIC or optical module), per component,
    from the record's counts over its days."""
    units = record_units(rel)
    days_s = rel.record.days.si
    return {k: c.interruptions.si / (days_s * units[c.per]) for k, c in rel.components.items()}


def failure_rates_per_s(rel: Reliability, system: System, chips, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Job interruptions per second by component (sum = 1 / MTBF_job)."""
    rates = component_rates_per_s(rel)
    units = unit_counts(system, chips, rel.optics)
    return {k: scale * rates[k] * units[c.per] for k, c in rel.components.items()}


def job_mtbf_s(rates: dict[str, np.ndarray]) -> np.ndarray:
    """MTBF_job = 1 / sum_i N_i / MTBF_i (formulas.md 9.1)."""
    return 1.0 / sum(rates.values())


# ---------------------------------------------------------------- checkpoint interval
def young_interval_s(delta_s, mtbf_s) -> np.ndarray:
    """Young (1974): tau = sqrt(2 delta M)."""
    return np.sqrt(2.0 * floats(delta_s) * floats(mtbf_s))


def daly_interval_s(delta_s, mtbf_s) -> np.ndarray:
    """Daly (2006) higher-order optimum; tau = M when delta >= 2M (formulas.md 9.2)."""
    d, m = floats(delta_s), floats(mtbf_s)
    x = d / (2.0 * m)
    tau = np.sqrt(2.0 * d * m) * (1.0 + np.sqrt(x) / 3.0 + x / 9.0) - d
    return np.where(d < 2.0 * m, tau, m)


def goodput(tau_s, delta_s, restart_s, mtbf_s) -> np.ndarray:
    """Useful time / wall time from Daly's expected wall time (formulas.md 9.2-9.3).

    ``G = tau / (M e^{R/M} (e^{(tau+delta)/M} - 1))``, in (0, 1]; it falls as M shrinks.
    """
    tau, d, r, m = floats(tau_s), floats(delta_s), floats(restart_s), floats(mtbf_s)
    with np.errstate(over="ignore"):
        wall = m * np.exp(np.minimum(r / m, 700.0)) * np.expm1(np.minimum((tau + d) / m, 700.0))
    return np.clip(tau / wall, 0.0, 1.0)


# ---------------------------------------------------------------- spares (formulas.md 9.4)
def poisson_tail(nu, k) -> np.ndarray:
    """P(X >= k) for X ~ Poisson(nu); k >= 0 integer (arrays broadcast)."""
    nu, k = np.broadcast_arrays(floats(nu), floats(k))
    kmax = int(min(np.max(k, initial=0), 256))
    term = np.exp(-nu)
    cdf = np.zeros_like(nu)  # P(X <= j - 1) accumulated while j < k
    for j in range(kmax):
        cdf = cdf + np.where(j < k, term, 0.0)
        term = term * nu / (j + 1)
    tail = 1.0 - cdf
    # beyond the summed terms: Chernoff bound e^-nu (e nu / k)^k for k > nu
    big = k > kmax
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        chernoff = np.exp(-nu + k * (1.0 + np.log(np.maximum(nu, 1e-300)) - np.log(np.maximum(k, 1.0))))
    tail = np.where(big, np.where(k > nu, np.minimum(chernoff, 1.0), 1.0), tail)
    return np.clip(np.where(k <= 0, 1.0, tail), 0.0, 1.0)


def spare_available(hw_rate_per_s, job_chips, repair_s, group_chips=None, group_spares=0,
                    pool_nodes=0) -> dict[str, np.ndarray]:
    """Probability that a hot spare is free when a hardware failure strikes.

    Failed units under repair are Poisson (M/G/inf) with mean ``nu = N x repair / MTBF``; a
    failure finds its spares used up with probability ``P(X >= spares)`` (arrivals see the
    time average). Group spares (``group_spares`` per ``group_chips``) cover their group;
    idle nodes left over by the job form a pool for everyone. Returns ``available``,
    ``nu_group``, ``p_short_group``, ``p_short_pool``.
    """
    lam = floats(hw_rate_per_s)
    n = floats(job_chips)
    per_chip = lam / np.maximum(n, 1.0)
    if group_chips and group_spares:
        nu_g = per_chip * group_chips * repair_s
        short_g = poisson_tail(nu_g, group_spares)
    else:
        nu_g, short_g = np.zeros_like(n), np.ones_like(n)
    nu_pool = lam * repair_s  # all failed hardware of the job waits for repair
    short_p = poisson_tail(nu_pool, np.floor(floats(pool_nodes)))
    return {"available": 1.0 - short_g * short_p, "nu_group": nu_g, "p_short_group": short_g, "p_short_pool": short_p}
