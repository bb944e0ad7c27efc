"""Scaling curves: effective compute, MFU and goodput vs chip count for several systems.

For each system and each size the training search finds the best plan on the largest
usable chip count (:func:`superpod.scale.layout.job_chips`); one search per distinct job
size (a plan search cannot take a vector of chip counts), in ``fast`` mode by default
(micro-batch 1 and no recompute first, the full plan space when those do not fit). The
reliability, power and cost arithmetic then runs once per system over all sizes as numpy
arrays (:func:`superpod.scale.estimate.evaluate`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import InfeasiblePlanError
from ..spec.catalog import load_model, load_system
from .estimate import ScaleOptions, _workload, best_plan, evaluate
from .layout import job_chips

MIN_CHIPS, MAX_CHIPS, POINTS = 64, 1_000_000, 30


def default_sizes(points: int = POINTS, lo: int = MIN_CHIPS, hi: int = MAX_CHIPS) -> np.ndarray:
    """``points`` chip counts spaced evenly in log from ``lo`` to ``hi``."""
    return np.unique(np.round(np.geomspace(lo, hi, points)).astype(np.int64))


def curve(model: str, system: str, sizes=None, opts: ScaleOptions = ScaleOptions(fast=True)) -> dict[str, Any]:
    """One system's curve: arrays over ``sizes`` (installed chips); NaN where no plan fits."""
    m, s = load_model(model), load_system(system)
    sizes = default_sizes() if sizes is None else np.asarray(sizes, dtype=np.int64)
    seq, batch, tokens = _workload(opts)
    job = job_chips(m, sizes, seq, batch)
    cols = {k: np.full(sizes.shape, np.nan) for k in ("tokens_per_s", "mfu", "busy", "step_s")}
    why: dict[int, str] = {}
    for jc in np.unique(job[job > 0]):
        try:
            plan, _ = best_plan(m, s, int(jc), seq, batch, opts)
        except InfeasiblePlanError as e:
            why[int(jc)] = str(e)
            continue
        at = job == jc
        cols["tokens_per_s"][at] = plan["tokens_per_s"]
        cols["mfu"][at] = plan["mfu"]
        cols["step_s"][at] = plan["step_s"]
        cols["busy"][at] = 1.0 - plan["breakdown"].get("bubble_s", 0.0) / plan["step_s"]
    ok = np.isfinite(cols["mfu"])
    safe_job = np.where(ok, job, 1)
    ev = evaluate(m, s, np.maximum(sizes, safe_job), safe_job, np.where(ok, cols["tokens_per_s"], 1.0),
                  np.where(ok, cols["mfu"], 0.0), np.where(ok, cols["busy"], 0.0), np.where(ok, cols["step_s"], 0.0),
                  opts, tokens)

    def masked(x):
        return np.where(ok, np.asarray(x, dtype=float), np.nan)

    dom = s.scaleup_domain
    return {
        "system": s.name,
        "title": s.title,
        "chips": sizes,
        "job_chips": job,
        "feasible": ok,
        "effective_flops": masked(ev["effective_flops"]),
        "paper_flops": np.asarray(ev["paper_flops"], dtype=float),
        "mfu": masked(cols["mfu"]),
        "goodput": masked(ev["goodput"]),
        "job_mtbf_s": masked(ev["recovery"]["job_mtbf_s"]),
        "power_w": masked(ev["power"]["total_w"]),
        "time_to_train_s": masked(ev["time_to_train_s"]),
        "scaleup_domain_chips": None if not np.isfinite(dom) else int(dom),
        "reference_chips": s.size,
        "infeasible": {str(k): v for k, v in why.items()},
    }


def sweep(model: str, systems: list[str], sizes=None, opts: ScaleOptions = ScaleOptions(fast=True)) -> dict[str, Any]:
    """Curves for every system (same sizes), with the time it took."""
    t0 = time.perf_counter()
    curves = [curve(model, s, sizes, opts) for s in systems]
    return {"model": load_model(model).name, "precision": opts.precision, "curves": curves,
            "seconds": time.perf_counter() - t0}
