"""Price the shipped table samples with the shipped parameters (no access to the full tables).

Run: python benchmarks/silicon/check_gemm_attention.py   (prints MAPE per table; exit 1 if a table's MAPE
over its sample exceeds --max-mape, default 30%). It reads src/superpod/catalog/calibration/silicon/samples/*_sample.csv.gz and
src/superpod/catalog/calibration/silicon/{gemm,mla_bmm,attention}.toml only, so the project's tests can do the same.
It also shows how a caller uses the models: look up a kernel's parameter table, build the hardware facts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from superpod.cost.kernels import attention as A  # noqa: E402
from superpod.cost.kernels import gemm as G  # noqa: E402
from superpod.cost.kernels.surface import Surface  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "src", "superpod", "catalog", "calibration", "silicon", "samples")

PARAMS = os.path.join(HERE, "..", "..", "src", "superpod", "catalog", "calibration", "silicon")


def params(name: str) -> dict:
    with open(os.path.join(PARAMS, f"{name}.toml"), "rb") as f:
        return tomllib.load(f)


def hw_facts(gemm_params: dict, attn_params: dict, system: str) -> dict:
    h = gemm_params["hardware"][system]
    return {"peak_flops": {"bf16": h["bf16_flops"], "fp8": h["fp8_flops"], "fp4": h["fp4_flops"]},
            "hbm_Bps": h["hbm_Bps"], "sm_count": h["sm_count"], "arch": h["arch"],
            "exp_per_s": attn_params["hardware"][system]["exp_per_s"]}


def sample(table: str) -> pd.DataFrame:
    return pd.read_csv(os.path.join(DATA, f"{table}_sample.csv.gz"), comment="#")


def lookup(tree: dict, *keys):
    for k in keys:
        tree = tree.get(str(k)) if isinstance(tree, dict) else None
        if tree is None:
            return None
    return tree


def check(max_mape: float) -> dict:
    pg, pb, pa = params("gemm"), params("mla_bmm"), params("attention")
    hws = {s: hw_facts(pg, pa, s) for s in pg["hardware"]}
    out = {}

    d = sample("gemm_perf")
    pred = np.full(len(d), np.nan)
    for (system, fw, dt, ks), g in d.groupby(["system", "framework", "gemm_dtype", "kernel_source"]):
        hw = hws[system]
        p = lookup(pg, "gemm", hw["arch"], fw, dt, ks)
        if p is None:
            continue
        surf = Surface.from_toml(p["surface"]) if "surface" in p else None  # the table's efficiency surface
        pred[d.index.get_indexer(g.index)] = G.gemm_s(g["m"].to_numpy(float), g["n"].to_numpy(float),
                                                      g["k"].to_numpy(float), dt, hw, p, p["gpu_eta_c"].get(system, 1.0),
                                                      p["gpu_t0"].get(system, 1.0), surface=surf)
    out["gemm_perf"] = (d, pred)

    d = sample("mla_bmm_perf")
    pred = []
    for r in d.itertuples():
        hw = hws[r.system]
        p = lookup(pb, "mla_bmm", hw["arch"], r.framework, r.op_name, r.bmm_dtype, r.kernel_source)
        pred.append(np.nan if p is None else G.gemm_s(r.num_tokens, p["n"], p["k"], r.bmm_dtype, hw, p,
                                                      p["gpu_eta_c"].get(r.system, 1.0),
                                                      p["gpu_t0"].get(r.system, 1.0), batch=r.num_heads)[()])
    out["mla_bmm_perf"] = (d, np.array(pred, dtype=float))

    for table in ("context_attention_perf", "generation_attention_perf", "context_mla_perf", "generation_mla_perf"):
        d = sample(table)
        mla = "mla" in table
        dt_col = "mla_dtype" if mla else "attn_dtype"
        pred = []
        for r in d.itertuples():
            hw = hws[r.system]
            p = lookup(pa, table.removesuffix("_perf"), hw["arch"], r.framework, r.kernel_source,
                       getattr(r, dt_col), r.kv_cache_dtype)
            if p is None:
                pred.append(np.nan)
                continue
            q = dict(p)
            for name in ("eta_c", "eta_x"):
                if name in q:
                    q[name] = q[name] * p["gpu_eta_c"].get(r.system, 1.0)
            q["eta_m"] = q["eta_m"] * p["gpu_eta_m"].get(r.system, 1.0)
            q["surface"] = Surface.from_toml(p["surface"]) if "surface" in p else None
            kv_b = 1.0 if "fp8" in r.kv_cache_dtype else 2.0
            if table.startswith("context"):
                fp8 = getattr(r, dt_col) == "fp8"
                h_kv, dqk, dv, w = ((r.num_heads, 192, 128, 0) if mla else
                                    (r.num_key_value_heads, r.head_dim, r.head_dim, r.window_size))
                t = A.context_s(r.batch_size, r.isl, r.num_heads, h_kv, dqk, dv, w, 1.0 if fp8 else 2.0, kv_b,
                                "fp8" if fp8 else "bf16", hw, q)
            else:
                h_kv, dqk, dv, dvr, w = ((1, 576, 512, 0, 0) if mla else
                                         (r.num_key_value_heads, r.head_dim, r.head_dim, r.head_dim, r.window_size))
                t = A.generation_s(r.batch_size, r.step + 1, r.num_heads, h_kv, dqk, dv, dvr, w, kv_b, hw, q,
                                   mma_rows=64.0 if mla else 16.0)
            pred.append(float(t))
        out[table] = (d, np.array(pred, dtype=float))

    bad = False
    for table, (d, pred) in out.items():
        meas = d["latency"].to_numpy(float) * 1e-3
        ok = ~np.isnan(pred)
        err = np.abs(pred[ok] - meas[ok]) / meas[ok]
        mape = 100 * float(np.mean(err))
        bad |= mape > max_mape
        print(f"{table:28s} rows={ok.sum():6d}/{len(d):6d}  MAPE={mape:5.1f}%  p90={100 * np.percentile(err, 90):5.1f}%")
    return {"ok": not bad}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mape", type=float, default=30.0)
    sys.exit(0 if check(ap.parse_args().max_mape)["ok"] else 1)
