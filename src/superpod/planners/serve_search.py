"""Plan search for one pool: enumerate TP x EP x batch x overlap as one open grid, price
it in one vectorized call, drop what does not fit (memory, SLOs) and keep the best.

Parameters the user gave are fixed; the others are searched and reported as ``picked``.
The decode batch is found in two passes: a geometric grid over all plans, then every
integer batch of the winning plan (throughput per chip rises with the batch until memory
or the TPOT target stops it, so the answer is the largest batch that still fits).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from superpod.errors import SloUnreachableError
from superpod.serving.context import check_ep, check_tp, max_ep, memory_error
from superpod.serving.context import Ctx
from superpod.serving.plan import ServePlan

EP_CHOICES = (1, 2, 4, 8, 16, 24, 32, 48, 64, 72, 96, 128, 144, 160, 192, 256, 288, 320, 384, 512, 576, 768, 1024)
COARSE_BATCH = np.unique(np.round(np.geomspace(1, 4096, 48)))
PREFILL_TOKENS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)


def tp_choices(c: Ctx, given: int | None) -> list[int]:
    if given is not None:
        check_tp(c.model, given)
        return [given]
    if c.model.mla is not None:
        return [1]  # MLA: TP does not shard the latent KV cache, so MLA serving uses DP attention (formulas.md 2.4)
    dom = c.hw.scaleup_domain * c.dev
    return [t for t in (1, 2, 4, 8, 16) if c.model.heads % t == 0 and t <= dom]


def ep_choices(c: Ctx, given: int | None, pool_ranks: float) -> list[int]:
    if given is not None:
        check_ep(c, given, pool_ranks)
        return [given]
    if c.model.moe is None:
        return [1]
    top = min(max_ep(c.model), pool_ranks)
    out = [e for e in EP_CHOICES if e <= top and (e % c.dev == 0)]
    if top % c.dev == 0 and top not in out:
        out.append(int(top))
    return out or [int(c.dev)]


def _flat(res: dict[str, np.ndarray], shape) -> dict[str, np.ndarray]:
    return {k: np.broadcast_to(np.asarray(v), shape).ravel() for k, v in res.items()}


def best(evaluate: Callable[[ServePlan], dict[str, np.ndarray]], grid: ServePlan, objective: str,
         valid: np.ndarray | None, limits: dict[str, float], what: str, c: Ctx) -> tuple[int, ServePlan, dict]:
    """Index of the best feasible plan of ``grid`` (flat), the flat grid and its results.

    ``limits``: result key -> upper bound (SLOs). Raises a one-line error when nothing
    fits in memory (with what is missing) or nothing meets the limits (with the best
    value reached).
    """
    res = evaluate(grid)
    shape = np.broadcast_shapes(grid.shape, np.shape(res[objective]))
    flat = _flat(res, shape)
    ok_shape = np.ones(flat[objective].shape, dtype=bool) if valid is None else np.broadcast_to(valid, shape).ravel()
    fits = (flat["free_bytes"] >= 0) & ok_shape
    if not fits.any():
        # fits iff weights + KV / kv_fraction <= HBM - reserve (free_bytes >= 0, memory.usable_bytes)
        need = flat["weight_bytes"] + flat["kv_bytes_per_chip"] / c.fw.si("kv_mem_fraction")
        usable = np.full(need.shape, c.hw.hbm_bytes - c.fw.si("runtime_reserve_bytes"))
        i = int(np.argmin(np.where(ok_shape, need - usable, np.inf)))
        raise memory_error(c, float(need[i]), float(usable[i]), what)
    ok = fits.copy()
    for key, bound in limits.items():
        ok &= flat[key] <= bound * (1 + 1e-9)
    if not ok.any():
        key, bound = next(iter(limits.items()))
        j = int(np.argmin(np.where(fits, flat[key], np.inf)))
        raise SloUnreachableError(
            f"no plan meets {key.replace('_s', '')} <= {bound * 1e3:,.1f} ms: the best reachable is "
            f"{flat[key][j] * 1e3:,.1f} ms ({_describe(grid.flat().row(j))}); relax the target or add chips")
    score = np.where(ok, flat[objective], -np.inf)
    return int(np.argmax(score)), grid.flat(), flat


def _describe(row: dict[str, Any]) -> str:
    mt = f", MoE TP {row['moe_tp']}" if row.get("moe_tp", 1) > 1 else ""
    return f"batch {row['batch']:g} per chip, TP {row['tp']}, EP {row['ep']}{mt}"


def moe_tp_choices(c: Ctx, given: int | None, tps: list[int]) -> list[int]:
    """Expert TP degrees to search: 1 (experts whole, spread by EP) and each attention TP
    degree (experts split like the dense layers, TensorRT-LLM's default layout)."""
    if given is not None:
        return [given]
    if c.model.moe is None:
        return [1]
    return sorted({1, *tps})


def grid_for(c: Ctx, tp: int | None, ep: int | None, pool_ranks: float, batch, overlap: bool | None,
             mtp_k, mtp_accept, eplb, moe_tp: int | None = None, dp: int | None = None) -> tuple[ServePlan, np.ndarray, list[str]]:
    """The open grid of candidate plans and the mask of consistent ones (for MoE models the
    expert ranks ``moe_tp x ep`` a multiple of TP and within the pool; a searched ``moe_tp``
    is 1 or the TP degree), plus the names of the parameters that were searched."""
    tps = tp_choices(c, tp)
    eps = ep_choices(c, ep, pool_ranks)
    mts = moe_tp_choices(c, moe_tp, tps)
    ovs = [overlap] if overlap is not None else ([0, 1] if c.model.moe is not None else [0])
    picked = [n for n, v in (("tp", tp), ("ep", ep), ("overlap", overlap)) if v is None]
    if len(mts) > 1:
        picked.append("moe_tp")
    g = ServePlan.grid(tp=tps, ep=eps, batch=batch, overlap=ovs, mtp_k=mtp_k, mtp_accept=mtp_accept, eplb=eplb,
                       moe_tp=mts)
    if c.model.moe is not None:
        ranks = g.ep * g.moe_tp
        valid = ((ranks % g.tp == 0) | (ranks == 1)) & (ranks <= max(pool_ranks, 1))
        if moe_tp is None:
            valid = valid & ((g.moe_tp == 1) | (g.moe_tp == g.tp))
        if dp is not None:  # a given --dp-attention is kept: moe_tp x moe_ep = tp x dp
            valid = valid & (ranks == g.tp * dp)
    else:
        valid = np.ones(g.shape, dtype=bool)
    return g, valid, picked


def refine_batch(evaluate, plan_row: dict[str, Any], top: float, limits: dict[str, float], objective: str):
    """Every integer batch 1..top for one plan: the best (largest feasible) one."""
    b = np.arange(1, max(int(top), 1) + 1, dtype=float)
    args = {k: v for k, v in plan_row.items() if k != "batch"}
    g = ServePlan.grid(batch=b, **{k: [v] for k, v in args.items()})
    res = evaluate(g)
    flat = _flat(res, np.broadcast_shapes(g.shape, np.shape(res[objective])))
    ok = flat["free_bytes"] >= 0
    for key, bound in limits.items():
        ok &= flat[key] <= bound * (1 + 1e-9)
    if not ok.any():
        return None
    i = int(np.argmax(np.where(ok, flat[objective], -np.inf)))
    return i, g.flat(), flat
