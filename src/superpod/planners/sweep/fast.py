"""Decode points priced together: one vectorised call for many points of one deployment.

``superpod serve --phase decode`` prices a grid of plans (TP x EP x overlap x batch) per call;
in a sweep, points that differ only in the batch, the lengths or the TPOT target share the
context (model, system, formats, framework, fixed plan settings, what-if overrides), so
points with a batch have their grids stacked on one more axis, priced by one
:func:`~superpod.serving.decode.decode` call and picked with the masks and argmax of
:func:`~superpod.planners.serve_search.best`; points whose batch is searched under a TPOT
target go to :mod:`.slo` (the coarse pick and the integer-batch refinement as broadcasts over
the points). Cost functions are element-wise, so each point's numbers are
bit-identical to :func:`superpod.planners.serve_estimate.serve` (``tests/test_sweep_fast.py``
checks every column); the record is built as ``serve`` builds its decode record.

Other phases and questions take the one-call-per-point path.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from superpod.errors import SuperpodError
from superpod.planners import serve_cache
from superpod.planners.serve_estimate import DEPLOYED, _check_options, setup
from superpod.planners.serve_records import _breakdown, _tflops, decode_record, plan_record
from superpod.planners.serve_search import COARSE_BATCH, best, grid_for
from superpod.planners.serve_totals import SystemTotals
from superpod.planners.sweep import slo
from superpod.planners.sweep.columns import cache_key
from superpod.planners.sweep.options import OPTIONS, convert
from superpod.serving.decode import BREAKDOWN as DECODE_PARTS
from superpod.serving.decode import decode
from superpod.serving.plan import ServePlan, Workload
from superpod.spec import whatif

#: options that may differ between the points of one stacked call (the rest define the group)
PER_POINT = ("batch_per_chip", "concurrency", "input_len", "output_len", "kv_len", "tpot_slo_ms", "ttft_slo_ms", "rate")
#: result elements priced per stacked call (bounds the memory of one call)
MAX_ELEMENTS = 1 << 16
WHAT = "weights and KV cache"
OBJECTIVE = "tokens_per_s_per_chip"


def eligible(question: str, options: dict[str, Any]) -> bool:
    return question == "serve" and options.get("phase", "decode") == "decode"


def group_key(options: dict[str, Any]) -> tuple:
    """The options a group shares, as a key (in the point's order: a spec's points share one order)."""
    return tuple([(k, repr(v)) for k, v in options.items() if k not in _PER_POINT])


_PER_POINT = frozenset(PER_POINT)


def _kw(options: dict[str, Any]) -> dict[str, Any]:
    return {OPTIONS["serve"][k][0]: convert("serve", k, v) for k, v in options.items()}


class _Group:
    """What ``serve`` fixes before the search, for the options shared by a group."""

    def __init__(self, shared: dict[str, Any]):
        kw = _kw(shared)
        self.model, self.system, self.chips = kw["model"], kw["system"], kw.get("chips")
        # serve's checks, in serve's order (a failing group falls back to serve itself)
        check(kw, {})
        s = self.s = setup(self.model, self.system, self.chips, kw.get("quant"), kw.get("kv_dtype"), kw.get("framework"),
                           kw.get("tp"), kw.get("ep"), kw.get("moe_tp"), kw.get("dp"), kw.get("mtp"),
                           kw.get("mtp_accept"), kw.get("overlap"), kw.get("eplb", "balanced"))
        self.c, self.pool_chips, self.k, self.acc, self.grid_args = s.c, s.pool_chips, s.k, s.acc, s.grid_args
        self.quant, self.eplb, self.assumed, self.header = kw.get("quant"), kw.get("eplb", "balanced"), s.assumed, s.header
        self.instance_chips = s.instance_chips
        self.coarse = grid_for(self.c, batch=COARSE_BATCH, **self.grid_args)
        self.coarse_searched = slo.paired_moe_tp(self.coarse)  # the same valid plans, fewer elements
        self.tflops = _tflops(self.c)
        self.totals = SystemTotals(self.system, self.chips)
        self.cache: dict[tuple, dict[str, Any]] = {}  # serve_cache.record by what it reads (see _record)


#: the last groups built (a worker meets a deployment again in its next chunk), by what-if overrides and options
_GROUPS: dict[tuple, _Group] = {}
GROUPS_KEPT = 8


def _group(shared: dict[str, Any]) -> _Group:
    """``_Group(shared)`` under the active what-if overrides, built once for the last few deployments."""
    key = (whatif.current(), group_key(shared))
    g = _GROUPS.pop(key, None)
    if g is None:
        g = _Group(shared)
    _GROUPS[key] = g  # the newest last
    while len(_GROUPS) > GROUPS_KEPT:
        del _GROUPS[next(iter(_GROUPS))]
    return g


def _stacked(c, plan: ServePlan, ctx: np.ndarray, lead: bool) -> dict[str, np.ndarray]:
    res = decode(c, plan, ctx)
    shape = np.broadcast_shapes(np.shape(ctx), plan.shape) if lead else plan.shape
    return {k: np.broadcast_to(v, np.broadcast_shapes(np.shape(v), shape)) for k, v in res.items()}


def _chunks(n: int, per_point: int):
    step = max(1, MAX_ELEMENTS // max(per_point, 1))
    for i in range(0, n, step):
        yield i, min(n, i + step)


def _pick_all(g: _Group, pts: list[dict[str, Any]]) -> list[tuple | SuperpodError]:
    """``(row, values, searched)`` per point (or the error ``serve`` raises), as ``serve``'s ``_pick``."""
    c = g.c
    out: list[Any] = [None] * len(pts)
    fixed = [i for i, p in enumerate(pts) if p["batch"] is not None]
    searched = [i for i, p in enumerate(pts) if p["batch"] is None]
    # points with a batch: the batch axis carries one point each
    plans_per_batch = int(np.prod(g.coarse[0].shape)) // np.size(COARSE_BATCH)
    for a, b in _chunks(len(fixed), plans_per_batch):
        idx = fixed[a:b]
        gr, valid, picked = grid_for(c, batch=[pts[i]["batch"] for i in idx], **g.grid_args)
        one: dict[float, tuple] = {}  # each point's own grid (as serve builds it), by batch
        for i in idx:
            if pts[i]["batch"] not in one:
                one[pts[i]["batch"]] = grid_for(c, batch=[pts[i]["batch"]], **g.grid_args)[:2]
        if len(idx) == 1:
            res = None
            slices = [_stacked(c, gr, np.asarray(pts[idx[0]]["ctx"]), False)]
        else:
            ax = gr.batch.shape.index(len(idx))
            res = _stacked(c, gr, np.asarray([pts[i]["ctx"] for i in idx]).reshape(gr.batch.shape), False)
            rest = tuple(n for d, n in enumerate(gr.shape) if d != ax)
            res = {k: np.moveaxis(v, ax, 0).reshape((len(idx),) + rest) for k, v in res.items()}  # one copy
            _pick_rows([pts[i] for i in idx], res, one, picked, out, idx, g.s.deployed)
        for j, i in enumerate(idx):
            if out[i] is None:  # the point's own best (one point, or one with no feasible plan)
                gp, validp = one[pts[i]["batch"]]
                sliced = slices[0] if res is None else {k: v[j] for k, v in res.items()}
                out[i] = _best(g, gp, validp, sliced, pts[i], picked, False)
    # points without one: the SLO search, vectorised over the points (.slo)
    if searched:
        got = slo.searched(c, g.coarse_searched, g.coarse[2], np.asarray([pts[i]["ctx"] for i in searched], dtype=float),
                           np.asarray([pts[i]["tpot_s"] or 0.0 for i in searched], dtype=float), g.s.deployed)
        for i, r in zip(searched, got):
            out[i] = r
    return out


def _pick_rows(pts, res, one, picked, out, idx, deployed) -> None:
    """``best`` for the points of a stacked fixed-batch call at once (same masks, same argmax);
    a point with no feasible plan is left unset (``best`` itself words its error)."""
    n_pts = len(pts)
    flat = {k: v.reshape(n_pts, -1) for k, v in res.items()}
    grid0, valid0 = one[pts[0]["batch"]]  # the consistency mask depends on TP and EP only
    fits = (flat["free_bytes"] >= 0) & np.broadcast_to(valid0, grid0.shape).ravel()
    has = np.array([bool(p["tpot_s"]) for p in pts])
    bound = np.array([p["tpot_s"] * (1 + 1e-9) if p["tpot_s"] else 0.0 for p in pts])
    ok = fits & ((flat["tpot_s"] <= bound[:, None]) | ~has[:, None])
    good = fits.any(axis=1) & ok.any(axis=1)
    weight = np.broadcast_to(deployed(grid0), grid0.shape).ravel()  # serve's rank: per chip x whole instances' chips
    best_i = np.argmax(np.where(ok, flat[OBJECTIVE] * weight, -np.inf), axis=1)
    plans: dict[float, dict[str, np.ndarray]] = {}
    for j, (i, p) in enumerate(zip(idx, pts)):
        if not good[j]:
            continue
        k = int(best_i[j])
        if p["batch"] not in plans:
            fp = one[p["batch"]][0].flat()
            plans[p["batch"]] = {f.name: getattr(fp, f.name) for f in fields(fp)}
        out[i] = (_row(plans[p["batch"]], k), {key: float(v[j, k]) for key, v in flat.items()}, picked, False)


def _row(flat_fields: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """:meth:`ServePlan.row` of a flat plan, from its field arrays (same keys, order and types)."""
    return ServePlan.named({name: arr[i].item() for name, arr in flat_fields.items()})


def _best(g: _Group, grid, valid, res, p, picked, refine):
    limits = {"tpot_s": p["tpot_s"]} if p["tpot_s"] else {}
    try:
        i, flat_plan, flat = best(lambda _: res | {DEPLOYED: res[OBJECTIVE] * g.s.deployed(grid)}, grid, DEPLOYED, valid,
                                  limits, WHAT, g.c)
    except SuperpodError as e:
        return e
    row = flat_plan.row(i)
    return row, {k: float(v[i]) for k, v in flat.items()}, picked, refine


def _record(g: _Group, p: dict[str, Any], picked_out) -> dict[str, Any]:
    """``serve``'s record for a decode point, from its picked plan and values."""
    row, v, p_searched, refine = picked_out
    c, wl = g.c, p["wl"]
    out: dict[str, Any] = dict(g.header)
    picked = set(p_searched) | ({"batch"} if refine else set())
    out["decode"] = decode_record(c, v, row, wl, max(g.instance_chips(row), 1.0))
    out["plan"] = plan_record(c, row, g.k, g.acc, g.eplb, wl, {"decode": row},
                              picked | ({"quant"} if g.quant is None else set()), list(g.assumed))
    out["breakdown"] = {"decode": _breakdown(v, DECODE_PARTS)}
    g.totals.apply(out)
    # points sharing what the decode-only cache record reads share one (read-only) record (columns.cache_key)
    d = out["decode"]
    key = cache_key(wl, d["weight_bytes_per_chip"], d["chips"])
    rec = g.cache.get(key)
    if rec is None:
        rec = g.cache[key] = serve_cache.record(serve_cache.tier(c, g.system, g.chips, wl.input_len, wl.output_len,
                                                                 wl.kv_len, wl.cache_hit), c, out, {"decode": row},
                                                "decode", None)
    out["cache"] = rec
    return out


def check(shared: dict[str, Any], point: dict[str, Any]) -> None:
    """``serve``'s option checks (planner keywords; raises its error)."""
    kw = {**shared, **point}
    _check_options(kw.get("phase", "decode"), kw.get("eplb", "balanced"), kw.get("cache_hit", 0.0), kw.get("mtp"),
                   kw.get("mtp_accept"), kw.get("tp"), kw.get("ep"), kw.get("dp"), kw.get("input_len", 4096),
                   kw.get("output_len", 1024), kw.get("kv_len"), kw.get("batch_per_chip"), kw.get("concurrency"),
                   kw.get("tpot_slo_s"), kw.get("ttft_slo_s"), kw.get("rate"))


#: the record of a point whose values are in its group's columns (:func:`evaluate_group` with ``columnar``)
IN_COLUMNS: dict[str, Any] = {}


def evaluate_group(shared: dict[str, Any], points: list[dict[str, Any]], columnar: bool = False):
    """``(record, error)`` per point of one group, or None when ``serve`` itself must answer
    (the group's shared options are rejected, and ``serve`` words the error).

    ``columnar``: ``(results, columns)`` instead, where ``columns`` is ``(positions, {column: values})``
    of the points priced, flattened as the sweep stores them (:mod:`.columns`; their results hold
    :data:`IN_COLUMNS`), or None when the records are built point by point after all."""
    try:
        g = _group(shared)
    except (SuperpodError, ValueError, TypeError):
        return None
    pts, rejected = [], {}
    shared_kw = _kw(shared)
    converted: dict[tuple, tuple[str, Any]] = {}  # (option, type, value) -> (planner keyword, value)
    passed: set[tuple] = set()  # per-point values serve's checks passed (each checks one value alone)
    present: dict[tuple, list[str]] = {}  # the per-point options of each key order
    for j, opts in enumerate(points):
        per = []
        ks = tuple(opts)
        names = present.get(ks)
        if names is None:
            names = present[ks] = [k for k in PER_POINT if k in opts]
        for k in names:
            v = opts[k]
            key = (k, type(v), v)
            got = converted.get(key)
            if got is None:
                got = converted[key] = (OPTIONS["serve"][k][0], convert("serve", k, v))
            per.append(got)
        kw = {**shared_kw, **dict(per)}
        if not passed.issuperset(per):
            try:
                check(kw, {})
            except SuperpodError as e:
                rejected[j] = str(e)
                continue
            passed.update(per)
        wl = Workload(kw.get("input_len", 4096), kw.get("output_len", 1024), kw.get("kv_len"), kw.get("cache_hit", 0.0))
        if kw.get("batch_per_chip") is not None:
            batch = kw["batch_per_chip"]
        elif kw.get("concurrency") is not None:
            batch = kw["concurrency"] / g.pool_chips
        else:
            batch = None
        pts.append({"wl": wl, "ctx": wl.decode_context, "batch": batch, "tpot_s": kw.get("tpot_slo_s")})
    picks = iter(_pick_all(g, pts) if pts else [])
    it = iter(pts)
    out: list[Any] = []
    good: list[int] = []
    good_pts, good_picks = [], []
    for j in range(len(points)):
        if j in rejected:
            out.append((None, rejected[j]))
            continue
        p, r = next(it), next(picks)
        if isinstance(r, SuperpodError):
            out.append((None, str(r)))
        else:
            out.append(None)
            good.append(j)
            good_pts.append(p)
            good_picks.append(r)
    cols = None
    if columnar and len(good) > 1:
        from superpod.planners.sweep.columns import group_columns

        cols = group_columns(g, good_pts, good_picks, _record(g, good_pts[0], good_picks[0]))
    for j, p, r in zip(good, good_pts, good_picks):
        out[j] = (IN_COLUMNS, None) if cols is not None else (_record(g, p, r), None)
    if not columnar:
        return out
    return out, (None if cols is None else (good, cols))
