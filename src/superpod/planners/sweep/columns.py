"""Decode records of one stacked group as columns: ``serve``'s record, flattened, without a dict per point.

:func:`superpod.planners.sweep.fast._record` builds ``serve``'s decode record point by point
(header, ``decode`` from :func:`~superpod.planners.serve_records.decode_record`, ``plan`` from
:func:`~superpod.planners.serve_records.plan_record`, ``breakdown``, the whole-system figures of
:class:`~superpod.planners.serve_estimate.SystemTotals` and the ``cache`` record) and the sweep then
flattens it column by column. Here the same leaves come out as one list per flattened column for
every point of the group: constants once, picked values as arrays, the same float operations in the
same order (numpy's float64 arithmetic is IEEE's, as Python's), so each value equals the per-point
record's. The first point is checked against :func:`~.fast._record` itself (names, order and
values); on any difference, or with MTP (its ``mtp_speedup`` prices each point again), the caller
falls back to the per-point records.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from superpod.planners import serve_cache
from superpod.planners.sweep.chunk import array, as_list, const, value
from superpod.planners.sweep.flat import flatten
from superpod.serving.decode import BREAKDOWN as DECODE_PARTS

#: decode_record's keys, in its order: record key -> key of the priced values
DECODE_KEYS = (("tokens_per_s_per_chip", "tokens_per_s_per_chip"), ("tokens_per_s_per_tflops", None),
               ("tpot_s", "tpot_s"), ("step_s", "step_s"), ("batch_per_chip", "batch"),
               ("tokens_per_step", "tokens_per_step"), ("kv_bytes_per_chip", "kv_bytes_per_chip"),
               ("weight_bytes_per_chip", "weight_bytes"), ("max_batch_per_chip", "max_batch"))


def cache_key(wl, weight_bytes_per_chip: float, chips: float) -> tuple:
    """What serve's decode-only ``cache`` record reads (:func:`superpod.planners.serve_cache.record` without a
    prefill row): the tier's workload and the decode pool's weights and instance chips. With no hit rate
    the tier's prefix is ``input_len x 0`` and nothing else reads the lengths, so the key leaves them out
    (a finite prompt length)."""
    if wl.cache_hit == 0 and math.isfinite(wl.input_len):
        return (0.0, weight_bytes_per_chip, chips)
    return (wl.input_len, wl.output_len, wl.kv_len, wl.cache_hit, weight_bytes_per_chip, chips)


def group_columns(g, pts: list[dict[str, Any]], picks: list[tuple], template: dict[str, Any]) -> dict[str, list] | None:
    """The flattened record columns of points ``pts`` with their picks ``(row, values, searched, refined)``,
    or None when they cannot be built here (see the module docstring). ``template``: ``_record`` of the first."""
    if g.k or not pts:
        return None
    n = len(pts)
    c = g.c
    rows = [p[0] for p in picks]
    vals = [p[1] for p in picks]
    cols: dict[str, list] = {}
    for k, x in g.header.items():
        cols[k] = const(x, n)

    def col(key: str) -> np.ndarray:
        return np.array([v[key] for v in vals], dtype=float)

    def each(key: str):
        return array([v[key] for v in vals])

    # decode (decode_record), then the whole-system figures (SystemTotals.apply)
    tps = col("tokens_per_s_per_chip")
    for name, key in DECODE_KEYS:
        if key is None:
            cols["decode_" + name] = tps / g.tflops
        elif key == "batch":  # decode_record: the priced batch_per_chip, else the plan's batch
            cols["decode_" + name] = array([v["batch_per_chip"] if "batch_per_chip" in v else r["batch"]
                                            for v, r in zip(vals, rows)])
        else:
            cols["decode_" + name] = each(key)
    cols["decode_kv_len"] = array([p["wl"].decode_context for p in pts])
    chips = [max(g.instance_chips(r), 1.0) for r in rows]
    cols["decode_chips"] = array(chips)
    t = g.totals
    inst_chips = [int(math.ceil(max(float(x), 1.0) - 1e-9)) for x in chips]
    k = [t.instances(ic) for ic in inst_chips]
    used = [a * b for a, b in zip(k, inst_chips)]
    cols["decode_instances"] = array(k)
    cols["decode_chips_used"] = array(used)
    cols["decode_chips_left"] = array([t.n - u for u in used])
    K, IC, U = (np.array(x, dtype=float) for x in (k, inst_chips, used))
    system_rate = tps * K * IC
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(U > 0, system_rate / U, tps)
        per_w = t.per_chip_w
        fac = per_w * t.pue
        cols["decode_tokens_per_s_per_system"] = system_rate
        cols["decode_tokens_per_s_per_kw"] = rate / (per_w / 1e3)
        cols["decode_energy_j_per_token"] = np.where(rate > 0, per_w / rate, np.inf)
        cols["decode_tokens_per_s_per_kw_it"] = rate / (per_w / 1e3)
        cols["decode_tokens_per_s_per_kw_facility"] = rate / (fac / 1e3)
        cols["decode_energy_it_j_per_token"] = np.where(rate > 0, per_w / rate, np.inf)
        cols["decode_energy_facility_j_per_token"] = np.where(rate > 0, fac / rate, np.inf)
    rpc = g.header["ranks_per_chip"]
    cols["decode_ranks"] = array([x * rpc for x in chips])
    # plan (plan_record)
    moe = c.model.moe
    for name, x in (("quant", c.quant), ("kv_dtype", c.kv_dtype), ("framework", c.fw.name)):
        cols["plan_" + name] = const(x, n)
    cols["plan_tp"] = array([r["tp"] for r in rows])
    cols["plan_ep"] = array([r["ep"] for r in rows])
    cols["plan_dp"] = array([max(r["ep"] * r["moe_tp"] // r["tp"], 1) if moe else 1 for r in rows])
    cols["plan_moe_tp"] = array([r["moe_tp"] for r in rows])
    cols["plan_moe_ep"] = cols["plan_ep"]
    cols["plan_mtp_k"] = const(g.k, n)
    cols["plan_mtp_accept"] = const(g.acc, n)
    cols["plan_eplb"] = const(g.eplb, n)
    cols["plan_overlap"] = array([r["overlap"] for r in rows])
    cols["plan_input_len"] = array([p["wl"].input_len for p in pts])
    cols["plan_output_len"] = array([p["wl"].output_len for p in pts])
    cols["plan_kv_len"] = cols["decode_kv_len"]
    cols["plan_cache_hit"] = array([p["wl"].cache_hit for p in pts])
    for key in rows[0]:
        cols["plan_per_phase_decode_" + key] = array([r[key] for r in rows])
    memo: dict[tuple, str] = {}
    picked_col = []
    for p in picks:
        key = (tuple(sorted(p[2])), p[3])
        s = memo.get(key)
        if s is None:
            s = memo[key] = json.dumps(sorted(set(p[2]) | ({"batch"} if p[3] else set())
                                              | ({"quant"} if g.quant is None else set())))
        picked_col.append(s)
    cols["plan_picked"] = picked_col
    cols["plan_assumed"] = [json.dumps(list(g.assumed))] * n
    # breakdown (_breakdown)
    total = col("step_s")
    cols["breakdown_decode_step_s"] = total
    parts = [key for key in DECODE_PARTS if key in vals[0]]
    if any(any(key not in v for key in parts) for v in vals):
        return None
    for key in parts:
        cols["breakdown_decode_parts_s_" + key] = each(key)
    for key in parts:
        cols["breakdown_decode_share_" + key] = col(key) / total
    cols["breakdown_decode_hidden_comm_s"] = array([v.get("hidden_comm_s", 0.0) for v in vals])
    cols["breakdown_decode_imbalance"] = array([v.get("imbalance", 1.0) for v in vals])
    # the system's totals (top level), then the cache record (one per distinct input of serve_cache.record)
    cols["system_chips"] = const(t.n, n)
    cols["system_ranks"] = const(t.n * rpc, n)
    for key in ("system_power_w", "system_power_it_w", "system_power_facility_w", "pue", "power_draw"):
        cols[key] = const(t.fixed[key], n)
    flat_cache: dict[tuple, dict[str, Any]] = {}
    keys = []
    for p, w, ch in zip(pts, as_list(cols["decode_weight_bytes_per_chip"]), chips):
        wl = p["wl"]
        key = cache_key(wl, w, ch)
        if key not in flat_cache:
            rec = g.cache.get(key)
            if rec is None:
                out = {"decode": {"weight_bytes_per_chip": w, "chips": ch}}
                rec = g.cache[key] = serve_cache.record(
                    serve_cache.tier(c, g.system, g.chips, wl.input_len, wl.output_len, wl.kv_len, wl.cache_hit), c,
                    out, {"decode": {}}, "decode", None)
            flat_cache[key] = flatten({"cache": rec})
        keys.append(key)
    first = flat_cache[keys[0]]
    distinct = list(flat_cache.values())
    for name in first:
        x = first[name]
        if [d[name] for d in distinct].count(x) == len(distinct):  # the same for every point (0 and 0.0 alike)
            cols[name] = const(x, n)
        else:
            cols[name] = array([flat_cache[kk].get(name) for kk in keys])
    # the check: the first point's columns are its record, flattened (names, order, values, Python types)
    want = flatten(template)
    first = {name: value(col, 0) for name, col in cols.items()}
    if list(want) != list(cols) or any(want[name] != first[name] or type(want[name]) is not type(first[name])
                                       for name in want if not _both_nan(want[name], first[name])):
        return None
    return cols


def _both_nan(a, b) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
