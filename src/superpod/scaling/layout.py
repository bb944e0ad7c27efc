"""Which chip counts a training job can use, and where its parallel groups land on the fabric.

A job of N chips needs N = TP x PP x CP x DP with DP dividing the global batch (in
sequences); 1,000,000 chips have no such factorisation for most models, so a job uses the
largest count <= N that has one (:func:`job_chips`) and the rest of the installed chips
idle (they serve as spare nodes). :func:`placement` reports, for the plan the training
search returned, how far each group reaches under its rank order (TP innermost, then CP,
DP with EP groups inside DP x CP, PP outermost: Megatron's tp-cp-ep-dp-pp, the order the
training estimator prices) and which fabric tier it lands on.

>>> int(job_chips_grid(128, 61, 4096, 15360)[-1] >= 1)
1
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from superpod.cost.plan import CP_MAX, PP_MAX, TP_MAX, cp_splits_sequence, powers_of_two, tp_splits_heads
from superpod.spec.model import Model
from superpod.spec.system import System


def _divisors(n: int) -> np.ndarray:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return np.array(sorted(set(small) | {n // d for d in small}), dtype=np.int64)


@lru_cache(maxsize=64)
def job_chips_grid(heads: int, layers: int, seq_len: int, global_batch: int, kv_heads: int | None = None) -> np.ndarray:
    """Every chip count TP x PP x CP x DP a plan can use (sorted), micro-batch 1.

    TP, PP and CP follow the training search's rules (:mod:`superpod.cost.plan`: TP splits
    the heads, PP up to min(layers, PP_MAX), CP a power of two splitting the sequence);
    DP divides the global batch.
    """
    kv = kv_heads or heads
    tp = np.arange(1, TP_MAX + 1, dtype=np.int64)
    tp = tp[tp_splits_heads(heads, kv, tp)]
    pp = np.arange(1, min(layers, PP_MAX) + 1, dtype=np.int64)
    cp = np.array(powers_of_two(CP_MAX), dtype=np.int64)
    cp = cp[cp_splits_sequence(seq_len, cp)]
    dp = _divisors(global_batch).astype(np.int64)
    prod = (tp[:, None, None, None] * pp[None, :, None, None] * cp[None, None, :, None] * dp[None, None, None, :])
    return np.unique(prod.ravel())


def job_chips(model: Model, chips, seq_len: int, global_batch: int) -> np.ndarray:
    """The largest usable chip count <= ``chips`` (array); 0 if none."""
    grid = job_chips_grid(model.heads, model.layers, seq_len, global_batch, model.kv_heads)
    n = np.asarray(chips, dtype=np.int64)
    i = np.searchsorted(grid, n, side="right") - 1
    return np.where(i >= 0, grid[np.maximum(i, 0)], 0)


def odd_part(n: int) -> int:
    while n > 0 and n % 2 == 0:
        n //= 2
    return n


def nice_job_chips(model: Model, chips, seq_len: int, global_batch: int) -> np.ndarray:
    """The largest usable count <= ``chips`` of the form 2^a x d, d dividing the odd part of the
    global batch (0 if none): the odd factor goes to DP and every other degree stays a power of two,
    the sizes clusters are built in (for a 15,360-sequence batch: 2^a x {1, 3, 5, 15})."""
    grid = job_chips_grid(model.heads, model.layers, seq_len, global_batch, model.kv_heads)
    odd = np.array([odd_part(int(g)) for g in grid], dtype=np.int64)
    grid = grid[odd_part(global_batch) % odd == 0]
    n = np.asarray(chips, dtype=np.int64)
    i = np.searchsorted(grid, n, side="right") - 1
    return np.where(i >= 0, grid[np.maximum(i, 0)], 0)


def tier_of(system: System, span_chips: float) -> str:
    """The innermost tier whose domain holds ``span_chips`` consecutive chips."""
    for t in system.tiers:
        if span_chips <= t.domain:
            return t.name
    return system.tiers[-1].name


def placement(plan: dict, system: System) -> dict:
    """Size, reach (consecutive chips one group spans) and tier of each parallel group.

    ``pod_chips`` is the scale-up domain (a SuperPoD, an NVL72 rack, a node); a group
    ``crosses_pod`` when its reach exceeds it.
    """
    tp, cp, dp, ep, pp = (int(plan[k]) for k in ("tp", "cp", "dp", "ep", "pp"))
    pod = system.scaleup_domain
    reach = {
        "tp": (tp, tp),
        "cp": (cp, tp * cp),
        "ep": (ep, tp * ep),
        "dp": (dp, tp * cp * dp),
        "pp": (pp, tp * cp * dp * pp),
    }
    groups = {k: {"size": size, "reach_chips": span, "tier": tier_of(system, span) if size > 1 else None,
                  "crosses_pod": bool(size > 1 and span > pod)} for k, (size, span) in reach.items()}
    crossing = [k for k, g in groups.items() if g["crosses_pod"]]
    order = "tp-cp-ep-dp-pp (PP outermost)"
    if not crossing:
        note = "every group stays inside one scale-up domain"
    else:
        inner = [k for k in ("tp", "ep", "pp") if k in crossing]
        note = (f"{', '.join(crossing)} reach beyond one {int(pod):,}-chip scale-up domain under the search's rank order "
                f"{order}" + (f"; {', '.join(inner)} pay the scale-out tier" if inner else ""))
    return {"pod_chips": pod, "rank_order": order, "groups": groups, "crossing_pod": crossing, "note": note}
