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
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attention_model as A  # noqa: E402
import common_gemm_attention as C  # noqa: E402
import fit_driver as D  # noqa: E402

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
        sms=d["system"].map(lambda s: hws[s]["sm_count"]).to_numpy(float))


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
        sms=d["system"].map(lambda s: hws[s]["sm_count"]).to_numpy(float))


def _ctx_call(a, P, mc, mm):
    return A.context_s_raw(a["b"], a["isl"], a["h"], a["h_kv"], a["d_qk"], a["d_v"], a["w"], a["q_bytes"],
                           a["kv_bytes"], a["peak"], a["exp_rate"], a["hbm"], a["sms"],
                           P["eta_c"] * mc, P["eta_x"] * mc, P["eta_m"] * mm, P["t0_s"], P["p"], P["c0"])


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

    def call(self, a, x, mc, mm):
        P = dict(zip(self.names, x))
        return _ctx_call(a, P, mc, mm) if self.kind == "ctx" else _gen_call(a, P, mc, mm, self.mma_rows)


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


def fit_table(kern: Kernel, d: pd.DataFrame, n_fit: int, log=print) -> dict:
    fits = {}
    for key, g in d.groupby(kern.spec["key"], sort=True):
        t = time.time()
        x, mult = fit_kernel(kern, g, n_fit)
        fits[key] = (x, mult, sorted(g["table"].unique()))
        log(f"  fit {'/'.join(map(str, key)):60s} {len(g):7d} rows {time.time() - t:5.1f}s "
            + " ".join(f"{n}={v:.3g}" for n, v in zip(kern.names, x)))
    return fits


def evaluate(kern: Kernel, d: pd.DataFrame, fits: dict, holdout: bool = False) -> pd.DataFrame:
    d = d.copy()
    d["pred_s"] = np.nan
    for key, g in d.groupby(kern.spec["key"], sort=True):
        if key not in fits:
            continue
        x, mult, _ = fits[key]
        one = np.ones(len(g))
        mc = one if holdout else g["system"].map(lambda s: mult.get(s, (1, 1))[0]).to_numpy(float)
        mm = one if holdout else g["system"].map(lambda s: mult.get(s, (1, 1))[1]).to_numpy(float)
        d.loc[g.index, "pred_s"] = kern.call(kern.arrays(g), x, mc, mm)
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
    for key, (x, mult, srcs) in fits.items():
        body = {nm: float(v) for nm, v in zip(kern.names, x)}
        body["gpu_eta_c"] = {u: round(m[0], 4) for u, m in mult.items()}
        body["gpu_eta_m"] = {u: round(m[1], 4) for u, m in mult.items()}
        body["source"] = ("AIConfigurator perf database, " + ", ".join(f"{t}/{table}" for t in srcs)
                          + f"; framework {key[1]} {version_of[key[1]]}, kernel {key[2]}")
        body["confidence"] = "C"
        out[f"{table.removesuffix('_perf')}|" + "|".join(map(str, key))] = body
    return out


def job(table: str, n_fit: int, state: dict) -> D.Job:
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

    def mask(d):
        return {k: f(d) for k, f in ranges(TABLES[table]["kind"]).items()}

    return D.Job(table=table, rows=rows,
                 fit=lambda d, gpus, per_gpu, log: fit_table(state[table], d, n_fit, log=log),
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
                              "peaks, HBM and SMs as in src/superpod/catalog/calibration/silicon/gemm.toml"} for s in C.GPUS}
    C.write_toml(path, HEADER, hw_t | tables)


def main(argv=None) -> None:
    ap = D.parser(__doc__, list(TABLES))
    ap.add_argument("--n-fit", type=int, default=12_000, help="sample rows per kernel for the fit")
    a = ap.parse_args(argv)
    state: dict = {}
    D.main(a, {t: job(t, a.n_fit, state) for t in TABLES}, write)


if __name__ == "__main__":
    main()
