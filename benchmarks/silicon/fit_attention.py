"""Fit the attention / MLA kernel model (attention_model.py) to AIConfigurator's attention and MLA tables.

Run:
    python benchmarks/silicon/fit_attention.py /work/shared/reference/silicon/kernels --out src/superpod/catalog/calibration/silicon/attention.toml
    python benchmarks/silicon/fit_attention.py DIR --holdout b300_sxm   # fit without that GPU, report on it
    python benchmarks/silicon/fit_attention.py DIR --holdout all        # every GPU in turn (summary table)
    python benchmarks/silicon/fit_attention.py DIR --loo                # the full fit, then each GPU left out
    python benchmarks/silicon/fit_attention.py DIR --tables context_mla_perf,generation_mla_perf

Tables: context_attention_perf, generation_attention_perf (MHA/GQA), context_mla_perf, generation_mla_perf
(DeepSeek-V3 MLA core). One kernel = (arch, framework, kernel_source, attention dtype, KV-cache dtype), arch = sm90 or
sm100 (different kernel binaries); its shape parameters are shared by every GPU of that family, and each measured GPU gets two multipliers (of eta_c and eta_m,
geometric mean 1 over the GPUs; 1 for a GPU nobody measured). Fit: log-error least squares (soft-L1) on a
stratified sample; errors on every row, also over the serving ranges (prefill: 1k..32k tokens per call;
decode: batch 1..512); the summary also shows a plain roofline. The loop (fit, report, leave one GPU out,
TOML) is fit_driver.py's.

Efficiency surfaces (superpod.cost.kernels.surface): after the form, each kernel gets a surface fitted to
ln(measured / form) over every row of its table (the GPUs' own multipliers applied; serving-range rows
weigh double), over ``SURFACE_VARS`` of the table with knots every ``KNOT_STEP`` octaves (head_dim: at
its measured values). ``--form FILE`` keeps the form parameters of FILE (e.g. the shipped attention.toml)
and fits only the surfaces; a held-out GPU (``--holdout``) always refits both without it.
"""

from __future__ import annotations

import os
import sys
import time

import tomllib

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import least_squares
from scipy.sparse.linalg import cg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attention_model as A  # noqa: E402
import common_gemm_attention as C  # noqa: E402
import fit_driver as D  # noqa: E402
import surface_fit as SF  # noqa: E402
from superpod.cost.kernels.surface import Surface  # noqa: E402

#: SFU exponential rate (exp/s). Blackwell: Verda "GB300 NVL72 architecture" per-GPU table ("attention
#: acceleration (SFU EX2)": 5 T/s B200/GB200, 10.7 T/s B300/GB300). Hopper: 16 exp2/clk/SM (CUDA C
#: programming guide, arithmetic instruction throughput, cc 9.0) x 132 SMs x 1.98 GHz boost = 4.2 T/s.
EXP_PER_S = {"h100_sxm": 4.18e12, "h200_sxm": 4.18e12, "b200_sxm": 5.0e12, "gb200": 5.0e12,
             "b300_sxm": 10.7e12, "gb300": 10.7e12}

CTX_X0 = dict(eta_c=0.6, eta_x=0.8, eta_m=0.7, t0_s=8e-6, p=3.0, c0=64.0)
CTX_LO = dict(eta_c=0.02, eta_x=0.05, eta_m=0.05, t0_s=0.0, p=1.0, c0=0.0)
CTX_HI = dict(eta_c=2.0, eta_x=2.0, eta_m=1.0, t0_s=2e-4, p=12.0, c0=4096.0)
GEN_X0 = dict(eta_c=0.3, eta_m=0.7, t0_s=6e-6, p=3.0, sat=1.0, l_split=1024.0, t_cta_s=1e-6)
GEN_LO = dict(eta_c=0.005, eta_m=0.05, t0_s=0.0, p=1.0, sat=0.02, l_split=16.0, t_cta_s=0.0)
GEN_HI = dict(eta_c=2.0, eta_m=1.0, t0_s=2e-4, p=12.0, sat=16.0, l_split=65536.0, t_cta_s=5e-5)


def _bytes(s: pd.Series) -> np.ndarray:
    return np.where(s.astype(str).str.contains("fp8"), 1.0, 2.0)


def ctx_arrays(d: pd.DataFrame, hws: dict, mla: bool) -> dict:
    fp8 = d["attn_dtype"].eq("fp8").to_numpy() if "attn_dtype" in d else np.zeros(len(d), bool)
    peak = np.array([hws[s]["peak_flops"]["fp8" if f else "bf16"] for s, f in zip(d["system"], fp8)])
    h = d["num_heads"].to_numpy(float)
    return dict(
        b=d["batch_size"].to_numpy(float), isl=d["isl"].to_numpy(float), h=h,
        h_kv=h if mla else d["num_key_value_heads"].to_numpy(float),
        d_qk=np.full(len(d), 192.0) if mla else d["head_dim"].to_numpy(float),
        d_v=np.full(len(d), 128.0) if mla else d["head_dim"].to_numpy(float),
        w=np.zeros(len(d)) if mla else d["window_size"].to_numpy(float),
        q_bytes=np.where(fp8, 1.0, 2.0), kv_bytes=_bytes(d["kv_cache_dtype"]), peak=peak,
        exp_rate=d["system"].map(EXP_PER_S).to_numpy(float),
        hbm=d["system"].map(lambda s: hws[s]["hbm_Bps"]).to_numpy(float),
        sms=d["system"].map(lambda s: hws[s]["sm_count"]).to_numpy(float), peak_max=_peak_max(d, hws))


def _peak_max(d, hws) -> np.ndarray:
    return d["system"].map(lambda s: max(hws[s]["peak_flops"].values())).to_numpy(float)


def gen_arrays(d: pd.DataFrame, hws: dict, mla: bool) -> dict:
    n = len(d)
    return dict(
        b=d["batch_size"].to_numpy(float), ctx=d["step"].to_numpy(float) + 1.0,
        h=d["num_heads"].to_numpy(float),
        h_kv=np.ones(n) if mla else d["num_key_value_heads"].to_numpy(float),
        d_qk=np.full(n, 576.0) if mla else d["head_dim"].to_numpy(float),
        d_v=np.full(n, 512.0) if mla else d["head_dim"].to_numpy(float),
        d_v_read=np.zeros(n) if mla else d["head_dim"].to_numpy(float),
        w=np.zeros(n) if mla else d["window_size"].to_numpy(float),
        kv_bytes=_bytes(d["kv_cache_dtype"]),
        peak=d["system"].map(lambda s: hws[s]["peak_flops"]["bf16"]).to_numpy(float),
        hbm=d["system"].map(lambda s: hws[s]["hbm_Bps"]).to_numpy(float),
        sms=d["system"].map(lambda s: hws[s]["sm_count"]).to_numpy(float), peak_max=_peak_max(d, hws))


def _ctx_call(a, P, mc, mm, w_skip=1.0):
    return A.context_s_raw(a["b"], a["isl"], a["h"], a["h_kv"], a["d_qk"], a["d_v"], a["w"], a["q_bytes"],
                           a["kv_bytes"], a["peak"], a["exp_rate"], a["hbm"], a["sms"],
                           P["eta_c"] * mc, P["eta_x"] * mc, P["eta_m"] * mm, P["t0_s"], P["p"], P["c0"],
                           w_skip=w_skip)


def _gen_call(a, P, mc, mm, mma_rows):
    return A.generation_s_raw(a["b"], a["ctx"], a["h"], a["h_kv"], a["d_qk"], a["d_v"], a["d_v_read"], a["w"],
                              a["kv_bytes"], a["peak"], a["hbm"], a["sms"], P["eta_c"] * mc, P["eta_m"] * mm,
                              P["t0_s"], P["p"], P["sat"], P["l_split"], P["t_cta_s"], mma_rows=mma_rows)


TABLES = {
    "context_attention_perf": dict(kind="ctx", mla=False, key=["arch", "framework", "kernel_source", "attn_dtype", "kv_cache_dtype"],
                                   shape=["batch_size", "isl", "num_heads", "num_key_value_heads", "head_dim", "window_size"]),
    "generation_attention_perf": dict(kind="gen", mla=False, key=["arch", "framework", "kernel_source", "attn_dtype", "kv_cache_dtype"],
                                      shape=["batch_size", "step", "num_heads", "num_key_value_heads", "head_dim", "window_size"]),
    "context_mla_perf": dict(kind="ctx", mla=True, key=["arch", "framework", "kernel_source", "mla_dtype", "kv_cache_dtype"],
                             shape=["batch_size", "isl", "num_heads"]),
    "generation_mla_perf": dict(kind="gen", mla=True, key=["arch", "framework", "kernel_source", "mla_dtype", "kv_cache_dtype"],
                                shape=["batch_size", "step", "num_heads"]),
}


#: shape variables of each table's surface (superpod.cost.kernels.attention.surface_shape) and knot spacing
SURFACE_VARS = {"context_attention_perf": ("bh", "isl", "g", "hd"), "generation_attention_perf": ("bh", "ctx", "g", "hd"),
                "context_mla_perf": ("b", "isl", "h"), "generation_mla_perf": ("b", "ctx", "h")}
KNOT_STEP, SMOOTH, RIDGE = 2.0, 0.3, 1e-3


def surface_shape(kind: str, a: dict) -> dict:
    """The surface's shape variables of the rows ``a`` (as the package computes them)."""
    if kind == "ctx":
        return A.surface_shape(a["b"], a["h"], a["h_kv"], a["d_qk"], isl=a["isl"])
    L = np.where((a["w"] > 0) & (a["w"] < a["ctx"]), a["w"], a["ctx"])
    return A.surface_shape(a["b"], a["h"], a["h_kv"], a["d_qk"], ctx=L)


def surface_knots(name: str, v: np.ndarray) -> np.ndarray:
    """log2 knots of one variable: head_dim at its measured values, the others every KNOT_STEP octaves
    (work units ``bh`` and the GQA group ``g``: every 4/3 KNOT_STEP)."""
    x = np.log2(np.maximum(np.asarray(v, dtype=float), 1e-30))
    if name == "hd":
        return np.unique(np.round(x, 6))
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-9:
        return np.array([round(lo, 6)])
    step = KNOT_STEP * (4.0 / 3.0 if name in ("bh", "g") else 1.0)
    return np.round(np.linspace(lo, hi, max(2, int(round((hi - lo) / step)) + 1)), 6)


def fit_surface(names, shape: dict, y, weight) -> Surface:
    """surface_fit.fit's problem (smoothed, ridge-regularised least squares on the multilinear grid), solved
    by Jacobi-preconditioned conjugate gradients on the normal equations: the same minimiser, about 50x
    faster than lsqr on the 4-variable grids here."""
    knots = tuple(surface_knots(n, shape[n]) for n in names)
    dims = tuple(len(k) for k in knots)
    total = int(np.prod(dims))
    y, w = np.asarray(y, dtype=float).ravel(), np.asarray(weight, dtype=float).ravel()
    idx, wts = Surface(tuple(names), knots, np.zeros(dims)).corners(**{n: shape[n] for n in names})
    rows = np.concatenate([np.arange(len(y))] * len(idx))
    a = sparse.csr_matrix((np.concatenate([np.ravel(v) for v in wts]), (rows, np.concatenate([np.ravel(i) for i in idx]))),
                          shape=(len(y), total))
    aw = a.multiply(w[:, None]).tocsr()
    pen = SF._second_differences(dims)
    m = (a.T @ aw + SMOOTH * (pen.T @ pen) + RIDGE * sparse.identity(total)).tocsr()
    sol, _ = cg(m, aw.T @ y, rtol=1e-8, maxiter=20000, M=sparse.diags(1.0 / m.diagonal()))
    return Surface(tuple(names), knots, np.round(np.asarray(sol), 4).reshape(dims))


def monotone_decode(kern: Kernel, surface: Surface, g: pd.DataFrame, x, mult, rounds: int = 4) -> Surface:
    """Raise a decode surface's knots until the time (form x factor) never falls as the batch (``bh``/``b``)
    or the cached tokens (``ctx``) grow, on every GPU of the fit (with its multipliers and without), at the knots. The decode form depends on the
    surface's variables only (b * h_kv, L, the GQA group, head_dim), so the knot grid prices exactly; between
    knots the multilinear factor can still dip slightly (a few % at most, see RESULTS_attention.md)."""
    names = surface.names
    mesh = np.meshgrid(*[2.0 ** k for k in surface.knots], indexing="ij")
    v = dict(zip(names, mesh))
    n = mesh[0].size
    one = np.ones(n)
    kv = float(_bytes(g["kv_cache_dtype"].iloc[:1])[0])
    if kern.mla:
        a = dict(b=v["b"].ravel(), ctx=v["ctx"].ravel(), h=v["h"].ravel(), h_kv=one, d_qk=576.0 * one, d_v=512.0 * one,
                 d_v_read=0.0 * one, w=0.0 * one)
    else:
        hd = v["hd"].ravel()
        a = dict(b=v["bh"].ravel(), ctx=v["ctx"].ravel(), h=v["g"].ravel(), h_kv=one, d_qk=hd, d_v=hd, d_v_read=hd,
                 w=0.0 * one)
    a["kv_bytes"] = kv * one
    logs = []
    for gpu in sorted(g["system"].unique()):
        hw = kern.hws[gpu]
        b = dict(a, peak=hw["peak_flops"]["bf16"] * one, hbm=hw["hbm_Bps"] * one, sms=hw["sm_count"] * one)
        for mc, mm in {mult.get(gpu, (1.0, 1.0)), (1.0, 1.0)}:  # its own multipliers, and as an unmeasured chip
            logs.append(np.log(kern.call(b, x, mc * one, mm * one)).reshape(mesh[0].shape))
    vals = surface.values.copy()
    axes = [i for i, nm in enumerate(names) if nm in ("bh", "b", "ctx")]
    for _ in range(rounds):
        before = vals.copy()
        for f in logs:
            for ax in axes:
                vals = np.maximum(vals, np.maximum.accumulate(f + vals, axis=ax) - f)
        if np.allclose(vals, before):
            break
    return Surface(names, surface.knots, np.round(vals, 4))


def ranges(kind: str) -> dict:
    if kind == "ctx":
        return {"serving": lambda g: (g["batch_size"] * g["isl"] >= 1024) & (g["batch_size"] * g["isl"] <= 32768)}
    return {"serving": lambda g: g["batch_size"] <= 512}


class Kernel:
    """One table's model: array building, parameter vector, prediction."""

    def __init__(self, table: str, hws: dict):
        self.spec = TABLES[table]
        self.kind, self.mla, self.hws = self.spec["kind"], self.spec["mla"], hws
        self.names = A.CTX_PARAMS if self.kind == "ctx" else A.GEN_PARAMS
        x0, lo, hi = (CTX_X0, CTX_LO, CTX_HI) if self.kind == "ctx" else (GEN_X0, GEN_LO, GEN_HI)
        self.x0, self.lo, self.hi = (np.array([v[n] for n in self.names]) for v in (x0, lo, hi))
        self.mma_rows = 64.0 if self.mla else 16.0

    def arrays(self, d):
        return (ctx_arrays if self.kind == "ctx" else gen_arrays)(d, self.hws, self.mla)

    def call(self, a, x, mc, mm, surface=None, w_skip=1.0):
        P = dict(zip(self.names, x))
        t = _ctx_call(a, P, mc, mm, w_skip) if self.kind == "ctx" else _gen_call(a, P, mc, mm, self.mma_rows)
        if surface is None:
            return t
        t = t * surface.factor(**surface_shape(self.kind, a))
        if self.kind == "ctx":
            floor = A.context_floor_s(a["b"], a["isl"], a["h"], a["h_kv"], a["d_qk"], a["d_v"], a["w"], a["q_bytes"],
                                      a["kv_bytes"], a["peak_max"], a["hbm"])
        else:
            L = np.where((a["w"] > 0) & (a["w"] < a["ctx"]), a["w"], a["ctx"])
            floor = A.generation_floor_s(a["b"], L, a["h"], a["h_kv"], a["d_qk"], a["d_v"], a["d_v_read"], a["kv_bytes"],
                                         a["peak_max"], a["hbm"])
        return np.maximum(t, floor)


def fit_kernel(kern: Kernel, g: pd.DataFrame, n_fit: int, seed: int = 0):
    gpus = sorted(g["system"].unique())
    s = C.stratified_sample(g, ["system"], max(1, n_fit // len(gpus)), seed)
    a = kern.arrays(s)
    idx = s["system"].map({u: i for i, u in enumerate(gpus)}).to_numpy()
    y = np.log(s["t_s"].to_numpy())
    npar, ng = len(kern.x0), len(gpus)

    def resid(z):
        x, mc, mm = z[:npar], z[npar:npar + ng], z[npar + ng:]
        return np.log(kern.call(a, x, mc[idx], mm[idx])) - y

    z0 = np.concatenate([kern.x0, np.ones(2 * ng)])
    lo = np.concatenate([kern.lo, np.full(2 * ng, 0.3)])
    hi = np.concatenate([kern.hi, np.full(2 * ng, 3.0)])
    r = least_squares(resid, np.clip(z0, lo, hi), bounds=(lo, hi), loss="soft_l1", f_scale=0.05,
                      x_scale="jac", max_nfev=400)
    x = r.x[:npar].copy()
    mc, mm = r.x[npar:npar + ng].copy(), r.x[npar + ng:].copy()
    names = list(kern.names)
    for mult, target in ((mc, ["eta_c"] + (["eta_x"] if "eta_x" in names else [])), (mm, ["eta_m"])):
        gm = float(np.exp(np.mean(np.log(mult))))
        for t in target:
            x[names.index(t)] *= gm
        mult /= gm
    return x, {u: (float(c), float(m)) for u, c, m in zip(gpus, mc, mm)}


def fit_w_skip(kern: Kernel, a: dict, g: pd.DataFrame, x, mc, mm) -> float:
    """Prefill: the share of out-of-window key tiles the kernel skips (0..1 in steps of 0.05), the best
    median log fit of its sliding-window rows (1 without such rows, or for decode)."""
    if kern.kind != "ctx":
        return 1.0
    win = (a["w"] > 0) & (a["w"] < a["isl"])
    if win.sum() < 20:
        return 1.0
    sub = {k: (v[win] if isinstance(v, np.ndarray) and v.shape == win.shape else v) for k, v in a.items()}
    y = np.log(g["t_s"].to_numpy()[win])
    grid = np.round(np.linspace(0.0, 1.0, 21), 2)
    cost = [np.mean(np.abs(np.log(kern.call(sub, x, mc[win], mm[win], w_skip=s)) - y)) for s in grid]
    return float(grid[int(np.argmin(cost))])


def _multipliers(g: pd.DataFrame, mult: dict, holdout: bool):
    if holdout:
        return np.ones(len(g)), np.ones(len(g))
    return (g["system"].map(lambda s: mult.get(s, (1, 1))[0]).to_numpy(float),
            g["system"].map(lambda s: mult.get(s, (1, 1))[1]).to_numpy(float))


def _form(form: dict | None, table: str, kern: Kernel, key) -> tuple | None:
    """The form parameters of ``key`` in a parameter file (``--form``), or None."""
    node = (form or {}).get(table.removesuffix("_perf"))
    for k in key:
        node = node.get(str(k)) if isinstance(node, dict) else None
    if node is None:
        return None
    x = np.array([float(node[n]) for n in kern.names])
    return x, {u: (float(node["gpu_eta_c"][u]), float(node["gpu_eta_m"].get(u, 1.0))) for u in node["gpu_eta_c"]}


def fit_table(kern: Kernel, d: pd.DataFrame, n_fit: int, log=print, table: str = "", form: dict | None = None,
              surfaces: bool = True) -> dict:
    fits = {}
    for key, g in d.groupby(kern.spec["key"], sort=True):
        t = time.time()
        kept = _form(form, table, kern, key)
        x, mult = kept if kept is not None else fit_kernel(kern, g, n_fit)
        surface, a = None, kern.arrays(g)
        mc, mm = _multipliers(g, mult, False)
        w_skip = fit_w_skip(kern, a, g, x, mc, mm)
        if surfaces:
            y = np.log(g["t_s"].to_numpy() / kern.call(a, x, mc, mm, w_skip=w_skip))
            weight = 1.0 + np.asarray(ranges(kern.kind)["serving"](g), dtype=float)
            surface = fit_surface(SURFACE_VARS[table], surface_shape(kern.kind, a), y, weight)
            if kern.kind == "gen":
                surface = monotone_decode(kern, surface, g, x, mult)
        fits[key] = (x, mult, sorted(g["table"].unique()), surface, w_skip)
        log(f"  fit {'/'.join(map(str, key)):60s} {len(g):7d} rows {time.time() - t:5.1f}s "
            + ("(form kept) " if kept is not None else "") + " ".join(f"{n}={v:.3g}" for n, v in zip(kern.names, x)))
    return fits


def evaluate(kern: Kernel, d: pd.DataFrame, fits: dict, holdout: bool = False) -> pd.DataFrame:
    d = d.copy()
    d["pred_s"] = np.nan
    for key, g in d.groupby(kern.spec["key"], sort=True):
        if key not in fits:
            continue
        x, mult, _, surface, w_skip = fits[key]
        mc, mm = _multipliers(g, mult, holdout)
        d.loc[g.index, "pred_s"] = kern.call(kern.arrays(g), x, mc, mm, surface, w_skip)
    d = d[d["pred_s"].notna()].copy()
    d["err"] = C.errors(d["pred_s"], d["t_s"])
    return d


def roofline(kern: Kernel, d: pd.DataFrame) -> np.ndarray:
    a = kern.arrays(d)
    if kern.kind == "ctx":
        fl = A.causal_pairs(a["isl"], a["w"]) * a["b"] * a["h"] * 2 * (a["d_qk"] + a["d_v"])
        by = a["b"] * a["isl"] * (a["h"] * (a["d_qk"] + a["d_v"]) * a["q_bytes"]
                                  + a["h_kv"] * (a["d_qk"] + a["d_v"]) * a["kv_bytes"])
    else:
        L = np.where((a["w"] > 0) & (a["w"] < a["ctx"]), a["w"], a["ctx"])
        fl = a["b"] * a["h"] * L * 2 * (a["d_qk"] + a["d_v"])
        by = a["b"] * L * a["h_kv"] * (a["d_qk"] + a["d_v_read"]) * a["kv_bytes"]
    return np.maximum(fl / a["peak"], by / a["hbm"])


def predict_rows(kern: Kernel, d: pd.DataFrame, fits: dict, level: str) -> np.ndarray:
    """Seconds per row (NaN: no fit for the row's kernel); level ``gpu``: each GPU's multipliers, else 1."""
    e = evaluate(kern, d, fits, holdout=level != "gpu")
    return e["pred_s"].reindex(d.index).to_numpy(float)


def sections(kern: Kernel, table: str, d: pd.DataFrame, fits: dict) -> dict:
    """TOML sections of one table, one per kernel."""
    out = {}
    version_of = d.groupby("framework")["version"].first().to_dict()
    for key, (x, mult, srcs, surface, w_skip) in fits.items():
        body = {nm: float(v) for nm, v in zip(kern.names, x)}
        if w_skip != 1.0:
            body["w_skip"] = w_skip
        body["gpu_eta_c"] = {u: round(m[0], 4) for u, m in mult.items()}
        body["gpu_eta_m"] = {u: round(m[1], 4) for u, m in mult.items()}
        body["source"] = ("AIConfigurator perf database, " + ", ".join(f"{t}/{table}" for t in srcs)
                          + f"; framework {key[1]} {version_of[key[1]]}, kernel {key[2]}")
        body["confidence"] = "C"
        name = f"{table.removesuffix('_perf')}|" + "|".join(map(str, key))
        out[name] = body
        if surface is not None:
            out[name + "|surface"] = surface.to_toml() | {
                "source": f"AIConfigurator perf database: ln(measured / form) over every row of "
                          f"{', '.join(f'{t}/{table}' for t in srcs)} (the GPUs' multipliers applied), "
                          f"knots every {KNOT_STEP} octaves, smooth {SMOOTH}, ridge {RIDGE}: fit_attention.py",
                "confidence": "C"}
    return out


def job(table: str, n_fit: int, state: dict, form: dict | None = None, surfaces: bool = True) -> D.Job:
    """The driver's view of one attention / MLA table's fit."""
    def rows(root):
        d = C.load(root, table)
        if "hws" not in state:
            state["hws"] = {s: C.hardware(root, s) | {"exp_per_s": EXP_PER_S[s]} for s in C.GPUS}
        d["arch"] = d["system"].map(lambda s: state["hws"][s]["arch"])
        state[table] = Kernel(table, state["hws"])
        return d

    def report(d, pred, label, worst):
        kern = state[table]
        print(f"# {label}")
        e = d.assign(pred_s=pred, err=C.errors(pred, d["t_s"]))
        C.report(e[np.isfinite(e["pred_s"])], ["system"] + kern.spec["key"][1:], ranges(kern.kind),
                 shape_cols=kern.spec["shape"], worst=worst)
        ok = e[np.isfinite(e["pred_s"])]
        n, mape, p90 = C.summary(ok["err"].to_numpy())
        serving = C.summary(ok["err"][ranges(kern.kind)["serving"](ok)].to_numpy())
        print(f"# overall {label}: rows {n} mape {mape:.1f} p90 {p90:.1f} serving {serving[1]:.1f} p90 {serving[2]:.1f}")

    def mask(d):
        return {k: f(d) for k, f in ranges(TABLES[table]["kind"]).items()}

    return D.Job(table=table, rows=rows,
                 fit=lambda d, gpus, per_gpu, log: fit_table(state[table], d, n_fit, log=log, table=table,
                                                             form=form if per_gpu else None, surfaces=surfaces),
                 predict=lambda d, fits, level: predict_rows(state[table], d, fits, level),
                 report=report, sections=lambda d, fits: sections(state[table], table, d, fits), ranges=mask,
                 levels=("gpu",), holdout_levels=("family",),
                 baselines=lambda d: [("plain roofline (datasheet peaks, no latency)", roofline(state[table], d))])


HEADER = ("Attention / MLA kernel model parameters (superpod.cost.kernels.attention), derived\n"
          "by superpod with benchmarks/silicon/fit_attention.py from AIConfigurator's attention and MLA\n"
          "tables (Apache-2.0). t0_s, t_cta_s in seconds; c0, l_split in tokens; gpu_eta_*: per-GPU\n"
          "multipliers (1 = unmeasured GPU).")


def write(path: str, tables: dict) -> None:
    hw_t = {f"hardware|{s}": {"exp_per_s": EXP_PER_S[s], "source": "see EXP_PER_S in fit_attention.py; "
                              "peaks, HBM and SMs as in calibration/silicon/gemm.toml", "confidence": "C"} for s in C.GPUS}
    C.write_toml(path, HEADER, hw_t | tables)


def main(argv=None) -> None:
    global KNOT_STEP, SMOOTH
    ap = D.parser(__doc__, list(TABLES))
    ap.add_argument("--n-fit", type=int, default=12_000, help="sample rows per kernel for the fit")
    ap.add_argument("--form", help="keep the form parameters of this TOML (full fit only); fit the surfaces")
    ap.add_argument("--knot-step", type=float, default=KNOT_STEP, help="surface knot spacing (octaves)")
    ap.add_argument("--smooth", type=float, default=SMOOTH, help="surface smoothing weight")
    ap.add_argument("--no-surface", action="store_true", help="the form alone (no efficiency surfaces)")
    a = ap.parse_args(argv)
    KNOT_STEP, SMOOTH = a.knot_step, a.smooth
    state: dict = {}
    form = None
    if a.form:
        with open(a.form, "rb") as f:
            form = tomllib.load(f)
    D.main(a, {t: job(t, a.n_fit, state, form, not a.no_surface) for t in TABLES}, write)


if __name__ == "__main__":
    main()
