"""Integer serving deployments and their capacity under SLOs (issue 12; AIConfigurator's xPyD search).

A **deployment** is ``x`` prefill workers and ``y`` decode workers (disaggregated, ``pd``) or ``r``
co-located replicas, each worker a whole number of chips holding one plan (TP, MoE TP, MoE EP,
DP-attention) and one batch: the prefill worker's prompt tokens per chip per step, the decode
worker's sequences per chip. Workers are placed on whole nodes (a worker's chips divide the node or
are a multiple of it) and, on a system larger than its scale-up domain, inside a domain or over
whole domains; ``chips_used + chips_left`` is the system.

**Capacity** is the highest Poisson request rate at which the TTFT and TPOT targets hold at the
stated percentile (``slo_percentile`` 50, 90 or 99), priced from the same step-time tables the
request-level simulation (:mod:`superpod.serving.simulate`) runs:

* prefill pool (``x`` workers, first come first served, a worker takes every waiting prompt up to
  its token budget): with cycle ``T`` each worker batches the ``m = lambda T / x`` prompts that
  arrived since the previous worker started, so ``T = t(m s_in)`` (a fixed point, solved by
  iteration; it grows as ``t_0 / (1 - rho)`` near saturation). The p-th percentile TTFT is the
  batch time at ``m + z_p sqrt(m)`` prompts (Poisson), plus the wait for the next free worker
  (``p T / x``), plus an M/D/1 backlog term ``rho / (2 (1 - rho)) T / x`` scaled by
  ``ln(1 / (1 - p))``, plus the exposed KV transfer (:mod:`superpod.serving.pd`);
* decode pool (``y`` workers of ``n_c`` sequence slots each, the largest batch whose TPOT meets the
  target): a request holds a slot for ``ceil((s_out - 1) / E[tokens/step])`` steps; the slots stay
  free at the p-th percentile while the mean occupancy ``n`` satisfies ``n + z_p sqrt(n) <= n_c``
  (the occupancy of many slots is Poisson), so a worker holds ``n / (steps x t_step(n))`` requests/s;
* co-located replicas: the steady state of :func:`superpod.serving.colocated.colocated` at the
  largest concurrency meeting both targets, derated the same way.

Without a TTFT target the prefill pool is run at ``NO_TTFT_UTILISATION`` of its saturation rate with
the smallest token budget that reaches 90% of the layout's best prefill rate (the policy a user
would pick: full batches without a minute-long queue; docs/serving.md); without a TPOT target the
decode batch is the largest that fits in memory. Every search is one vectorised evaluation of the
candidate layouts x batches x worker counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from superpod.cost.comm import p2p_s
from superpod.cost.memory_serve import kv_bytes_per_token
from superpod.errors import InfeasiblePlanError, InvalidOptionError, SloUnreachableError
from superpod.planners.serve_search import PREFILL_TOKENS, grid_for
from superpod.serving.colocated import colocated
from superpod.serving.context import Ctx
from superpod.serving.decode import decode
from superpod.serving.plan import ServePlan, Workload, tokens_per_step
from superpod.serving.prefill import prefill

#: normal quantiles of the SLO percentiles (z_p) a deployment may be sized at
Z = {50: 0.0, 90: 1.2815515655446004, 99: 2.3263478740408408}
#: per-chip prompt tokens at which prefill step times are tabulated (the simulation interpolates the same table)
PREFILL_GRID = np.geomspace(16, 131072, 64)
#: decode sequences per chip searched
DECODE_BATCH = np.unique(np.round(np.geomspace(1, 4096, 160)))
#: prefill utilisation when no TTFT target is given (policy; module docstring)
NO_TTFT_UTILISATION = 0.8
#: ... with the smallest token budget reaching this share of the layout's best prefill rate
PREFILL_POLICY_SHARE = 0.9
NO_TTFT_POLICY = (f"no TTFT target: each prefill worker runs the smallest token budget within 90% of its layout's best "
                  f"prefill rate and the pool is loaded to {NO_TTFT_UTILISATION:.0%} of saturation (short queues, full "
                  "batches; give --ttft-slo-ms to size for a target)")
PLAN_KEYS = ("tp", "ep", "dp", "moe_tp", "overlap", "mtp_k", "mtp_accept", "eplb")


def check_percentile(p) -> int:
    if p not in Z:
        raise InvalidOptionError(f"--slo-percentile must be 50, 90 or 99, not {p!r}")
    return int(p)


def worker_chips(c: Ctx, g: ServePlan, dp: int | None) -> np.ndarray:
    """Whole chips of one worker of each plan: its expert ranks or its attention ranks, whichever is more."""
    if c.model.moe is not None:
        ranks = np.maximum(g.ep * g.moe_tp, g.tp * (dp or 1))
    else:
        ranks = np.asarray(g.tp, dtype=float) * (dp or 1)
    return np.ceil(np.maximum(ranks / c.dev, 1.0) - 1e-9)


def placeable(c: Ctx, chips: np.ndarray, n: int, cpn: int) -> np.ndarray:
    """Workers of ``chips`` that sit on whole nodes of ``cpn`` chips and, beyond one scale-up domain,
    inside or over whole domains."""
    ok = (chips <= n) & ((np.mod(chips, cpn) == 0) | (np.mod(cpn, chips) == 0))
    dom = float(c.hw.scaleup_domain)
    if n > dom:
        ok &= (np.mod(chips, dom) == 0) | (np.mod(dom, chips) == 0)
    return ok


def whole_instances(chips, n: int, cpn: int, dom: float) -> np.ndarray:
    """Whole instances of ``chips`` chips each that ``n`` chips hold, placed on nodes of ``cpn`` chips
    and scale-up domains of ``dom``: an instance of at most a node shares nodes (``cpn // chips`` a
    node), a larger one takes ``ceil(chips / cpn)`` whole nodes; on more chips than one domain an
    instance that fits a domain stays inside one, a larger one takes whole domains. (The last node
    or domain may be partial; what no whole instance fills is left.)"""
    chips = np.maximum(np.ceil(np.asarray(chips, dtype=float) - 1e-9), 1.0)

    def within(region: int) -> np.ndarray:  # whole nodes of ``region`` chips, the last one partial
        full, part = region // cpn, region % cpn
        small = full * (cpn // chips) + part // chips
        large = full // np.ceil(chips / cpn - 1e-9)
        return np.where(chips <= cpn, small, large)

    dom_i = int(max(min(dom, n), 1))
    if n <= dom_i:
        return within(n)
    inside = (n // dom_i) * within(dom_i) + within(n % dom_i)
    over = (n // dom_i) // np.ceil(chips / dom_i - 1e-9)
    return np.where(chips <= dom_i, inside, over)


def _interp(x: np.ndarray, grid: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation: ``table[i]`` on ``grid`` at ``x[i, ...]`` (clamped at the ends)."""
    x = np.clip(x, grid[0], grid[-1])
    j = np.clip(np.searchsorted(grid, x) - 1, 0, len(grid) - 2)
    w = (x - grid[j]) / (grid[j + 1] - grid[j])
    rows = np.arange(table.shape[0]).reshape((-1,) + (1,) * (x.ndim - 1))
    return table[rows, j] * (1 - w) + table[rows, j + 1] * w


def prefill_ttft_p(lam, x, steps, pc, budget, s_in, xfer, pct: int) -> np.ndarray:
    """p-th percentile TTFT of a prefill pool of ``x`` workers at ``lam`` requests/s (module docstring).

    ``steps`` (I, G): step time at PREFILL_GRID per-chip tokens; ``pc``, ``budget``, ``xfer``: (I, 1)."""
    z, q = Z[pct], pct / 100.0
    n_b = np.maximum(np.floor(budget * pc / s_in), 1.0)  # prompts a batch holds
    chunks = np.where(n_b * s_in > budget * pc, np.ceil(s_in / (budget * pc)), 1.0)

    def t(m):
        return _interp(np.minimum(np.clip(m, 1.0, n_b) * s_in / pc, budget), PREFILL_GRID, steps) * chunks

    T = t(np.ones_like(lam * x))
    for _ in range(16):
        T = t(lam * T / x)
    m = lam * T / x
    rho = np.clip(lam / (x * n_b / t(n_b + 0 * m)), 0.0, 0.999999)
    wait = (q * np.minimum(m, 1.0) + rho / (2 * (1 - rho)) * math.log(1 / (1 - q))) * T / x
    return t(m + z * np.sqrt(m)) + wait + xfer


def prefill_capacity(lam_hi, x, steps, pc, budget, s_in, xfer, ttft_s, pct) -> np.ndarray:
    """Highest rate (<= ``lam_hi``) whose p-th percentile TTFT meets ``ttft_s`` (bisection, vectorised)."""
    lo, hi = np.zeros_like(lam_hi), lam_hi * (1 - 1e-6)
    ok0 = prefill_ttft_p(lam_hi * 1e-6, x, steps, pc, budget, s_in, xfer, pct) <= ttft_s
    for _ in range(36):
        mid = (lo + hi) / 2
        ok = prefill_ttft_p(mid, x, steps, pc, budget, s_in, xfer, pct) <= ttft_s
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(ok0, lo, 0.0)


def n_effective(slots, pct: int):
    """Mean occupancy ``n`` of ``slots`` sequence slots with ``n + z_p sqrt(n) = slots``."""
    z = Z[pct]
    return ((-z + np.sqrt(z * z + 4 * np.asarray(slots, dtype=float))) / 2) ** 2


def _row(g: ServePlan, i: int) -> dict[str, Any]:
    return {k: v for k, v in g.row(i).items() if k != "batch"}


class Layouts(list):
    """The consistent parallel layouts of a search (plan rows), with their coded plan arrays."""

    plans: ServePlan


def _layouts(c: Ctx, grid_args: dict) -> Layouts:
    g, valid, _ = grid_for(c, batch=[1.0], **grid_args)
    flat = g.take(np.broadcast_to(valid, g.shape).ravel())
    out = Layouts(_row(flat, i) for i in range(len(flat)))
    out.plans = flat
    return out


def _stack(layouts: Layouts, batch) -> ServePlan:
    """Plans (L, B): each layout at every batch."""
    cols = {k: getattr(layouts.plans, k)[:, None] for k in PLAN_KEYS}
    return ServePlan(**cols, batch=np.asarray(batch, dtype=float)[None, :])


def worker_record(row: dict[str, Any], workers: int, chips: float, batch: float) -> dict[str, Any]:
    tp, ep, mt = int(row["tp"]), int(row["ep"]), int(row["moe_tp"])
    return {"workers": int(workers), "chips_per_worker": int(chips), "tp": tp, "moe_tp": mt, "moe_ep": ep,
            "dp_attention": max(ep * mt // max(tp, 1), 1) if ep * mt > 1 else max(int(row.get("dp", 1)), 1),
            "batch": float(batch), "plan": row}


def prefill_candidates(c: Ctx, layouts, dp, n, cpn, s_in: float, cache_hit: float, ttft_s: float | None):
    """Prefill workers: every layout x token budget that fits, is placeable and meets the TTFT target alone."""
    g = _stack(layouts, PREFILL_GRID)
    r = prefill(c, g, s_in, cache_hit)
    steps = np.array(np.broadcast_to(np.asarray(r["step_s"]), (len(layouts), len(PREFILL_GRID))))
    free = np.broadcast_to(np.asarray(r["free_bytes"]), steps.shape)
    pc = worker_chips(c, _stack(layouts, [1.0]), dp).ravel()
    budgets = np.array(PREFILL_TOKENS, dtype=float)
    jb = np.searchsorted(PREFILL_GRID, budgets).clip(0, len(PREFILL_GRID) - 1)
    # the budget fits when the tabulated point at or above it fits
    fits = free[:, jb] >= 0
    rate = budgets[None, :] / steps[:, jb]  # tokens/s per chip at full batches
    L, Bn = fits.shape
    li, bi = np.meshgrid(np.arange(L), np.arange(Bn), indexing="ij")
    ok = fits & placeable(c, pc, n, cpn)[:, None]
    if ttft_s is None:  # policy: the smallest budget within 90% of the layout's best rate
        best = np.max(np.where(ok, rate, 0.0), axis=1, keepdims=True)
        good = ok & (rate >= PREFILL_POLICY_SHARE * best)
        first = np.argmax(good, axis=1)
        ok = good & (bi == first[:, None])
    li, bi = li[ok], bi[ok]
    kv_tok = float(kv_bytes_per_token(c.model, c.kv_el))
    xfer = np.array([float(p2p_s(s_in * kv_tok, pc[i], c.hw)) / c.model.layers for i in li])
    return {"layout": li, "budget": budgets[bi], "chips": pc[li], "steps": steps[li], "xfer": xfer}


def decode_candidates(c: Ctx, layouts, dp, n, cpn, wl: Workload, tpot_s: float | None, pct: int):
    """Decode workers: each layout at its best whole-slot batch meeting the TPOT target, and the
    requests/s one worker holds at the percentile (module docstring)."""
    g = _stack(layouts, DECODE_BATCH)
    ctx = wl.decode_context
    r = decode(c, g, ctx)
    shape = (len(layouts), len(DECODE_BATCH))
    tpot = np.broadcast_to(r["tpot_s"], shape)
    free = np.broadcast_to(r["free_bytes"], shape)
    cw = worker_chips(c, _stack(layouts, [1.0]), dp).ravel()
    slots = np.floor(DECODE_BATCH[None, :] * cw[:, None])
    ok = (free >= 0) & placeable(c, cw, n, cpn)[:, None] & (slots >= 1)
    if tpot_s is not None:
        ok &= tpot <= tpot_s * (1 + 1e-9)
    ne = n_effective(slots, pct)
    g2 = _stack(layouts, [1.0])
    g2 = ServePlan(**{k: getattr(g2, k) for k in PLAN_KEYS}, batch=np.maximum(ne, 1.0) / cw[:, None])
    r2 = decode(c, g2, ctx)
    step = np.broadcast_to(r2["step_s"], shape)
    tps = np.broadcast_to(tokens_per_step(g2.mtp_k, g2.mtp_accept), shape)
    steps_needed = np.maximum(np.ceil(max(wl.output_len - 1.0, 0.0) / tps), 1.0)
    lam = np.where(ok, ne / (steps_needed * step), 0.0)
    j = np.argmax(lam, axis=1)
    keep = lam[np.arange(len(layouts)), j] > 0
    li = np.nonzero(keep)[0]
    jj = j[keep]
    return {"layout": li, "batch": slots[li, jj] / cw[li], "slots": slots[li, jj], "chips": cw[li],
            "rate": lam[li, jj], "tpot_s": tpot[li, jj], "step_s": step[li, jj]}


def search_pd(c: Ctx, grid_args: dict, dp, n: int, cpn: int, wl: Workload, ttft_s, tpot_s, pct: int) -> dict[str, Any]:
    """The disaggregated deployment of ``n`` chips that holds the most requests/s (exhaustive over
    prefill candidates x prefill workers x decode candidates; the fewest decode workers that keep up)."""
    layouts = _layouts(c, grid_args)
    s_in = wl.input_len
    P = prefill_candidates(c, layouts, dp, n, cpn, s_in, wl.cache_hit, ttft_s)
    D = decode_candidates(c, layouts, dp, n, cpn, wl, tpot_s, pct)
    if len(P["chips"]) == 0 or len(D["chips"]) == 0:
        which = "prefill" if len(P["chips"]) == 0 else "decode"
        raise InfeasiblePlanError(f"no {which} worker of {c.model.name} fits on {n} chips of {c.hw.chip} "
                                  f"(whole nodes, memory{', SLO' if (ttft_s or tpot_s) else ''}); add chips or relax the target")
    xmax = int(max(n // P["chips"].min() - 1, 1))
    min_cw = D["chips"].min()
    J = len(D["chips"])
    best = None
    any_x = any_ok = False
    # one block per prefill worker size: its own range of worker counts (the (I, X, J) grid, without the
    # counts whose workers leave no room for a decode worker); the pick is the grid's first maximum
    for chips_g in np.unique(P["chips"]):
        ig = np.flatnonzero(P["chips"] == chips_g)
        xg = int(min(xmax, (n - min_cw) // chips_g))
        if xg < 1:
            continue
        got = _pd_block(P, D, ig, xg, n, s_in, ttft_s, pct)
        if got is None:
            continue
        any_x = True
        score, lam_p, y, cap, used, ok = got
        any_ok |= bool(ok.any())
        k = int(np.argmax(score))
        a, xi, j = np.unravel_index(k, score.shape)
        flat = (int(ig[a]) * xmax + int(xi)) * J + int(j)
        sc = float(score[a, xi, j])
        if best is None or sc > best[0] or (sc == best[0] and flat < best[1]):
            best = (sc, flat, int(ig[a]), int(xi), int(j), float(y[a, xi, j]), float(used[a, xi, j]),
                    float(cap[a, xi, j]), float(lam_p[a, xi]))
    if not any_x:
        raise InfeasiblePlanError(
            f"a disaggregated deployment of {c.model.name} needs a prefill and a decode worker: the smallest that fit are "
            f"{P['chips'].min():.0f} + {D['chips'].min():.0f} chips of {c.hw.chip}, {n} given; add chips or use --phase both")
    if not any_ok:
        raise SloUnreachableError(f"no disaggregated deployment of {c.model.name} on {n} chips meets "
                                  f"{_targets(ttft_s, tpot_s, pct)}; relax the target or add chips")
    _, _, i, xi, j, y_w, used_w, lam, lam_pi = best
    lp, ld = int(P["layout"][i]), int(D["layout"][j])
    xw, yw = xi + 1, int(y_w)
    chips_used = int(used_w)
    return {
        "mode": "pd",
        "prefill": worker_record(layouts[lp], xw, P["chips"][i], P["budget"][i]),
        "decode": worker_record(layouts[ld], yw, D["chips"][j], D["batch"][j]),
        "chips_used": chips_used, "chips_left": int(n - chips_used),
        "nodes_used": int(math.ceil(chips_used / cpn)),
        "capacity_requests_per_s": lam, "capacity_output_tokens_per_s": lam * wl.output_len,
        "capacity_bound": "prefill" if lam_pi <= yw * D["rate"][j] else "decode",
        "prefill_pool_requests_per_s": lam_pi, "decode_pool_requests_per_s": float(yw * D["rate"][j]),
        "decode_tpot_s": float(D["tpot_s"][j]), "slo_percentile": pct,
        "capacity_policy": NO_TTFT_POLICY if ttft_s is None else None,
    }


def _pd_block(P, D, ig, xg: int, n: int, s_in: float, ttft_s, pct: int):
    """Prefill candidates ``ig`` (one worker size) x 1..``xg`` workers x decode candidates: the
    score, the prefill pool's rate (Ig, X) and the decode workers, capacity and chips (Ig, X, J)."""
    pc = P["chips"][ig][:, None]
    x = np.arange(1, xg + 1, dtype=float)[None, :]
    budget = P["budget"][ig][:, None]
    steps = P["steps"][ig]
    n_b = np.maximum(np.floor(budget * pc / s_in), 1.0)
    chunks = np.where(n_b * s_in > budget * pc, np.ceil(s_in / (budget * pc)), 1.0)
    t_full = _interp(np.minimum(n_b * s_in / pc, budget), PREFILL_GRID, steps) * chunks
    lam_sat = x * n_b / t_full
    if ttft_s is None:
        lam_p = NO_TTFT_UTILISATION * lam_sat
    else:
        lam_p = prefill_capacity(lam_sat, x, steps, pc, budget, s_in, P["xfer"][ig][:, None], ttft_s, pct)
    rest = n - x * pc  # (Ig, X)
    valid_x = rest >= D["chips"].min()
    if not valid_x.any():
        return None
    cw = D["chips"][None, None, :]
    ymax = np.floor(rest[..., None] / cw)
    yneed = np.ceil(lam_p[..., None] / D["rate"][None, None, :] - 1e-9)
    y = np.clip(yneed, 1, np.maximum(ymax, 1))
    cap = np.minimum(lam_p[..., None], y * D["rate"][None, None, :])
    used = x[..., None] * pc[..., None] + y * cw
    ok = valid_x[..., None] & (ymax >= 1) & (cap > 0)
    score = np.where(ok, cap * (1 - 1e-9 * used / n), -1.0)
    return score, lam_p, y, cap, used, ok


def search_colocated(c: Ctx, grid_args: dict, dp, n: int, cpn: int, wl: Workload, ttft_s, tpot_s, pct: int) -> dict[str, Any]:
    """Co-located replicas of ``n`` chips: the replica layout and concurrency holding the most requests/s."""
    layouts = _layouts(c, grid_args)
    g = _stack(layouts, DECODE_BATCH)
    r = colocated(c, g, wl)
    shape = (len(layouts), len(DECODE_BATCH))
    get = {k: np.broadcast_to(r[k], shape) for k in ("tpot_s", "ttft_s", "free_bytes", "output_tokens_per_s_per_chip")}
    cw = worker_chips(c, _stack(layouts, [1.0]), dp).ravel()
    slots = np.floor(DECODE_BATCH[None, :] * cw[:, None])
    ok = (get["free_bytes"] >= 0) & placeable(c, cw, n, cpn)[:, None] & (slots >= 1)
    for key, bound in (("tpot_s", tpot_s), ("ttft_s", ttft_s)):
        if bound is not None:
            ok &= get[key] <= bound * (1 + 1e-9)
    per_replica = get["output_tokens_per_s_per_chip"] * cw[:, None] / max(wl.output_len, 1.0) * n_effective(slots, pct) / np.maximum(slots, 1)
    replicas = np.floor(n / cw)[:, None]
    cap = np.where(ok, replicas * per_replica, -1.0)
    if not (cap > 0).any():
        raise SloUnreachableError(f"no co-located deployment of {c.model.name} on {n} chips meets "
                                  f"{_targets(ttft_s, tpot_s, pct)}; relax the target or add chips")
    i, j = np.unravel_index(int(np.argmax(cap)), cap.shape)
    reps = int(replicas[i, 0])
    used = int(reps * cw[i])
    lam = float(cap[i, j])
    return {
        "mode": "colocated", "replicas": worker_record(layouts[i], reps, cw[i], slots[i, j] / cw[i]),
        "chips_used": used, "chips_left": int(n - used), "nodes_used": int(math.ceil(used / cpn)),
        "capacity_requests_per_s": lam, "capacity_output_tokens_per_s": lam * wl.output_len,
        "capacity_bound": "replicas", "slo_percentile": pct,
    }


def _targets(ttft_s, tpot_s, pct) -> str:
    parts = [f"{k} <= {v * 1e3:,.0f} ms" for k, v in (("TTFT", ttft_s), ("TPOT", tpot_s)) if v]
    return (" and ".join(parts) or "memory") + f" at p{pct}"


def deployment_record(dep: dict[str, Any]) -> dict[str, Any]:
    """The contract's ``deployment`` object (issue 12): each pool's workers, layout and batch, and
    the plan settings beside them (``overlap``, ``mtp_k``, ``mtp_accept``, ``eplb``)."""
    out = {"mode": dep["mode"]}
    for pool in ("prefill", "decode", "replicas"):
        if pool in dep:
            plan = dep[pool]["plan"]
            out[pool] = {k: v for k, v in dep[pool].items() if k != "plan"} | {
                "overlap": bool(plan["overlap"]), "mtp_k": int(plan["mtp_k"]), "mtp_accept": float(plan["mtp_accept"]),
                "eplb": plan["eplb"]}
    out |= {k: dep[k] for k in ("chips_used", "chips_left", "nodes_used")}
    return out
