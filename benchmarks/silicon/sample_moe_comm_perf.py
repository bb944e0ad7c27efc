"""Write stratified samples of silicon-b's tables to src/superpod/catalog/calibration/silicon/samples/<table>_sample.csv.gz.

    python benchmarks/silicon/sample_moe_comm_perf.py /work/shared/reference/silicon/kernels

Tables: moe_perf (stratified by GPU, framework, kernel source, dtype, routing distribution,
token bucket), nccl_perf, custom_allreduce_perf, wideep_deepep_ll_perf (all rows: small) and
wideep_deepep_normal_perf (stratified by GPU and token count). Each file starts with '#'
comment lines naming the source (AIConfigurator perf database, Apache-2.0) so the project's
tests can use the rows without reading ../shared.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import silicon_b_fitlib as L  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "src", "superpod", "catalog", "calibration", "silicon", "samples"))

COLUMNS = {
    "moe_perf": ["system", "source", "framework", "version", "kernel_source", "moe_dtype", "num_tokens",
                 "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size",
                 "distribution", "latency"],
    "nccl_perf": ["system", "source", "framework", "version", "op_name", "nccl_dtype", "num_gpus",
                  "message_size", "latency"],
    "custom_allreduce_perf": ["system", "source", "framework", "version", "kernel_source", "allreduce_dtype",
                              "num_gpus", "message_size", "latency"],
    "wideep_deepep_ll_perf": ["system", "source", "framework", "version", "hidden_size", "num_token", "num_topk",
                              "num_experts", "dispatch_avg_t_us", "combine_avg_t_us"],
    "wideep_deepep_normal_perf": ["system", "source", "framework", "version", "hidden_size", "num_token",
                                  "num_topk", "num_experts", "dispatch_sms", "dispatch_transmit_us",
                                  "dispatch_notify_us", "combine_sms", "combine_transmit_us", "combine_notify_us"],
}


def sample(table, df, seed=0):
    if table == "moe_perf":
        df = df.assign(_tb=np.digitize(df.num_tokens, [17, 129, 513, 1025, 4097]))
        keys = ["system", "fw_dir", "kernel_source", "moe_dtype", "distribution", "_tb"]
        return df.sample(frac=1.0, random_state=seed).groupby(keys).head(16)
    if table == "wideep_deepep_normal_perf":
        return df.sample(frac=1.0, random_state=seed).groupby(["system", "num_token"]).head(30)
    return df


def write(table, df, path):
    sources = sorted(df.source.unique())
    header = [
        f"# {table}: stratified sample of the AIConfigurator perf database (ai-dynamo/aiconfigurator, Apache-2.0),",
        "# tables <system>/<op>/<framework>/<version>/" + table + ".parquet: " + "; ".join(sources),
        "# units as in the source: latency ms per call; *_us microseconds; message_size in elements.",
        "# written by benchmarks/silicon/sample_moe_comm_perf.py (superpod, helper silicon-b).",
    ]
    with gzip.open(path, "wt", compresslevel=9) as f:
        f.write("\n".join(header) + "\n")
        df[COLUMNS[table]].to_csv(f, index=False, float_format="%.6g")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    for table in COLUMNS:
        df = L.load_table(a.root, table)
        s = sample(table, df).sort_values(["system", "source"]).reset_index(drop=True)
        path = os.path.join(a.out, f"{table}_sample.csv.gz")
        write(table, s, path)
        print(f"{path}: {len(s)} of {len(df)} rows, {os.path.getsize(path) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
