"""Checkpoint cost, restart time and goodput of one training job (formulas.md sec. 9.2-9.4).

``recovery(...)`` puts the pieces of :mod:`.reliability` together for a job of
``job_chips`` on ``system`` (``installed_chips`` of it powered; idle nodes are a spare
pool): failure rates by component, MTBF_job, checkpoint write time delta, restart time R
(detect + replace + init + reload + warm-up), checkpoint interval tau (Daly or Young) and
goodput G. Every entry is an array broadcast over ``job_chips``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superpod.cost.arrays import floats
from superpod.errors import InvalidOptionError
from superpod.spec.system import System
from superpod.scaling.params import Reliability
from superpod.scaling.reliability import (daly_interval_s, failure_rates_per_s, goodput, job_mtbf_s, optics_per_chip,
                          spare_available, young_interval_s)

SOFTWARE = "software"
INTERVAL_RULES = ("daly", "young")


@dataclass(frozen=True)
class RecoveryOptions:
    """User choices that change recovery (None: the system's or catalog's default)."""

    failure_scale: float = 1.0  # multiply every component rate
    in_memory_checkpoint: bool | None = None
    spares: bool = True  # use the system's hot spares and the idle-node pool
    restart_s: float | None = None  # replace the modelled R by this value
    interval: str = "daly"  # "daly" | "young"

    def __post_init__(self) -> None:
        if self.interval not in INTERVAL_RULES:
            raise InvalidOptionError(f"checkpoint interval rule must be daly or young, got {self.interval!r}")
        if not self.failure_scale > 0 or (self.restart_s is not None and not self.restart_s > 0):
            raise InvalidOptionError(f"--failure-scale and --restart-s must be > 0, got {self.failure_scale!r}, {self.restart_s!r}")



def recovery(params: float, system: System, job_chips, installed_chips, rel: Reliability,
             opts: RecoveryOptions = RecoveryOptions(), step_s=0.0) -> dict:
    """Reliability and goodput of a job; see the module docstring. ``params``: model parameters.

    ``step_s``: one optimizer step, the shortest possible checkpoint interval (the state is
    consistent only between steps).
    """
    n = floats(job_chips)
    inst = np.maximum(floats(installed_chips), n)
    ck, rs = rel.checkpoint, rel.restart
    rates = failure_rates_per_s(rel, system, n, opts.failure_scale)
    lam = sum(rates.values())
    mtbf = job_mtbf_s(rates)
    hw_rate = lam - rates.get(SOFTWARE, 0.0)

    res = system.resilience
    in_mem = opts.in_memory_checkpoint if opts.in_memory_checkpoint is not None else bool(res and res.in_memory_checkpoint)
    ckpt_bytes = params * ck.bytes_per_param.si
    shard = ckpt_bytes / n
    if in_mem:
        peer_Bps = system.tiers[-1].effective_bw_per_chip_Bps  # the replica sits on another node
        delta = shard / ck.snapshot_Bps.si + 0.0 * n
        reload = shard / peer_Bps + 0.0 * n
    else:
        write_Bps = ck.storage_write_Bps.si * n / ck.storage_chips.si
        read_Bps = ck.storage_read_Bps.si * n / ck.storage_chips.si
        delta = ck.fixed_s.si + ckpt_bytes / write_Bps
        reload = ckpt_bytes / read_Bps

    if opts.spares and res is not None and res.spare_chips is not None:
        group, per_group = res.spare_group_chips.si, res.spare_chips.si
    else:
        group, per_group = None, 0
    spare_chips = np.ceil(n / group) * per_group if group else np.zeros_like(n)
    pool_nodes = np.floor((inst - n) / system.chips_per_node) if opts.spares else np.zeros_like(n)
    sp = spare_available(hw_rate, n, rs.repair_s.si, group, per_group, pool_nodes)
    hw_share = np.where(lam > 0, hw_rate / lam, 0.0)
    replace = hw_share * (sp["available"] * rs.spare_swap_s.si + (1.0 - sp["available"]) * rs.reschedule_s.si)
    parts = {"detect_s": rs.detect_s.si + 0.0 * n, "replace_s": replace, "init_s": rs.init_s.si + 0.0 * n,
             "reload_s": reload, "warmup_s": rs.warmup_s.si + 0.0 * n}
    restart = sum(parts.values()) if opts.restart_s is None else opts.restart_s + 0.0 * n
    tau = daly_interval_s(delta, mtbf) if opts.interval == "daly" else young_interval_s(delta, mtbf)
    tau = np.maximum(tau, floats(step_s))
    g = goodput(tau, delta, restart, mtbf)
    optics, optics_basis = optics_per_chip(system, n, rel.optics)
    return {
        "rates_per_s": rates,
        "job_mtbf_s": mtbf,
        "goodput": g,
        "checkpoint_interval_s": tau,
        "checkpoint_s": delta,
        "checkpoint_bytes": ckpt_bytes + 0.0 * n,
        "in_memory_checkpoint": in_mem,
        "restart_s": restart,
        "restart_parts_s": parts if opts.restart_s is None else {"user_restart_s": restart},
        "lost_work_per_failure_s": (tau + delta) / 2.0 + restart,
        "spare_chips": spare_chips,
        "spare_pool_nodes": pool_nodes,
        "spare_available": sp["available"],
        "optical_modules": optics * n,
        "optical_modules_basis": optics_basis,
        "interval_rule": opts.interval,
    }
