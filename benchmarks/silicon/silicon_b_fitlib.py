"""Shared plumbing for silicon-b's fit scripts (MoE and collective tables).

Loads AIConfigurator perf-database tables (Apache-2.0; see
/work/shared/reference/silicon/README.md), holds the per-GPU hardware facts the
cost models need (from superpod's chip catalog), fits a parametric model by
least squares on log(predicted / measured), and reports MAPE / p90 / worst rows.
Only the fit scripts use this module (it needs pandas, pyarrow, scipy); the cost
models themselves (superpod.cost.kernels; *_model.py here are shims) are pure numpy.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

GPUS = ("h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm", "gb300")

# Hardware facts per GPU, SI units. Values are superpod's catalog figures
# (src/superpod/catalog/chips/<chip>.toml, dense peaks) except where noted.
# scaleup_uni_Bps = catalog scaleup_Bps (bidirectional) / 2.
# ranks_per_node: GPUs under one NVLink "node" as AIConfigurator's collectors use
# it (system.yaml num_gpus_per_node: 4 for GB200/GB300 trays, 8 for HGX).
HW_SOURCE = {
    "h100_sxm": "catalog/chips/h100.toml",
    "h200_sxm": "catalog/chips/h200.toml",
    "b200_sxm": "catalog/chips/b200.toml",
    "gb200": "catalog/chips/gb200.toml",
    "b300_sxm": "catalog/chips/b300.toml",
    "gb300": "catalog/chips/gb300.toml",
}
HW = {
    "h100_sxm": dict(bf16_flops=989.4e12, fp8_flops=1978.9e12, fp4_flops=1978.9e12, hbm_Bps=3.35e12,
                     scaleup_uni_Bps=450e9, ranks_per_node=8, sm_count=132, blackwell=0.0),
    "h200_sxm": dict(bf16_flops=989e12, fp8_flops=1979e12, fp4_flops=1979e12, hbm_Bps=4.8e12,
                     scaleup_uni_Bps=450e9, ranks_per_node=8, sm_count=132, blackwell=0.0),
    "b200_sxm": dict(bf16_flops=2.25e15, fp8_flops=4.5e15, fp4_flops=9e15, hbm_Bps=8e12,
                     scaleup_uni_Bps=900e9, ranks_per_node=8, sm_count=148, blackwell=1.0),
    "gb200": dict(bf16_flops=2.5e15, fp8_flops=5e15, fp4_flops=10e15, hbm_Bps=8e12,
                  scaleup_uni_Bps=900e9, ranks_per_node=4, sm_count=148, blackwell=1.0),
    "b300_sxm": dict(bf16_flops=2.25e15, fp8_flops=4.5e15, fp4_flops=13.1e15, hbm_Bps=8e12,
                     scaleup_uni_Bps=900e9, ranks_per_node=8, sm_count=148, blackwell=1.0),
    "gb300": dict(bf16_flops=2.5e15, fp8_flops=5e15, fp4_flops=15e15, hbm_Bps=8e12,
                  scaleup_uni_Bps=900e9, ranks_per_node=4, sm_count=160, blackwell=1.0),
}
HW_NOTES = (
    "Hopper has no FP4 tensor cores: fp4_flops is set to fp8_flops (FP4 weights run on FP8/BF16 math). "
    "sm_count is NVIDIA's published SM count (H100/H200 SXM 132, B200 148; B300/GB300 148/160, confidence U) "
    "and is not used by the fitted models. blackwell is 1 for sm_100/sm_103 parts (not used by shared fits)."
)


# Scale-up fabric generation: collectives of GPUs on the same NVLink/NVSwitch generation share
# latencies and efficiencies (Hopper: NVLink 4 + NVSwitch 3; Blackwell: NVLink 5 + NVSwitch 4).
FABRIC = {"h100_sxm": "nvlink4", "h200_sxm": "nvlink4", "b200_sxm": "nvlink5", "gb200": "nvlink5",
          "b300_sxm": "nvlink5", "gb300": "nvlink5"}


def load_table(root: str, table: str, gpus=GPUS):
    """All parquet files of `table` under root/<gpu>/*/<framework>/<version>/, one frame.

    Adds columns `system` (directory name), `fw_dir`, `ver_dir` and `source`
    ("<system>/<op dir>/<framework>/<version>") for citations.
    """
    import pandas as pd

    frames = []
    for path in sorted(glob.glob(os.path.join(root, "*", "*", "*", "*", f"{table}.parquet"))):
        rel = os.path.relpath(path, root).split(os.sep)
        if rel[0] not in gpus:
            continue
        df = pd.read_parquet(path)
        df["system"] = rel[0]
        df["fw_dir"] = rel[2]
        df["ver_dir"] = rel[3]
        df["source"] = "/".join(rel[:4])
        frames.append(df)
    if not frames:
        raise SystemExit(f"no {table}.parquet under {root}")
    return pd.concat(frames, ignore_index=True)


def hw_columns(systems) -> dict:
    """Per-row hardware facts (dict of arrays) for an array of system names."""
    systems = np.asarray(systems)
    out = {}
    for key in HW["h100_sxm"]:
        table = {g: HW[g][key] for g in HW}
        out[key] = np.array([table[s] for s in systems], dtype=float)
    return out


def rel_err(pred, meas):
    return np.abs(np.asarray(pred) - np.asarray(meas)) / np.asarray(meas)


def metrics(pred, meas) -> dict:
    e = rel_err(pred, meas)
    if e.size == 0:
        return dict(rows=0, mape=float("nan"), p90=float("nan"))
    return dict(rows=int(e.size), mape=float(np.mean(e)), p90=float(np.quantile(e, 0.9)))


@dataclass
class Spec:
    """One parametric model to fit: names, start values and bounds (all > 0, fitted in log space)."""

    names: tuple
    x0: tuple
    lo: tuple
    hi: tuple
    fn: Callable  # fn(params: dict, X: dict of arrays, hw: dict of arrays) -> seconds


def fit(spec: Spec, X: dict, hw: dict, y_s, max_nfev: int = 400, x0=None, weights=None) -> dict:
    """Least squares on log(pred/meas) from the spec's start and from x0; returns the better params dict."""
    best = None
    for start in ([None, x0] if x0 else [None]):
        p, cost = _fit1(spec, X, hw, y_s, max_nfev, start, weights)
        if best is None or cost < best[1]:
            best = (p, cost)
    return best[0]


def _fit1(spec, X, hw, y_s, max_nfev, x0, weights):
    from scipy.optimize import least_squares

    y = np.log(np.asarray(y_s, dtype=float))
    lo = np.log(np.array(spec.lo, dtype=float))
    hi = np.log(np.array(spec.hi, dtype=float))
    start = np.log(np.array([x0[n] for n in spec.names] if x0 else spec.x0, dtype=float))
    start = np.clip(start, lo + 1e-9, hi - 1e-9)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)

    def resid(z):
        p = dict(zip(spec.names, np.exp(z)))
        pred = spec.fn(p, X, hw)
        return w * (np.log(np.maximum(pred, 1e-12)) - y)

    r = least_squares(resid, start, bounds=(lo, hi), loss="soft_l1", f_scale=0.1, max_nfev=max_nfev)
    return {n: float(v) for n, v in zip(spec.names, np.exp(r.x))}, float(r.cost)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(f"{float(v):.6g}"))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, float) and v != v:
        return "nan"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def toml_key(k: str) -> str:
    return k if all(c.isalnum() or c in "_-" for c in k) else toml_value(k)


def write_toml(path: str, header: str, tables: dict) -> None:
    """Write {dotted.table.name: {key: value}} as TOML (flat tables, insertion order)."""
    lines = [f"# {line}" if line else "#" for line in header.strip().splitlines()] + [""]
    for name, kv in tables.items():
        lines.append("[" + ".".join(toml_key(p) for p in name.split("\x1f")) + "]")
        for k, v in kv.items():
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def tname(*parts) -> str:
    """A table name whose parts may contain dots (joined with an unprintable separator)."""
    return "\x1f".join(str(p) for p in parts)


def hardware_tables() -> dict:
    out = {}
    for g in GPUS:
        kv = dict(HW[g])
        kv["source"] = f"superpod {HW_SOURCE[g]} (dense peaks; scaleup_uni_Bps = scaleup_Bps / 2); ranks_per_node from AIConfigurator system.yaml"
        kv["confidence"] = "B"
        out[tname("hardware", g)] = kv
    return out


def fmt_pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


# ---------------------------------------------------------------- tables, fitting and reporting
class Table:
    name = ""
    group_cols: tuple = ()
    shape_cols: tuple = ()
    family = FABRIC  # GPU -> shared-parameter family (scale-up fabric or tensor-core generation)
    ideal: dict = {}  # parameters of the plain roofline (no latency, efficiency 1): the baseline
    max_fit_rows = 0  # fit on at most this many rows per group and level (0: all)

    def rows(self, root):  # -> DataFrame with system, group cols, shape cols, y_s, source
        raise NotImplementedError

    def spec(self, key) -> Spec:
        raise NotImplementedError

    def ranges(self, df) -> dict:
        return {}


def _X(d, cols):
    return {c: d[c].to_numpy() for c in cols}


def _sub(d, n, seed=0):
    return d if not n or len(d) <= n else d.sample(n=n, random_state=seed)


def fit_table(t: Table, df, train_gpus, per_gpu_fits=True):
    """Params per group: `generic` (all train_gpus), per family (t.family), and per GPU.

    Returns {(key, level): params} with level "generic", a family name, or a GPU name.
    """
    out = {}
    for key, g in df.groupby(list(t.group_cols)):
        key = key if isinstance(key, tuple) else (key,)
        spec = t.spec(key)
        tr = g[g.system.isin(train_gpus)]
        if len(tr) == 0:
            continue
        s = _sub(tr, t.max_fit_rows)
        p = fit(spec, _X(s, t.shape_cols), hw_columns(s.system), s.y_s)
        out[(key, "generic")] = p
        fam = tr.system.map(t.family)
        for f, gf in tr.groupby(fam):
            s = _sub(gf, t.max_fit_rows)
            out[(key, f)] = fit(spec, _X(s, t.shape_cols), hw_columns(s.system), s.y_s, x0=p)
        if per_gpu_fits:
            for gpu, gg in tr.groupby("system"):
                s = _sub(gg, t.max_fit_rows)
                x0 = out[(key, t.family[gpu])]
                out[(key, gpu)] = fit(spec, _X(s, t.shape_cols), hw_columns(s.system), s.y_s, x0=x0)
    return out


def predict(t: Table, df, params, level="gpu"):
    """Predict with the most specific params available at `level` ("gpu", "family" or "generic")."""
    pred = np.full(len(df), np.nan)
    for key, g in df.groupby(list(t.group_cols)):
        key = key if isinstance(key, tuple) else (key,)
        spec = t.spec(key)
        for gpu, gg in g.groupby("system"):
            order = {"gpu": [gpu, t.family[gpu], "generic"], "family": [t.family[gpu], "generic"],
                     "generic": ["generic"]}[level]
            p = next((params[(key, lv)] for lv in order if (key, lv) in params), None)
            if p is None:
                continue
            idx = df.index.get_indexer(gg.index)
            pred[idx] = spec.fn(p, _X(gg, t.shape_cols), hw_columns(gg.system))
    return pred


def baseline(t: Table, df, extra=None):
    """Predictions of the plain roofline (t.ideal parameters, catalog peaks, nothing fitted)."""
    params = {}
    for key, _ in df.groupby(list(t.group_cols)):
        key = key if isinstance(key, tuple) else (key,)
        params[(key, "generic")] = dict(t.ideal, **(extra or {}))
    return predict(t, df, params, "generic")


def report(t: Table, df, pred, label, worst=5, out=print, by=None):
    m = metrics(pred, df.y_s)
    out(f"\n### {t.name}: {label}: rows {m['rows']}, MAPE {fmt_pct(m['mape'])}, p90 {fmt_pct(m['p90'])}")
    for name, mask in t.ranges(df).items():
        mm = metrics(pred[mask.to_numpy()], df.y_s[mask])
        out(f"- serving range {name}: rows {mm['rows']}, MAPE {fmt_pct(mm['mape'])}, p90 {fmt_pct(mm['p90'])}")
    d = df.assign(pred=pred, err=rel_err(pred, df.y_s))
    out("\n| GPU | rows | MAPE | p90 |\n|---|---:|---:|---:|")
    for gpu, g in d.groupby("system"):
        mg = metrics(g.pred, g.y_s)
        out(f"| {gpu} | {mg['rows']} | {fmt_pct(mg['mape'])} | {fmt_pct(mg['p90'])} |")
    out("\n| GPU | group | rows | MAPE | p90 |\n|---|---|---:|---:|---:|")
    for (gpu, *key), g in d.groupby(["system", *(by or t.group_cols)]):
        mg = metrics(g.pred, g.y_s)
        out(f"| {gpu} | {'/'.join(map(str, key))} | {mg['rows']} | {fmt_pct(mg['mape'])} | {fmt_pct(mg['p90'])} |")
    if worst:
        out(f"\nworst {worst} rows:\n")
        cols = ["system", *t.group_cols, *[c for c in t.shape_cols if c not in t.group_cols]]
        w = d.sort_values("err", ascending=False).head(worst)
        for _, r in w.iterrows():
            shape = ", ".join(f"{c}={r[c]}" for c in cols)
            out(f"- {shape}: measured {r.y_s * 1e6:.1f} us, predicted {r.pred * 1e6:.1f} us ({100 * (r.pred / r.y_s - 1):+.0f}%)")
    return m


def params_tables(t: Table, df, params) -> dict:
    out = {}
    fwv = {}
    for k, g in df.groupby(list(t.group_cols)):
        k = k if isinstance(k, tuple) else (k,)
        fwv[tuple(k)] = (sorted(g.framework.astype(str).unique()), sorted(g.version.astype(str).unique()))
    by_sys = {}
    for k, v in df.groupby([*t.group_cols, "system"]).source.unique().items():
        by_sys.setdefault(tuple(k[:-1]), {})[k[-1]] = set(v)
    for (key, level), p in params.items():
        srcs = by_sys.get(tuple(key), {})
        systems = [s for s in srcs if level in ("generic", s, t.family.get(s))]
        sources = sorted(set().union(*(srcs[s] for s in systems)))
        kv = dict(p)
        kv["source"] = f"AIConfigurator perf database, {t.name}: " + "; ".join(sources)
        fw, ver = fwv.get(tuple(key), ([], []))
        kv["framework"] = ", ".join(fw)
        kv["version"] = ", ".join(ver)
        kv["confidence"] = "C"
        out[tname(t.name, *map(str, key), level)] = kv
    return out




# ---------------------------------------------------------------- the driver's view (fit_driver.py)
def job(t: Table, rows=None, baselines=None, dump=None):
    """A :class:`fit_driver.Job` for table ``t``: levels gpu / family / generic in sample, family and
    generic on a held-out GPU; ``rows(root)`` overrides ``t.rows`` (e.g. a filtered subset);
    ``baselines(t, df)`` the rooflines shown beside the fit; ``dump`` a parquet path for the per-GPU
    predictions."""
    import fit_driver as D

    def predict_level(df, params, level):
        pred = predict(t, df, params, level)
        if dump and level == "gpu":
            df.assign(pred=pred).to_parquet(dump)
        return pred

    return D.Job(table=t.name, rows=rows or t.rows, meas="y_s",
                 fit=lambda df, gpus, per_gpu, log: fit_table(t, df, gpus, per_gpu_fits=per_gpu),
                 predict=predict_level,
                 report=lambda df, pred, label, worst: report(t, df, pred, label, worst=worst),
                 sections=lambda df, params: params_tables(t, df, params),
                 ranges=lambda df: t.ranges(df), levels=("gpu", "family", "generic"),
                 holdout_levels=("family", "generic"),
                 baselines=(lambda df: baselines(t, df)) if baselines else (lambda df: []))
