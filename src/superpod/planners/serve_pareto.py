"""The serving Pareto frontier: output tokens/s per user (1 / TPOT) against output tokens/s per chip,
over every layout and batch (``serve --pareto``, ``superpod plot pareto``), as AIConfigurator and
InferenceMAX chart it.

Disaggregated: each decode layout x batch (:func:`superpod.serving.decode.decode`) with the prefill
chips it needs at the best prefill rate per chip ``X_p`` (the layout x budget meeting the TTFT target),
so tokens/s per chip counts both pools: ``1 / (s_in / (s_out X_p) + 1 / X_d)`` (:mod:`superpod.serving.pd`).
Co-located: each layout x concurrency of :func:`superpod.serving.colocated.colocated`. A point is on
the frontier when no other point is at least as good on both axes and better on one. The chosen
deployment's point (its decode TPOT, its capacity per chip used) is marked ``chosen``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from superpod.planners.serve_capacity import DECODE_BATCH, PREFILL_GRID, _layouts, _stack, placeable, worker_chips
from superpod.serving.colocated import colocated
from superpod.serving.context import Ctx
from superpod.serving.decode import decode
from superpod.serving.plan import Workload
from superpod.serving.prefill import prefill

#: a frontier point must beat the faster ones by this share of tokens/s per user
FRONTIER_STEP = 0.005


def non_dominated(x: np.ndarray, y: np.ndarray, rel: float = 0.0) -> np.ndarray:
    """Mask of the points no other point dominates (both axes larger is better); with ``rel`` > 0 a
    point must also beat every point of larger ``x`` by that share of ``y`` (drops the flat tail of
    small batches whose TPOT hardly moves)."""
    order = np.lexsort((-y, -x))  # by x descending, then y descending
    keep = np.zeros(len(x), dtype=bool)
    best_y = -np.inf
    for i in order:
        if y[i] > best_y * (1 + rel) or (best_y == -np.inf):
            keep[i] = True
            best_y = y[i]
    return keep


def pareto_frontier(c: Ctx, grid_args: dict, dp, n: int, cpn: int, wl: Workload, phase: str,
                    dep: dict[str, Any] | None, ttft_s: float | None = None) -> dict[str, Any]:
    layouts = _layouts(c, grid_args)
    g = _stack(layouts, DECODE_BATCH)
    shape = (len(layouts), len(DECODE_BATCH))
    cw = worker_chips(c, _stack(layouts, [1.0]), dp).ravel()
    if phase == "pd":
        r = decode(c, g, wl.decode_context)
        x_d = np.broadcast_to(r["tokens_per_s_per_chip"], shape)
        pre = prefill(c, _stack(layouts, PREFILL_GRID), wl.input_len, wl.cache_hit)
        ok_p = np.broadcast_to(pre["free_bytes"], (len(layouts), len(PREFILL_GRID))) >= 0
        if ttft_s is not None:
            ok_p &= np.broadcast_to(pre["ttft_s"], ok_p.shape) <= ttft_s
        x_p = float(np.max(np.where(ok_p, np.broadcast_to(pre["tokens_per_s_per_chip"], ok_p.shape), 0.0)))
        per_chip = 1.0 / (wl.input_len / (max(wl.output_len, 1.0) * max(x_p, 1e-30)) + 1.0 / x_d)
    else:
        r = colocated(c, g, wl)
        per_chip = np.broadcast_to(r["output_tokens_per_s_per_chip"], shape)
    tpot = np.broadcast_to(r["tpot_s"], shape)
    ok = (np.broadcast_to(r["free_bytes"], shape) >= 0) & placeable(c, cw, n, cpn)[:, None]
    li, bi = np.nonzero(ok)
    xs, ys = per_chip[li, bi], 1.0 / tpot[li, bi]
    keep = non_dominated(xs, ys, FRONTIER_STEP)
    pts = []
    for k in np.nonzero(keep)[0]:
        row = layouts[li[k]]
        pts.append({"tokens_per_s_per_chip": float(xs[k]), "tokens_per_s_per_user": float(ys[k]),
                    "tpot_s": float(tpot[li[k], bi[k]]), "batch_per_chip": float(DECODE_BATCH[bi[k]]),
                    "chips_per_worker": int(cw[li[k]]), "tp": int(row["tp"]), "moe_ep": int(row["ep"]),
                    "moe_tp": int(row["moe_tp"]), "overlap": bool(row["overlap"])})
    pts.sort(key=lambda p: p["tokens_per_s_per_user"])
    out: dict[str, Any] = {"points": pts, "prefill_tokens_per_s_per_chip": x_p if phase == "pd" else None}
    if dep is not None:
        pool = dep["decode"] if dep["mode"] == "pd" else dep["replicas"]
        tp = dep.get("decode_tpot_s")
        if tp is None:
            j = int(np.argmin(np.abs(DECODE_BATCH - pool["batch"])))
            i = next(k for k, r in enumerate(layouts) if r == pool["plan"])
            tp = float(tpot[i, j])
        out["chosen"] = {"tokens_per_s_per_chip": dep["capacity_output_tokens_per_s"] / max(dep["chips_used"], 1),
                         "tokens_per_s_per_user": 1.0 / tp, "tpot_s": tp, "batch_per_chip": pool["batch"]}
    return out
