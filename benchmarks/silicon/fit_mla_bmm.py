"""Fit MLA's absorbed per-head BMMs (mla_bmm_perf) with the GEMM model (gemm_model.py, ``batch`` = heads).

Run:
    python benchmarks/silicon/fit_mla_bmm.py /work/shared/reference/silicon/kernels --out src/superpod/catalog/calibration/silicon/mla_bmm.toml
    python benchmarks/silicon/fit_mla_bmm.py DIR --holdout b300_sxm | --holdout all

Shapes (DeepSeek-V3 MLA, per head; kv_lora_rank 512, qk_nope_head_dim 128, v_head_dim 128):
  mla_gen_pre  : q_nope [tokens, 128] x W_UK [128, 512]  -> m = tokens, k = 128, n = 512, batch = heads
  mla_gen_post : o      [tokens, 512] x W_UV [512, 128]  -> m = tokens, k = 512, n = 128, batch = heads
One kernel = (framework, op_name, bmm_dtype, kernel_source); parameters and per-GPU multipliers as in
fit_gemm.py (whose driver job this reuses). Serving range: decode tokens 1..512 ("decode") and 1k..32k ("prefill").
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common_gemm_attention as C  # noqa: E402
import fit_driver as D  # noqa: E402
import fit_gemm as F  # noqa: E402

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


def section(fits: dict, version_of: dict) -> dict:
    """TOML sections, one per kernel (hardware facts as in gemm.toml)."""
    tables = {}
    for key, (x, mult, srcs, *_) in fits.items():
        arch, fw, op, dt, ks = key
        k, n = SHAPES[op]
        tables[f"mla_bmm|{arch}|{fw}|{op}|{dt}|{ks}"] = F.body(x, mult, srcs, "mla_bmm_perf", fw, version_of[fw], ks,
                                                             k=k, n=n)
    return tables


HEADER = ("MLA absorbed-BMM parameters for superpod.cost.kernels.gemm (batch = heads),\n"
          "derived by superpod with benchmarks/silicon/fit_mla_bmm.py from AIConfigurator's mla_bmm_perf\n"
          "tables (Apache-2.0). Hardware facts as in src/superpod/catalog/calibration/silicon/gemm.toml.")


def main(argv=None) -> None:
    ap = D.parser(__doc__, ["mla_bmm_perf"])
    ap.add_argument("--n-fit", type=int, default=8000)
    a = ap.parse_args(argv)
    job = F.job(a.n_fit, "mla_bmm_perf", load=load, key_cols=KEY,
                by=["system", "framework", "op_name", "gemm_dtype", "kernel_source"],
                shape=("op_name", "num_tokens", "num_heads"), section=section)
    D.main(a, {"mla_bmm_perf": job}, lambda path, sec: C.write_toml(path, HEADER, sec))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
