"""Scaling curves: effective compute, MFU and goodput vs chip count for several systems.

Default sizes are 30 counts from 64 to 1,000,000, each the largest plan-able count 2^a x d
(d dividing the odd part of the global batch: 1, 3, 5 or 15 for 15,360 sequences) at or
below its log-spaced target (983,040 for 1,000,000): odd factorisations (59 x 2^k, 3^4 x 80)
force odd plans and make curves jagged for reasons of number theory, not hardware. For each system and size the training search finds the best plan on
the largest usable chip count (:func:`superpod.scaling.layout.job_chips`); one search per distinct job
size (a plan search cannot take a vector of chip counts), in ``fast`` mode by default
(micro-batch 1 and no recompute first, the full plan space when those do not fit). The
reliability, power and cost arithmetic then runs once per system over all sizes as numpy
arrays (:func:`superpod.planners.scale_estimate.evaluate`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from superpod.errors import InfeasiblePlanError
from superpod.spec.catalog import load_model, load_system
from superpod.spec.model import Model
from superpod.planners.scale_estimate import ScaleOptions, _workload, best_plan, evaluate
from superpod.scaling.layout import job_chips, nice_job_chips

MIN_CHIPS, MAX_CHIPS, POINTS = 64, 1_000_000, 30


def default_sizes(model: Model, seq_len: int, global_batch: int, points: int = POINTS, lo: int = MIN_CHIPS,
                  hi: int = MAX_CHIPS) -> np.ndarray:
    """``points`` chip counts spaced evenly in log from ``lo`` to ``hi``, each rounded down to the
    largest plan-able count 2^a x d with d dividing the batch's odd part (:func:`nice_job_chips`)."""
    targets = np.round(np.geomspace(lo, hi, points)).astype(np.int64)
    return np.unique(nice_job_chips(model, targets, seq_len, global_batch))


def sizes_for(model: str, opts: ScaleOptions, points: int = POINTS, lo: int = MIN_CHIPS, hi: int = MAX_CHIPS) -> np.ndarray:
    """:func:`default_sizes` for ``model`` at the workload of ``opts`` (catalog defaults where unset)."""
    seq, batch, _ = _workload(opts)
    return default_sizes(load_model(model), seq, batch, points, lo, hi)


def curve(model: str, system: str, sizes=None, opts: ScaleOptions = ScaleOptions(fast=True)) -> dict[str, Any]:
    """One system's curve: arrays over ``sizes`` (installed chips); NaN where no plan fits.

    Each size gets the batch ``superpod scale`` would use there (the shared policy of
    :func:`superpod.planners.conventions.default_global_batch`, or the user's), so a point of the
    curve is the ``scale`` record at that size."""
    m, s = load_model(model), load_system(system)
    seq, cap, tokens = _workload(opts)
    sizes = default_sizes(m, seq, cap) if sizes is None else np.asarray(sizes, dtype=np.int64)
    batches = np.array([_workload(opts, int(n))[1] for n in sizes], dtype=np.int64)
    job = np.array([int(job_chips(m, int(n), seq, int(b))) for n, b in zip(sizes, batches)], dtype=np.int64)
    cols = {k: np.full(sizes.shape, np.nan) for k in ("tokens_per_s", "mfu", "busy", "step_s")}
    why: dict[int, str] = {}
    for jc, b in sorted({(int(j), int(b)) for j, b in zip(job, batches) if j > 0}):
        try:
            plan, _ = best_plan(m, s, jc, seq, b, opts)
        except InfeasiblePlanError as e:
            why[jc] = str(e)
            continue
        at = (job == jc) & (batches == b)
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
        "global_batch": batches,
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


def _curve_job(args):
    return curve(*args)


def sweep(model: str, systems: list[str], sizes=None, opts: ScaleOptions = ScaleOptions(fast=True),
          workers: int | None = None) -> dict[str, Any]:
    """Curves for every system (same sizes), with the time it took.

    ``workers`` processes (default: one per CPU core, at most one per system) price the
    systems in parallel; 1 runs them in this process.
    """
    t0 = time.perf_counter()
    for s in systems:  # fail fast, in this process, on an unknown name
        load_system(s)
    load_model(model)
    n = min(len(systems), workers if workers is not None else (os.cpu_count() or 1))
    jobs = [(model, s, sizes, opts) for s in systems]
    if n > 1 and "fork" in mp.get_all_start_methods():
        with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("fork")) as pool:
            curves = list(pool.map(_curve_job, jobs))
    else:
        curves = [_curve_job(j) for j in jobs]
    seq, batch, _ = _workload(opts)
    return {"model": load_model(model).name, "precision": opts.precision, "seq_len": seq, "global_batch": batch,
            "curves": curves,
            "workers": n, "seconds": time.perf_counter() - t0}
