"""Fit the GEMM kernel model (gemm_model.py) to AIConfigurator's gemm_perf tables.

Run:
    python benchmarks/silicon/fit_gemm.py /work/shared/reference/silicon/kernels --out src/superpod/catalog/calibration/silicon/gemm.toml
    python benchmarks/silicon/fit_gemm.py DIR --holdout b300_sxm     # fit without that GPU, report on it
    python benchmarks/silicon/fit_gemm.py DIR --holdout all          # every GPU in turn (summary table)
    python benchmarks/silicon/fit_gemm.py DIR --loo                  # the full fit, then each GPU left out

One kernel = (arch, framework, gemm_dtype, kernel_source), arch = sm90 (Hopper) or sm100 (Blackwell, incl.
sm103): the libraries ship different kernels per architecture. Its nine shape parameters are shared by every
GPU of the family
(fitted on a stratified sample, log-error least squares, soft-L1); each measured GPU also gets its own
peak-efficiency multiplier ``gpu_eta_c`` (normalised to geometric mean 1, so 1 is the prediction for a GPU
nobody measured) and launch-latency multiplier ``gpu_t0`` (host CPU and driver: Grace vs x86). Errors are reported on every row of the tables, per table and per (GPU, dtype, kernel),
over all shapes and restricted to the token ranges serving uses (decode m = 1..512, prefill m = 1k..32k);
the summary also shows a plain roofline. The loop (fit, report, leave one GPU out, TOML) is fit_driver.py's.

Efficiency surface per kernel (after the form): ``ln(measured / form)`` over (m, n, k) of the kernel's rows
(every GPU of the family, each with its own multipliers), fitted by surface_fit.py on a log2 grid (knots
every 2 octaves of m, 1.4 octaves of n and k), shared by the family like the form's parameters; written
as ``[gemm.<arch>.<fw>.<dtype>.<kernel>.surface]``. ``--keep FILE.toml`` keeps that file's form parameters
and multipliers and fits only the surfaces (minutes instead of the form's quarter hour; its leave-one-GPU-out
keeps the shared form parameters, which saw the GPU, and fits the surface and sets the multipliers without it).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common_gemm_attention as C  # noqa: E402
import fit_driver as D  # noqa: E402
import surface_fit as SF  # noqa: E402
from gemm_model import DTYPES, PARAM_NAMES, gemm_s, gemm_s_raw  # noqa: E402

KEY = ["arch", "framework", "gemm_dtype", "kernel_source"]
RANGES = {"decode": lambda g: g["m"] <= 512, "prefill": lambda g: (g["m"] >= 1024) & (g["m"] <= 32768)}
#            eta_c   r     k0      eta_m  t0_s    p     q_act  sat   q_wt
X0 = np.array([0.7, 0.3, 256.0, 0.8, 4e-6, 3.0, 0.0, 0.5, 0.0])
LO = np.array([0.05, 0.0, 0.0, 0.2, 0.0, 1.0, 0.0, 0.02, 0.0])
HI = np.array([1.0, 5.0, 8192.0, 1.0, 1e-3, 12.0, 5.0, 8.0, 20.0])
NP = len(X0)
CHUNK = 200_000
#: surface grid (log2 knots) of m, n and k; rows per kernel the surface is fitted on
SURFACE_KNOTS = (np.arange(0.0, 16.1, 2.0), np.linspace(5.0, 16.0, 9), np.linspace(5.0, 16.0, 9))
SURFACE_ROWS = 30_000
SURFACE_SMOOTH, SURFACE_RIDGE = 1.0, 1e-3
SURFACE_SOURCE = ("efficiency surface: smoothed least-squares fit of ln(measured / form) over (m, n, k) of the "
                  "AIConfigurator perf database gemm_perf rows of the entry above (measured times made "
                  "non-decreasing in m per GPU and shape); benchmarks/silicon/fit_gemm.py")


def hw_columns(d: pd.DataFrame, hws: dict) -> dict:
    cls = d["gemm_dtype"].map(lambda x: DTYPES[x][0])
    peak = np.array([hws[s]["peak_flops"][c] for s, c in zip(d["system"], cls)])
    return {
        "peak": peak,
        "hbm": d["system"].map(lambda s: hws[s]["hbm_Bps"]).to_numpy(float),
        "sms": d["system"].map(lambda s: hws[s]["sm_count"]).to_numpy(float),
        "a": d["gemm_dtype"].map(lambda x: DTYPES[x][1]).to_numpy(float),
        "b": d["gemm_dtype"].map(lambda x: DTYPES[x][2]).to_numpy(float),
        "batch": d["batch"].to_numpy(float) if "batch" in d else np.ones(len(d)),
    }


def _call(m, n, k, h, x, mc, mt):
    """gemm_s_raw with shared params ``x`` and per-row multipliers of eta_c (``mc``) and t0 (``mt``)."""
    return gemm_s_raw(m, n, k, h["peak"], h["hbm"], h["sms"], h["a"], h["b"], x[0] * mc, x[1], x[2], x[3],
                      x[4] * mt, *x[5:], batch=h["batch"])


def predict(d: pd.DataFrame, hws: dict, x: np.ndarray, mc: np.ndarray, mt: np.ndarray) -> np.ndarray:
    """Model seconds for rows ``d`` with shared params ``x`` and per-row multipliers of eta_c and t0."""
    out = np.empty(len(d))
    for i in range(0, len(d), CHUNK):
        s = d.iloc[i:i + CHUNK]
        out[i:i + CHUNK] = _call(s["m"].to_numpy(float), s["n"].to_numpy(float), s["k"].to_numpy(float),
                                 hw_columns(s, hws), x, mc[i:i + CHUNK], mt[i:i + CHUNK])
    return out


def predict_surface(d: pd.DataFrame, hws: dict, x: np.ndarray, mult: dict, surface, holdout: bool) -> np.ndarray:
    """Seconds for one kernel's rows ``d`` with its surface (the pricing of superpod.cost.kernels.gemm.gemm_s:
    the factor on row-count anchors, monotone in m, floored at the roofline), per GPU."""
    out = np.empty(len(d))
    params = dict(zip(PARAM_NAMES, (float(v) for v in x)))
    pos = np.arange(len(d))
    for system, idx in d.groupby("system").indices.items():
        mc, mt = (1.0, 1.0) if holdout else mult.get(system, (1.0, 1.0))
        g = d.iloc[idx]
        out[pos[idx]] = gemm_s(g["m"].to_numpy(float), g["n"].to_numpy(float), g["k"].to_numpy(float),
                               g["gemm_dtype"].iloc[0], hws[system], params, mc, mt,
                               batch=g["batch"].to_numpy(float) if "batch" in g else 1.0, surface=surface)
    return out


def monotone_in_m(g: pd.DataFrame) -> np.ndarray:
    """Measured seconds made non-decreasing in m per (GPU, n, k) (isotonic regression of ln t): the target
    of the surface. The pricing never lets a time fall as m grows, so a measured dip (e.g. m = 1 slower than
    m = 2..16 in vLLM's FP8 kernels) would otherwise be carried forward over the whole decode range."""
    from scipy.optimize import isotonic_regression
    out = np.empty(len(g))
    lt = np.log(g["t_s"].to_numpy(float))
    mm = g["m"].to_numpy(float)
    for idx in g.groupby(["system", "n", "k"]).indices.values():
        order = idx[np.argsort(mm[idx], kind="stable")]
        out[order] = isotonic_regression(lt[order]).x
    return np.exp(out)


def fit_surface(g: pd.DataFrame, hws: dict, x: np.ndarray, mult: dict, seed: int = 0):
    """The kernel's efficiency surface over (m, n, k): ln(monotone measured / form) of a sample of its rows."""
    g = g.assign(t_s=monotone_in_m(g))
    s = C.stratified_sample(g, ["system"], max(1, SURFACE_ROWS // g["system"].nunique()), seed)
    mc = s["system"].map(lambda u: mult.get(u, (1.0, 1.0))[0]).to_numpy(float)
    mt = s["system"].map(lambda u: mult.get(u, (1.0, 1.0))[1]).to_numpy(float)
    y = np.log(s["t_s"].to_numpy() / predict(s, hws, x, mc, mt))
    shape = {c: s[c].to_numpy(float) for c in "mnk"}
    return SF.fit(("m", "n", "k"), SURFACE_KNOTS, shape, y, smooth=SURFACE_SMOOTH, ridge=SURFACE_RIDGE)


def kept(path: str) -> dict:
    """``--keep``: the form parameters and per-GPU multipliers of a shipped gemm.toml, by kernel."""
    import tomllib
    with open(path, "rb") as f:
        t = tomllib.load(f)["gemm"]
    out = {}
    for arch, a in t.items():
        for fw, b in a.items():
            for dt, c in b.items():
                for ks, p in c.items():
                    out[(arch, fw, dt, ks)] = (np.array([float(p[n]) for n in PARAM_NAMES]),
                                               {u: (float(p["gpu_eta_c"][u]), float(p["gpu_t0"].get(u, 1.0)))
                                                for u in p["gpu_eta_c"]})
    return out


def roofline(d: pd.DataFrame, hws: dict) -> np.ndarray:
    """Plain roofline: max(FLOPs / peak, bytes / HBM), no efficiencies, no latency."""
    h = hw_columns(d, hws)
    m, n, k = (d[c].to_numpy(float) for c in "mnk")
    return np.maximum(2 * m * n * k / h["peak"], (m * k * h["a"] + k * n * h["b"] + 2 * m * n) / h["hbm"])


def fit_kernel(g: pd.DataFrame, hws: dict, n_fit: int, seed: int = 0):
    """Shared params + per-GPU multipliers for one kernel's rows ``g`` (several GPUs)."""
    gpus = sorted(g["system"].unique())
    s = C.stratified_sample(g, ["system", "m"], max(1, n_fit // (len(gpus) * g["m"].nunique())), seed)
    idx = s["system"].map({u: i for i, u in enumerate(gpus)}).to_numpy()
    h = hw_columns(s, hws)
    m, n, k = (s[c].to_numpy(float) for c in "mnk")
    y = np.log(s["t_s"].to_numpy())
    is_q = s["gemm_dtype"].iloc[0] != "bfloat16"
    x0, lo, hi = X0.copy(), LO.copy(), HI.copy()
    if not is_q:
        lo[6], hi[6], x0[6] = 0.0, 1e-9, 0.0
        lo[8], hi[8], x0[8] = 0.0, 1e-9, 0.0
    ng = len(gpus)

    def resid(z):
        x, mc, mt = z[:NP], z[NP:NP + ng], z[NP + ng:]
        return np.log(_call(m, n, k, h, x, mc[idx], mt[idx])) - y

    z0 = np.concatenate([x0, np.ones(2 * ng)])
    zlo = np.concatenate([lo, np.full(ng, 0.3), np.full(ng, 0.2)])
    zhi = np.concatenate([hi, np.full(ng, 3.0), np.full(ng, 5.0)])
    r = least_squares(resid, z0, bounds=(zlo, zhi), loss="soft_l1", f_scale=0.05, x_scale="jac", max_nfev=300)
    x, mc, mt = r.x[:NP].copy(), r.x[NP:NP + ng].copy(), r.x[NP + ng:].copy()
    for j, mult in ((0, mc), (4, mt)):  # geometric mean 1 over the GPUs: 1 = a GPU nobody measured
        gm = float(np.exp(np.mean(np.log(mult))))
        x[j] *= gm
        mult /= gm
    return x, {u: (float(c), float(t)) for u, c, t in zip(gpus, mc, mt)}


def fit_all(d: pd.DataFrame, hws: dict, n_fit: int, log=print, key_cols=KEY, keep: dict | None = None,
            surfaces: bool = False) -> dict:
    fits = {}
    for key, g in d.groupby(key_cols, sort=True):
        t = time.time()
        if keep is not None and key in keep:
            x, mult = keep[key][0], {u: v for u, v in keep[key][1].items() if u in set(g["system"])}
        else:
            x, mult = fit_kernel(g, hws, n_fit)
        surf = fit_surface(g, hws, x, mult) if surfaces else None
        fits[key] = (x, mult, sorted(g["table"].unique()), surf)
        log(f"  fit {'/'.join(key):60s} {len(g):7d} rows  {time.time() - t:5.1f}s  "
            + " ".join(f"{n}={v:.3g}" for n, v in zip(PARAM_NAMES, x)))
    return fits


def evaluate(d: pd.DataFrame, hws: dict, fits: dict, holdout: bool = False, key_cols=KEY) -> pd.DataFrame:
    d = d.copy()
    d["pred_s"] = np.nan
    for key, g in d.groupby(key_cols, sort=True):
        if key not in fits:
            continue
        x, mult, _, surf = fits[key]
        if surf is not None:
            d.loc[g.index, "pred_s"] = predict_surface(g, hws, x, mult, surf, holdout)
            continue
        one = np.ones(len(g))
        mc = one if holdout else g["system"].map(lambda u: mult.get(u, (1.0, 1.0))[0]).to_numpy(float)
        mt = one if holdout else g["system"].map(lambda u: mult.get(u, (1.0, 1.0))[1]).to_numpy(float)
        d.loc[g.index, "pred_s"] = predict(g, hws, x, mc, mt)
    d = d[d["pred_s"].notna()].copy()
    d["err"] = C.errors(d["pred_s"], d["t_s"])
    return d


def sections(fits: dict, hws: dict, version_of: dict) -> dict:
    """TOML sections: the GPUs' hardware facts, then one per kernel."""
    tables = {}
    for s, h in hws.items():
        tables[f"hardware|{s}"] = {"bf16_flops": h["peak_flops"]["bf16"], "fp8_flops": h["peak_flops"]["fp8"],
                                   "fp4_flops": h["peak_flops"]["fp4"], "hbm_Bps": h["hbm_Bps"],
                                   "sm_count": h["sm_count"], "arch": h["arch"], "source": h["source"],
                                   "confidence": "B"}
    for key, (x, mult, srcs, surf) in fits.items():
        arch, fw, dt, ks = key
        tables[f"gemm|{arch}|{fw}|{dt}|{ks}"] = body(x, mult, srcs, "gemm_perf", fw, version_of[fw], ks)
        if surf is not None:
            tables[f"gemm|{arch}|{fw}|{dt}|{ks}|surface"] = surf.to_toml() | {"source": SURFACE_SOURCE,
                                                                                 "confidence": "C"}
    return tables


def body(x, mult: dict, srcs: list, table: str, fw: str, version: str, ks: str, **extra) -> dict:
    """One kernel's TOML section: the shared parameters (and ``extra``), the per-GPU multipliers, the source."""
    out = {n: float(v) for n, v in zip(PARAM_NAMES, x)} | extra
    out["gpu_eta_c"] = {g: round(v[0], 4) for g, v in mult.items()}
    out["gpu_t0"] = {g: round(v[1], 4) for g, v in mult.items()}
    out["source"] = ("AIConfigurator perf database, " + ", ".join(f"{t}/{table}" for t in srcs)
                     + f"; framework {fw} {version}, kernel {ks}")
    out["confidence"] = "C"
    return out


HEADER = ("GEMM kernel model parameters (superpod.cost.kernels.gemm), derived by superpod\n"
          "with benchmarks/silicon/fit_gemm.py from AIConfigurator's gemm_perf tables (Apache-2.0).\n"
          "t0_s in seconds; k0 in K elements; gpu_eta_c / gpu_t0: per-GPU multipliers of eta_c / t0_s\n"
          "(1 = a GPU nobody measured).")


def write_params(path: str, fits: dict, hws: dict, version_of: dict) -> None:
    C.write_toml(path, HEADER, sections(fits, hws, version_of))


def predict_rows(d: pd.DataFrame, hws: dict, fits: dict, level: str, key_cols=KEY) -> np.ndarray:
    """Seconds per row of ``d`` (NaN where its kernel has no fit); level ``gpu``: each measured GPU's
    multipliers, else 1 (a GPU the fit did not see)."""
    e = evaluate(d, hws, fits, holdout=level != "gpu", key_cols=key_cols)
    return e["pred_s"].reindex(d.index).to_numpy(float)


def job(n_fit: int, table: str = "gemm_perf", load=None, key_cols=KEY, by=None, shape=("m", "n", "k"),
        section=None, keep: str | None = None, surfaces: bool = False) -> D.Job:
    """The driver's view of a GEMM-model fit (also MLA's batched GEMMs: fit_mla_bmm.py)."""
    state: dict = {}
    by = by or ["system", "gemm_dtype", "kernel_source"]

    def rows(root):
        d = (load or (lambda r: C.load(r, table)))(root)
        state["hws"] = {s: C.hardware(root, s) for s in sorted(d["system"].unique())}
        d["arch"] = d["system"].map(lambda s: state["hws"][s]["arch"])
        state["version_of"] = d.groupby("framework")["version"].first().to_dict()
        return d

    def report(d, pred, label, worst):
        print(f"# {label}")
        e = d.assign(pred_s=pred, err=C.errors(pred, d["t_s"]))
        C.report(e[np.isfinite(e["pred_s"])], by, RANGES, shape_cols=list(shape), worst=worst)

    def make(d, fits):
        if section is not None:
            return section(fits, state["version_of"])
        return sections(fits, state["hws"], state["version_of"])

    return D.Job(table=table, rows=rows,
                 fit=lambda d, gpus, per_gpu, log: fit_all(d, state["hws"], n_fit, log=log, key_cols=key_cols,
                                                           keep=kept(keep) if keep else None, surfaces=surfaces),
                 predict=lambda d, fits, level: predict_rows(d, state["hws"], fits, level, key_cols),
                 report=report, sections=make, ranges=lambda d: {k: f(d) for k, f in RANGES.items()},
                 levels=("gpu",), holdout_levels=("family",),
                 baselines=lambda d: [("plain roofline (datasheet peaks, no latency)", roofline(d, state["hws"]))])


def main(argv=None) -> None:
    ap = D.parser(__doc__, ["gemm_perf"])
    ap.add_argument("--n-fit", type=int, default=24_000, help="sample rows per kernel for the fit")
    ap.add_argument("--keep", help="keep this gemm.toml's form parameters and multipliers; fit the surfaces only")
    ap.add_argument("--no-surface", action="store_true", help="the form alone (no efficiency surfaces)")
    a = ap.parse_args(argv)
    D.main(a, {"gemm_perf": job(a.n_fit, keep=a.keep, surfaces=not a.no_surface)},
           lambda path, sec: C.write_toml(path, HEADER, sec))


if __name__ == "__main__":
    main()
