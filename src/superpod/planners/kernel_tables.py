"""Measured kernel tables priced by the fitted kernel models: the table half of ``superpod calibration``.

Each table of AIConfigurator's perf database (gemm, mla_bmm, context/generation attention,
context/generation MLA, moe, nccl, custom all-reduce, DeepEP low-latency and normal) ships as a
stratified sample in ``catalog/calibration/silicon/samples/`` (the full tables, about a million rows,
are not in the project). :func:`table_rows` prices every sampled row with the models of
:mod:`superpod.cost.kernels` and the shipped parameters (``catalog/calibration/silicon/*.toml``),
vectorised over the rows that share one parameter set, and reports rows, MAPE, p90 and the worst
shapes per table, beside the leave-one-GPU-out errors the fits recorded (``holdout.toml``).

The same pricing as ``benchmarks/silicon/check_*.py`` (the parameter set of the row's GPU if it has
one, else its family's, else the generic one; per-GPU multipliers where fitted).
"""

from __future__ import annotations

import csv
import gzip
from functools import lru_cache
from typing import Any

import numpy as np

from superpod.cost.kernels import attention as A
from superpod.cost.kernels import collectives as C
from superpod.cost.kernels import gemm as G
from superpod.cost.kernels import moe as M
from superpod.cost.kernels.surface import Surface
from superpod.spec.calibration import silicon_params
from superpod.spec.catalog import catalog_root

#: table -> (parameter file, columns that name a shape in the worst-rows list)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gemm_perf": ("gemm", ("framework", "kernel_source", "gemm_dtype", "m", "n", "k")),
    "mla_bmm_perf": ("mla_bmm", ("framework", "op_name", "bmm_dtype", "num_tokens", "num_heads")),
    "context_attention_perf": ("attention", ("framework", "kernel_source", "attn_dtype", "kv_cache_dtype",
                                             "batch_size", "isl", "num_heads", "num_key_value_heads", "head_dim")),
    "generation_attention_perf": ("attention", ("framework", "kernel_source", "kv_cache_dtype", "batch_size",
                                                "step", "num_heads", "num_key_value_heads", "head_dim")),
    "context_mla_perf": ("attention", ("framework", "kernel_source", "mla_dtype", "batch_size", "isl", "num_heads")),
    "generation_mla_perf": ("attention", ("framework", "kernel_source", "mla_dtype", "batch_size", "step",
                                          "num_heads")),
    "moe_perf": ("moe_perf", ("framework", "kernel_source", "moe_dtype", "num_tokens", "hidden_size", "inter_size",
                              "topk", "num_experts", "moe_tp_size", "moe_ep_size", "distribution")),
    "nccl_perf": ("comm_perf", ("op_name", "nccl_dtype", "num_gpus", "message_size")),
    "custom_allreduce_perf": ("comm_perf", ("framework", "kernel_source", "num_gpus", "message_size")),
    "wideep_deepep_ll_perf": ("comm_perf", ("kind", "num_token", "hidden_size", "num_topk", "num_experts")),
    "wideep_deepep_normal_perf": ("comm_perf", ("kind", "num_token", "hidden_size", "num_topk", "num_experts",
                                                "sms")),
}
FAMILY = {"h100_sxm": ("hopper", "nvlink4"), "h200_sxm": ("hopper", "nvlink4"), "b200_sxm": ("blackwell", "nvlink5"),
          "gb200": ("blackwell", "nvlink5"), "b300_sxm": ("blackwell", "nvlink5"), "gb300": ("blackwell", "nvlink5")}
SAMPLES = "calibration/silicon/samples"


def samples_dir():
    return catalog_root() / SAMPLES


@lru_cache(maxsize=None)
def sample(table: str) -> tuple[dict[str, str], ...]:
    """The shipped sample rows of one table (CSV, ``#`` comment lines hold its source)."""
    with gzip.open(samples_dir() / f"{table}_sample.csv.gz", "rt") as f:
        return tuple(csv.DictReader(line for line in f if not line.startswith("#")))


def sample_source(table: str) -> str:
    with gzip.open(samples_dir() / f"{table}_sample.csv.gz", "rt") as f:
        first = f.readline()
    return first.lstrip("# ").strip() if first.startswith("#") else f"{SAMPLES}/{table}_sample.csv.gz"


def _groups(rows, key):
    out: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault(key(r), []).append(i)
    return out


def _col(rows, idx, name):
    return np.array([float(rows[i][name]) for i in idx])


def _node(tree, *keys):
    for k in keys:
        tree = tree.get(str(k)) if isinstance(tree, dict) else None
        if tree is None:
            return None
    return tree


def _level(node, gpu):
    """The most specific parameter set: the GPU's, its family's, else generic (floats only)."""
    for lv in (gpu, *FAMILY[gpu], "generic"):
        if isinstance(node, dict) and lv in node:
            return {k: v for k, v in node[lv].items() if isinstance(v, float)}
    return None


def _hw_gemm(system, P=silicon_params):
    pg, pa = P("gemm"), P("attention")
    h = pg["hardware"][system]
    return {"peak_flops": {"bf16": h["bf16_flops"], "fp8": h["fp8_flops"], "fp4": h["fp4_flops"]},
            "hbm_Bps": h["hbm_Bps"], "sm_count": h["sm_count"], "arch": h["arch"],
            "exp_per_s": pa["hardware"][system]["exp_per_s"]}


def _hw_comm(name, system, P=silicon_params):
    return {k: float(v) for k, v in P(name)["hardware"][system].items() if isinstance(v, (int, float))}


def _price_gemm(table, rows, P):
    pred = np.full(len(rows), np.nan)
    meas = np.array([float(r["latency"]) for r in rows]) * 1e-3
    bmm = table == "mla_bmm_perf"
    pp = P("mla_bmm" if bmm else "gemm")
    dcol = "bmm_dtype" if bmm else "gemm_dtype"
    key = (lambda r: (r["system"], r["framework"], r["op_name"], r[dcol], r["kernel_source"])) if bmm else \
        (lambda r: (r["system"], r["framework"], r[dcol], r["kernel_source"]))
    for k, idx in _groups(rows, key).items():
        hw = _hw_gemm(k[0], P)
        p = _node(pp, table.removesuffix("_perf"), hw["arch"], *k[1:])
        if p is None:
            continue
        mc, mt = p["gpu_eta_c"].get(k[0], 1.0), p["gpu_t0"].get(k[0], 1.0)
        if bmm:
            t = G.gemm_s(_col(rows, idx, "num_tokens"), p["n"], p["k"], k[3], hw, p, mc, mt,
                         batch=_col(rows, idx, "num_heads"))
        else:
            surf = Surface.from_toml(p["surface"]) if isinstance(p.get("surface"), dict) else None
            t = G.gemm_s(_col(rows, idx, "m"), _col(rows, idx, "n"), _col(rows, idx, "k"), k[2], hw, p, mc, mt,
                         surface=surf)
        pred[idx] = t
    return meas, pred, rows


def _price_attention(table, rows, P):
    pred = np.full(len(rows), np.nan)
    meas = np.array([float(r["latency"]) for r in rows]) * 1e-3
    mla, ctx = "mla" in table, table.startswith("context")
    dcol = "mla_dtype" if mla else "attn_dtype"
    pa = P("attention")
    for k, idx in _groups(rows, lambda r: (r["system"], r["framework"], r["kernel_source"], r[dcol],
                                           r["kv_cache_dtype"])).items():
        system, _, _, dt, kv = k
        hw = _hw_gemm(system, P)
        p = _node(pa, table.removesuffix("_perf"), hw["arch"], *k[1:])
        if p is None:
            continue
        q = dict(p)
        for name in ("eta_c", "eta_x"):
            if name in q:
                q[name] = q[name] * p["gpu_eta_c"].get(system, 1.0)
        q["eta_m"] = q["eta_m"] * p["gpu_eta_m"].get(system, 1.0)
        q["surface"] = Surface.from_toml(p["surface"]) if "surface" in p else None
        kv_b = 1.0 if "fp8" in kv else 2.0
        b, h = _col(rows, idx, "batch_size"), _col(rows, idx, "num_heads")
        if not mla:
            h_kv, hd, w = _col(rows, idx, "num_key_value_heads"), _col(rows, idx, "head_dim"), _col(rows, idx,
                                                                                                  "window_size")
        if ctx:
            fp8 = dt == "fp8"
            isl = _col(rows, idx, "isl")
            h_kv, dqk, dv, w = (h, 192.0, 128.0, 0.0) if mla else (h_kv, hd, hd, w)
            t = A.context_s(b, isl, h, h_kv, dqk, dv, w, 1.0 if fp8 else 2.0, kv_b, "fp8" if fp8 else "bf16", hw, q)
        else:
            step = _col(rows, idx, "step")
            h_kv, dqk, dv, dvr, w = (1.0, 576.0, 512.0, 0.0, 0.0) if mla else (h_kv, hd, hd, hd, w)
            t = A.generation_s(b, step + 1, h, h_kv, dqk, dv, dvr, w, kv_b, hw, q, mma_rows=64.0 if mla else 16.0)
        pred[idx] = t
    return meas, pred, rows


def _price_moe(rows, P):
    pred = np.full(len(rows), np.nan)
    meas = np.array([float(r["latency"]) for r in rows]) * 1e-3
    pm = P("moe_perf")
    for k, idx in _groups(rows, lambda r: (r["system"], r["source"].split("/")[2], r["kernel_source"],
                                           r["moe_dtype"], r["distribution"])).items():
        system, fw, ks, dt, dist = k
        p = _level(_node(pm, "moe_perf", fw, ks, dt, dist), system)
        if p is None:
            continue
        hw = _hw_comm("moe_perf", system, P)
        c = {n: _col(rows, idx, n) for n in ("num_tokens", "hidden_size", "inter_size", "topk", "num_experts",
                                              "moe_tp_size", "moe_ep_size")}
        surf = _node(pm, "moe_perf", fw, ks, dt, dist, "surface", FAMILY[system][0])
        pred[idx] = M.moe_s(c["num_tokens"], c["hidden_size"], c["inter_size"], c["topk"], c["num_experts"],
                            c["moe_tp_size"], c["moe_ep_size"], hw, p, M.weight_bytes(dt), hw[M.peak_key(dt, ks)],
                            M.gated_factor(ks), surface=Surface.from_toml(surf) if surf else None)
    return meas, pred, rows


def _price_collective(table, rows, P):
    pc = P("comm_perf")
    if table in ("nccl_perf", "custom_allreduce_perf"):
        pred = np.full(len(rows), np.nan)
        meas = np.array([float(r["latency"]) for r in rows]) * 1e-3
        nccl = table == "nccl_perf"
        sel, dcol = ("op_name", "nccl_dtype") if nccl else ("kernel_source", "allreduce_dtype")
        for k, idx in _groups(rows, lambda r: (r["system"], r[sel], r["num_gpus"], r[dcol])).items():
            system, what, n, dt = k
            p = _level(_node(pc, table, what, n), system)
            if p is None:
                continue
            hw = _hw_comm("comm_perf", system, P)
            nbytes = _col(rows, idx, "message_size") * C.DTYPE_BYTES[dt]
            pred[idx] = C.nccl_s(what, float(n), nbytes, hw, p) if nccl else C.custom_allreduce_s(float(n), nbytes,
                                                                                                   hw, p)
        return meas, pred, rows
    ll = table == "wideep_deepep_ll_perf"
    out_rows, meas, pred = [], [], []
    for kind in ("dispatch", "combine"):
        for system, idx in _groups(rows, lambda r: r["system"]).items():
            system = system if isinstance(system, str) else system[0]
            p = _level(_node(pc, table, kind), system)
            hw = _hw_comm("comm_perf", system, P)
            c = {n: _col(rows, idx, n) for n in ("num_token", "hidden_size", "num_topk", "num_experts")}
            if ll:
                y = _col(rows, idx, f"{kind}_avg_t_us") * 1e-6
                t = C.deepep_ll_s(kind, c["num_token"], c["hidden_size"], c["num_topk"], c["num_experts"], hw, p)
            else:
                y = (_col(rows, idx, f"{kind}_transmit_us") + _col(rows, idx, f"{kind}_notify_us")) * 1e-6
                t = C.deepep_normal_s(kind, c["num_token"], c["hidden_size"], c["num_topk"], c["num_experts"],
                                      _col(rows, idx, f"{kind}_sms"), hw, p)
            meas.append(y)
            pred.append(np.broadcast_to(t, y.shape))
            out_rows += [{**rows[i], "kind": kind, "sms": rows[i].get(f"{kind}_sms", "")} for i in idx]
    return np.concatenate(meas), np.concatenate(pred), out_rows


def price_table(table: str, params=silicon_params) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """(measured seconds, predicted seconds, rows) of one table's shipped sample; NaN where no parameters.
    ``params(name)``: the parameter file ``name`` (default: the shipped ones)."""
    rows = sample(table)
    if table in ("gemm_perf", "mla_bmm_perf"):
        return _price_gemm(table, rows, params)
    if "attention" in table or "mla_perf" in table:
        return _price_attention(table, rows, params)
    if table == "moe_perf":
        return _price_moe(rows, params)
    return _price_collective(table, rows, params)


def _holdout(table: str) -> list[dict[str, Any]]:
    recorded = silicon_params("holdout").get(table, {})
    return [{"gpu": gpu, **{k: v for k, v in e.items() if k != "confidence"}} for gpu, e in recorded.items()]


def _num(v: str):
    """A CSV cell as the number it spells, else the text."""
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _stats(err: np.ndarray) -> dict[str, Any]:
    if not len(err):
        return {"rows": 0, "mape_pct": None, "p90_pct": None}
    return {"rows": int(len(err)), "mape_pct": 100 * float(err.mean()), "p90_pct": 100 * float(np.percentile(err, 90))}


def table_row(table: str, worst: int = 3, gpu: str | None = None) -> dict[str, Any]:
    """One table: rows, MAPE / p90 (%) of the sample, its worst shapes and the recorded holdout errors
    (with ``gpu``: the sample's rows of that GPU only)."""
    meas, pred, rows = price_table(table)
    ok = ~np.isnan(pred)
    if gpu is not None:
        ok &= np.array([r["system"] == gpu for r in rows], dtype=bool)
    err = np.abs(pred[ok] - meas[ok]) / meas[ok]
    shape_cols = TABLES[table][1]
    kept = [r for r, good in zip(rows, ok) if good]
    order = np.argsort(-err)[:worst]
    return {
        "table": table, **_stats(err), "sampled_rows": len(rows),
        "worst": [] if not len(err) else [{"system": kept[i]["system"], "shape": {c: _num(kept[i].get(c, "")) for c in shape_cols},
                   "measured_s": float(meas[ok][i]), "predicted_s": float(pred[ok][i]),
                   "error": float(pred[ok][i] / meas[ok][i] - 1)} for i in order],
        "parameters": f"calibration/silicon/{TABLES[table][0]}.toml",
        "sample": sample_source(table),
        "holdout": _holdout(table),
    }


def table_rows(worst: int = 3) -> list[dict[str, Any]]:
    """Every measured kernel table priced on its shipped sample with the shipped parameters."""
    return [table_row(t, worst) for t in TABLES]


#: the fit script that re-derives each table's parameters (and its leave-one-GPU-out error)
FIT_SCRIPT = {"gemm_perf": "fit_gemm.py", "mla_bmm_perf": "fit_mla_bmm.py", "moe_perf": "fit_moe_perf.py",
              **{t: "fit_attention.py" for t in TABLES if "attention" in t or "mla_perf" in t},
              **{t: "fit_comm_perf.py" for t in ("nccl_perf", "custom_allreduce_perf", "wideep_deepep_ll_perf",
                                                 "wideep_deepep_normal_perf")}}
HOLDOUT_NOTE = ("left-out errors recorded by the fit scripts on the full tables (about a million rows, not shipped; "
                "re-derive with the command given per table); --refit refits on the shipped samples instead "
                "(about 60 s, source checkout and the 'fit' extra)")


def holdout(gpu: str, worst: int = 3) -> dict[str, Any]:
    """``--holdout GPU``: per table, the recorded error on ``gpu`` with parameters fitted without it, beside the
    error of the sample's ``gpu`` rows with the shipped parameters (which were fitted with it)."""
    out = []
    for t in TABLES:
        rec = next((h for h in _holdout(t) if h["gpu"] == gpu), None)
        mine = table_row(t, worst, gpu)
        out.append({"table": t, "left_out": rec, "in_sample": {k: mine[k] for k in ("rows", "mape_pct", "p90_pct")},
                    "worst_in_sample": mine["worst"],
                    "command": f"python benchmarks/silicon/{FIT_SCRIPT[t]} DIR --holdout {gpu}"})
    return {"gpu": gpu, "refit": False, "note": HOLDOUT_NOTE, "tables": out}
