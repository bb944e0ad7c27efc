"""Fit MLA's absorbed per-head BMMs (mla_bmm_perf) with the GEMM model (gemm_model.py, ``batch`` = heads).

Run:
    python benchmarks/silicon/fit_mla_bmm.py /work/shared/reference/silicon/kernels --out src/superpod/catalog/calibration/silicon/mla_bmm.toml
    python benchmarks/silicon/fit_mla_bmm.py DIR --holdout b300_sxm | --holdout all

Shapes (DeepSeek-V3 MLA, per head; kv_lora_rank 512, qk_nope_head_dim 128, v_head_dim 128):
  mla_gen_pre  : q_nope [tokens, 128] x W_UK [128, 512]  -> m = tokens, k = 128, n = 512, batch = heads
  mla_gen_post : o      [tokens, 512] x W_UV [512, 128]  -> m = tokens, k = 512, n = 128, batch = heads
One kernel = (framework, op_name, bmm_dtype, kernel_source); parameters and per-GPU multipliers as in
fit_gemm.py. Serving range: decode tokens 1..512 ("decode") and 1k..32k ("prefill").
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common_gemm_attention as C  # noqa: E402
import fit_gemm as F  # noqa: E402
from gemm_model import PARAM_NAMES  # noqa: E402

KEY = ["arch", "framework", "op_name", "gemm_dtype", "kernel_source"]
SHAPES = {"mla_gen_pre": (128, 512), "mla_gen_post": (512, 128)}  # (k, n)


def load(root: str) -> pd.DataFrame:
    d = C.load(root, "mla_bmm_perf")
    d["m"] = d["num_tokens"].astype(int)
    d["k"] = d["op_name"].map(lambda o: SHAPES[o][0])
    d["n"] = d["op_name"].map(lambda o: SHAPES[o][1])
    d["batch"] = d["num_heads"].astype(float)
    d["gemm_dtype"] = d["bmm_dtype"]
    return d


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--out", default=None)
    ap.add_argument("--holdout", default=None)
    ap.add_argument("--n-fit", type=int, default=8000)
    a = ap.parse_args(argv)
    d = load(a.root)
    hws = {s: C.hardware(a.root, s) for s in C.GPUS}
    d["arch"] = d["system"].map(lambda s: hws[s]["arch"])
    shape = ["op_name", "num_tokens", "num_heads"]
    by = ["system", "framework", "op_name", "gemm_dtype", "kernel_source"]
    if a.holdout:
        rows = []
        for gpu in (C.GPUS if a.holdout == "all" else [a.holdout]):
            print(f"# holdout {gpu}")
            fits = F.fit_all(d[d["system"] != gpu], hws, a.n_fit, log=lambda *_: None, key_cols=KEY)
            e = F.evaluate(d[d["system"] == gpu], hws, fits, holdout=True, key_cols=KEY)
            C.report(e, by, F.RANGES, shape_cols=shape, worst=2)
            n, mape, p90 = C.summary(e["err"].to_numpy())
            rows.append({"holdout": gpu, "rows": n, "mape": mape, "p90": p90,
                         "mape_decode": C.summary(e.loc[F.RANGES["decode"](e), "err"].to_numpy())[1],
                         "mape_prefill": C.summary(e.loc[F.RANGES["prefill"](e), "err"].to_numpy())[1]})
        print("# leave-one-GPU-out summary")
        print(pd.DataFrame(rows).round(1).to_string(index=False))
        return
    fits = F.fit_all(d, hws, a.n_fit, key_cols=KEY)
    e = F.evaluate(d, hws, fits, key_cols=KEY)
    print("# per table")
    C.report(e, ["table"], F.RANGES)
    print("# per (GPU, framework, op, dtype, kernel)")
    C.report(e, by, F.RANGES, shape_cols=shape)
    n, mape, p90 = C.summary(e["err"].to_numpy())
    print(f"# all: rows={n} MAPE={mape:.1f}% p90={p90:.1f}%  decode MAPE="
          f"{C.summary(e.loc[F.RANGES['decode'](e), 'err'].to_numpy())[1]:.1f}%")
    if a.out:
        version_of = d.groupby("framework")["version"].first().to_dict()
        tables = {}
        for key, (x, mult, srcs) in fits.items():
            arch, fw, op, dt, ks = key
            body = {nm: float(v) for nm, v in zip(PARAM_NAMES, x)}
            body["k"], body["n"] = SHAPES[op]
            body["gpu_eta_c"] = {g: round(v[0], 4) for g, v in mult.items()}
            body["gpu_t0"] = {g: round(v[1], 4) for g, v in mult.items()}
            body["source"] = ("AIConfigurator perf database, " + ", ".join(f"{t}/mla_bmm_perf" for t in srcs)
                              + f"; framework {fw} {version_of[fw]}, kernel {ks}")
            body["confidence"] = "C"
            tables[f"mla_bmm|{arch}|{fw}|{op}|{dt}|{ks}"] = body
        C.write_toml(a.out, "MLA absorbed-BMM parameters for superpod.cost.kernels.gemm (batch = heads),\n"
                     "derived by superpod with benchmarks/silicon/fit_mla_bmm.py from AIConfigurator's mla_bmm_perf\n"
                     "tables (Apache-2.0). Hardware facts as in src/superpod/catalog/calibration/silicon/gemm.toml.", tables)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
