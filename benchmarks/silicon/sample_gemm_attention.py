"""Write stratified samples of the GEMM / attention / MLA tables to src/superpod/catalog/calibration/silicon/samples/ for the tests.

Run: python benchmarks/silicon/sample_gemm_attention.py /work/shared/reference/silicon/kernels
Each file holds up to N rows per (GPU, framework, kernel source, dtypes) group, with every column of the
table plus ``system`` and ``table`` (the source path); the first line is a ``#`` comment naming the source
(AIConfigurator perf database, <system>/<op>/<framework>/<version>, Apache-2.0). Read with
``pandas.read_csv(path, comment="#")``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common_gemm_attention as C  # noqa: E402

GROUPS = {
    "gemm_perf": (["system", "framework", "gemm_dtype", "kernel_source"], 250),
    "context_attention_perf": (["system", "framework", "kernel_source", "attn_dtype", "kv_cache_dtype"], 120),
    "generation_attention_perf": (["system", "framework", "kernel_source", "attn_dtype", "kv_cache_dtype"], 120),
    "context_mla_perf": (["system", "framework", "kernel_source", "kv_cache_dtype"], 150),
    "generation_mla_perf": (["system", "framework", "kernel_source", "kv_cache_dtype"], 150),
    "mla_bmm_perf": (["system", "framework", "op_name", "kernel_source", "bmm_dtype"], 80),
}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "superpod", "catalog", "calibration", "silicon", "samples")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    commit = open(os.path.join(a.root, "SOURCE_COMMIT")).read().strip()
    for op, (by, n) in GROUPS.items():
        d = C.load(a.root, op).drop(columns=["t_s"])
        s = C.stratified_sample(d, by, n).sort_values(by)
        path = os.path.join(a.out, f"{op}_sample.csv.gz")
        with gzip.open(path, "wt", compresslevel=9) as f:
            f.write(f"# Stratified sample ({n} rows per {'/'.join(by)}) of AIConfigurator perf database "
                    f"<system>/<op>/<framework>/<version>/{op}.parquet (ai-dynamo/aiconfigurator commit {commit}, "
                    f"Apache-2.0; source path in column 'table'). latency: ms per call.\n")
            s.to_csv(f, index=False, float_format="%.6g")
        print(f"{path}: {len(s)} rows, {os.path.getsize(path) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
