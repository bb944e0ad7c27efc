"""The decode batch searched under a TPOT target, for many points of one deployment at once.

``superpod serve --phase decode`` with no batch (``planners.serve_estimate._pick``) runs
two passes: :func:`~superpod.planners.serve_search.best` over the coarse grid (TP x EP x
overlap x 48 geometric batches), then :func:`~superpod.planners.serve_search.refine_batch`:
every integer batch 1..top of the winning plan, ``top`` the KV memory's ``max_batch``
(at most 8,192). Here both passes are broadcasts for all points of a group (same model,
system, formats, framework, fixed plan settings, what-if overrides; the points differ in
lengths and TPOT target) and the picks are one masked argmax per pass:

* coarse: one :func:`~superpod.serving.decode.decode` call per chunk of distinct contexts
  (a leading context axis on the grid), then for every point ``argmax(where(fits & tpot <=
  target, tokens/s per chip, -inf))`` over the flat grid, row-wise: ``best``'s masks and
  ``best``'s argmax (first maximum) on the same numbers;
* refinement: the winners are grouped by plan (batch aside). For one plan the cost functions
  see scalar settings, a batch axis ``1..top`` and a context axis, so what does not depend on
  the context (the GEMMs, the experts, the collectives) is priced once per batch and only the
  attention and what adds up after it once per (context, batch). Each point's pick is the
  masked argmax over its own ``1..top``, as ``refine_batch`` takes it.

A point with no feasible plan gets ``best``'s own error (``best`` is called on its slice).
Element-wise cost functions give the same floats whatever the broadcast layout, so each
point's values equal ``serve``'s (``tests/test_sweep_fast.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import Any

import numpy as np

from superpod.errors import SuperpodError
from superpod.planners.serve_search import best
from superpod.serving.decode import decode
from superpod.serving.plan import ServePlan

#: grid elements priced per call (bounds the memory of one call: ~20 result arrays of this size)
COARSE_ELEMENTS = 1 << 18
REFINE_ELEMENTS = 1 << 18
REFINE_TOP = 8192  # serve's cap on the refined batch (planners.serve_estimate._pick)
OBJECTIVE = "tokens_per_s_per_chip"
WHAT = "weights and KV cache"
#: the keys ``best`` reads when it words an error
_ERROR_KEYS = ("free_bytes", "weight_bytes", "kv_bytes_per_chip", "tpot_s", OBJECTIVE)


def _bounds(slo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``best``'s TPOT bound (target x (1 + 1e-9)) and whether a point has a target."""
    has = slo > 0
    return np.where(has, slo * (1 + 1e-9), np.inf), has


def _pick(score: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise first argmax of ``score`` where ``ok`` (``best``'s ``np.argmax(np.where(...))``)."""
    return np.argmax(np.where(ok, score, -np.inf), axis=1), ok.any(axis=1)


def _pick_points(score, fits, tpot, rows, bound, has) -> tuple[np.ndarray, np.ndarray]:
    """Each point's pick on its row ``rows[i]`` of the results: ``fits`` and, with a target,
    ``tpot <= bound[i]``. Points share rows and targets, so the rows are masked once per
    distinct target (or, when targets hardly repeat, each point's row is gathered)."""
    key = np.where(has, bound, np.inf)
    targets, inv = np.unique(key, return_inverse=True)
    inv = np.asarray(inv).ravel()
    if len(targets) * score.shape[0] > 2 * len(rows):  # few points per target: gather the rows
        ok = fits[rows] & ((tpot[rows] <= bound[:, None]) | ~has[:, None])
        return _pick(score[rows], ok)
    j = np.empty(len(rows), dtype=int)
    good = np.empty(len(rows), dtype=bool)
    for q, b in enumerate(targets.tolist()):
        jj, gg = _pick(score, fits if b == np.inf else fits & (tpot <= b))
        m = inv == q
        j[m], good[m] = jj[rows[m]], gg[rows[m]]
    return j, good


def paired_moe_tp(coarse):
    """``(grid, valid, picked)`` of the coarse grid with its expert-TP axis cut to the two degrees a valid
    plan has, 1 and the plan's TP (``grid_for``: a searched ``moe_tp`` is 1 or the TP degree): the same
    valid plans in the same flat order (so the same first argmax and the same errors) on 2/5 of the
    elements where TP takes 5 values. The TP and EP axes stay whole. The grid itself when ``moe_tp`` is not searched or when a
    valid plan has another degree."""
    grid, valid, picked = coarse
    mts = np.ravel(grid.moe_tp)
    if mts.size < 2 or np.ndim(grid.moe_tp) != len(grid.shape) or np.ndim(grid.tp) != len(grid.shape):
        return coarse
    ax = int(np.argmax(np.shape(grid.moe_tp)))
    if np.shape(grid.moe_tp)[ax] != mts.size:  # not one axis of its own
        return coarse
    full = np.broadcast_to(valid, grid.shape)
    pos = np.searchsorted(mts, grid.tp)  # the index of each plan's TP among the expert-TP degrees
    if (np.shape(grid.tp)[ax] != 1 or mts[0] != 1 or np.any(pos >= mts.size)
            or not np.array_equal(mts[np.minimum(pos, mts.size - 1)], np.broadcast_to(grid.tp, pos.shape))):
        return coarse
    both = np.concatenate([np.zeros_like(pos), pos], axis=ax)  # moe_tp = 1, then moe_tp = tp
    at = np.broadcast_to(both, grid.shape[:ax] + (2,) + grid.shape[ax + 1:])
    kept = np.zeros(grid.shape, dtype=bool)
    np.put_along_axis(kept, at, True, axis=ax)
    if np.any(full & ~kept):
        return coarse
    twice = np.concatenate([np.zeros(pos.shape, dtype=bool), pos == 0], axis=ax)  # TP 1: moe_tp 1 twice
    return dataclasses.replace(grid, moe_tp=mts[both]), np.take_along_axis(full, at, axis=ax) & ~twice, picked


def searched(c, coarse, picked: list[str], ctx: np.ndarray, slo: np.ndarray, deployed) -> list[Any]:
    """``(row, values, picked, refined)`` per point (or the error ``serve`` raises).

    ``deployed(plans)``: the chips the whole instances of each plan occupy on the system; the rank is
    tokens/s per chip times it, ``serve``'s single-pool objective (``serve_estimate.DEPLOYED``).

    ``coarse``: ``(grid, valid, picked)`` of ``grid_for(c, batch=COARSE_BATCH, ...)``;
    ``ctx``: each point's decode context (tokens); ``slo``: its TPOT target (s; 0: none).
    """
    grid, valid, _ = coarse
    shape = grid.shape
    G = int(np.prod(shape))
    valid_flat = np.broadcast_to(valid, shape).ravel()
    weight = np.broadcast_to(deployed(grid), shape).ravel()
    flat_plan = grid.flat()
    plan_cols = {f.name: getattr(flat_plan, f.name) for f in fields(flat_plan)}
    n = len(ctx)
    out: list[Any] = [None] * n
    bound, has = _bounds(slo)
    ux, xinv = np.unique(ctx, return_inverse=True)
    order = np.argsort(xinv, kind="stable")
    starts = np.searchsorted(xinv[order], np.arange(len(ux) + 1))
    per = max(1, COARSE_ELEMENTS // G)
    win_k = np.full(n, -1)
    win_top = np.zeros(n, dtype=int)
    for a in range(0, len(ux), per):
        b = min(len(ux), a + per)
        res = decode(c, grid, ux[a:b].reshape((b - a,) + (1,) * len(shape)))
        full = (b - a,) + shape
        flat = {k: np.broadcast_to(v, full).reshape(b - a, G) for k, v in res.items()}
        pts = order[starts[a]:starts[b]]
        rows = xinv[pts] - a
        fits = (flat["free_bytes"] >= 0) & valid_flat
        k, good = _pick_points(flat[OBJECTIVE] * weight, fits, flat["tpot_s"], rows, bound[pts], has[pts])
        top = flat["max_batch"][rows, k]
        errors: dict[int, Any] = {}  # per context: the error when nothing fits, or the plan an SLO error names
        for p, r, kk, g, t in zip(pts.tolist(), rows.tolist(), k.tolist(), good.tolist(), top.tolist()):
            if not g:
                out[p] = _error(c, grid, valid, flat, fits, r, float(slo[p]), errors)
                continue
            win_k[p] = kk
            win_top[p] = max(int(min(max(t, 1.0), REFINE_TOP)), 1)
    rows_of: dict[int, dict[str, Any]] = {}

    def coarse_row(kk: int) -> dict[str, Any]:
        if kk not in rows_of:
            rows_of[kk] = ServePlan.named({name: arr[kk].item() for name, arr in plan_cols.items()})
        return rows_of[kk]

    # refinement: points grouped by their winner's plan (batch aside)
    settings = [f for f in plan_cols if f != "batch"]
    key_of = np.stack([plan_cols[f] for f in settings], axis=1)  # (G, settings)
    live = np.flatnonzero(win_k >= 0)
    plan_id, plan_inv = np.unique(key_of[win_k[live]], axis=0, return_inverse=True)
    plan_inv = np.asarray(plan_inv).ravel()
    for q in range(len(plan_id)):
        members = live[plan_inv == q]
        values = dict(zip(settings, plan_id[q].tolist()))
        _refine(c, values, members, ctx, win_top, bound, has, out, coarse_row, win_k, picked, deployed)
    for p in live.tolist():
        if out[p] is None:  # no batch of 1..top meets the target: the coarse pick stands (refine_batch's None)
            kk = int(win_k[p])
            res = decode(c, grid, np.asarray(ctx[p]))  # its context's coarse results again (not kept: memory)
            out[p] = (dict(coarse_row(kk)), {key: float(np.broadcast_to(v, shape).ravel()[kk]) for key, v in res.items()},
                      picked, False)
    return out


def _refine(c, settings: dict[str, float], members: np.ndarray, ctx, top, bound, has, out, coarse_row, win_k,
            picked, deployed) -> None:
    """Every integer batch 1..top of one plan at the contexts of ``members``; each point's best."""
    ux, xinv = np.unique(ctx[members], return_inverse=True)
    xinv = np.asarray(xinv).ravel()
    utop = np.zeros(len(ux), dtype=int)
    np.maximum.at(utop, xinv, top[members])
    by_top = np.argsort(utop, kind="stable")
    rank = np.empty_like(by_top)
    rank[by_top] = np.arange(len(by_top))
    scalars = {k: np.asarray(v, dtype=float) for k, v in settings.items()}
    start = 0
    while start < len(by_top):
        stop = start + 1
        while stop < len(by_top) and (stop - start + 1) * int(utop[by_top[stop]]) <= REFINE_ELEMENTS:
            stop += 1
        T = int(utop[by_top[stop - 1]])
        part = by_top[start:stop]
        plan = ServePlan(batch=np.arange(1, T + 1, dtype=float).reshape(1, -1), **scalars)
        res = decode(c, plan, ux[part].reshape(-1, 1))
        res = {k: np.broadcast_to(v, (len(part), T)) for k, v in res.items()}
        score = res[OBJECTIVE] * deployed(plan)  # serve's rank (one plan: the same chips at every batch)
        sel = members[(rank[xinv] >= start) & (rank[xinv] < stop)]
        rows = rank[np.searchsorted(ux, ctx[sel])] - start
        row_top = utop[part]
        if np.array_equal(top[sel], row_top[rows]):  # a plan's top is its KV memory's max_batch at a context
            fits = (np.arange(T)[None, :] < row_top[:, None]) & (res["free_bytes"] >= 0)
            j, good = _pick_points(score, fits, res["tpot_s"], rows, bound[sel], has[sel])
        else:
            ok = (np.arange(T)[None, :] < top[sel, None]) & (res["free_bytes"][rows] >= 0)
            ok &= (res["tpot_s"][rows] <= bound[sel, None]) | ~has[sel, None]
            j, good = _pick(score[rows], ok)
        vals = {k: v[rows, j].tolist() for k, v in res.items()}
        keys = list(vals)
        for n_, (p, jj, g) in enumerate(zip(sel.tolist(), j.tolist(), good.tolist())):
            if not g:
                continue
            # refine_batch's row: the plan with batch jj + 1 (ServePlan.row's types and key order)
            out[p] = ({**coarse_row(int(win_k[p])), "batch": float(jj + 1)},
                      {k: vals[k][n_] for k in keys}, picked, True)
        start = stop


def _error(c, grid, valid, flat, fits, r: int, slo: float, memo: dict[int, Any]) -> SuperpodError:
    """``best``'s error for one point, from its row ``r`` of the coarse results.

    Nothing fits: ``best`` on the row (the message does not depend on the target: one call
    per context). Something fits but misses the target: ``best`` on the one plan it names,
    the fitting plan of least TPOT (its ``argmin``), which words the same message.
    """
    if not fits[r].any():
        if r not in memo:
            memo[r] = _raised(c, grid, valid, {k: flat[k][r].reshape(grid.shape) for k in _ERROR_KEYS}, {})
        return memo[r]
    key = -1 - r  # the fitting plan of least TPOT at this context, and its results
    if key not in memo:
        j = int(np.argmin(np.where(fits[r], flat["tpot_s"][r], np.inf)))
        memo[key] = (grid.take([j]), {k: flat[k][r, [j]] for k in _ERROR_KEYS})
    one, res = memo[key]
    return _raised(c, one, None, res, {"tpot_s": slo})


def _raised(c, grid, valid, res, limits) -> SuperpodError:
    try:
        best(lambda _: res, grid, OBJECTIVE, valid, limits, WHAT, c)
    except SuperpodError as e:
        return e
    raise AssertionError("best found a plan the vectorised pick did not")  # the masks are best's
