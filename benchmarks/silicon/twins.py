"""Consistency checks on a file of measured serving runs: what the rows themselves say about how to read them.

    python benchmarks/silicon/twins.py [FILE.csv]

1. **Twins**: rows with the same measured TTFT and TPOT (one run dumped more than once) whose stated
   layouts differ. Every such pair must price as the same deployment; the product spellings of
   InferenceMAX dumps were found this way (catalog/validation/silicon/harness.toml ``layout_product``).
2. **Same-architecture pairs**: DeepSeek-R1 and DeepSeek-V3 have the same architecture and weights
   shape, so at the same framework, version, GPU, format, lengths, concurrency and layout their decode
   steps do the same kernel work. A TPOT ratio far from 1 says the runs differ in something the rows do
   not state (e.g. speculative decoding). The TensorRT-LLM R1 rows that ran InferenceMAX's MTP configs
   were found this way and are priced with MTP (catalog/validation/silicon/speculative.toml); any other
   such pair keeps an error of that size.

Reads the CSV (needs pandas: the ``fit`` extra); prints the groups.
"""

from __future__ import annotations

import sys

import pandas as pd

from superpod.planners.silicon_rows import default_file

LAYOUT = ["tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size", "batch_size"]
SAME_ARCH = {"deepseek-ai/DeepSeek-R1": "R1", "deepseek-ai/DeepSeek-V3": "V3"}


def twins(d: pd.DataFrame) -> pd.DataFrame:
    key = d.silicon_tpot_ms.round(3).astype(str) + "/" + d.silicon_ttft_ms.round(2).astype(str)
    out = []
    for _, g in d.groupby(key):
        lay = g[LAYOUT].fillna(-1).drop_duplicates()
        if len(g) > 1 and len(lay) > 1:
            out.append(g[["id", *LAYOUT, "silicon_ttft_ms", "silicon_tpot_ms"]])
    return pd.concat(out) if out else pd.DataFrame()


def same_architecture(d: pd.DataFrame) -> pd.DataFrame:
    d = d[d.model_path.isin(SAME_ARCH) & (d["mode"] == "agg")].copy()
    d["concurrency"] = d.silicon_data_source.str.extract(r"silicon_concurrency=(\d+)")[0].astype(float)
    d["m"] = d.model_path.map(SAME_ARCH)
    k = ["backend", "system", "backend_version", "precision", "isl", "osl", "concurrency", *LAYOUT[:4]]
    p = d.pivot_table(index=k, columns="m", values="silicon_tpot_ms", aggfunc="median").dropna()
    p["R1/V3"] = p["R1"] / p["V3"]
    return p


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else default_file()
    d = pd.read_csv(path)
    t = twins(d)
    print(f"twin rows with different stated layouts: {len(t)}")
    if len(t):
        print(t.to_string(index=False))
    p = same_architecture(d)
    apart = p[(p["R1/V3"] - 1).abs() > 0.1]
    print(f"\nDeepSeek-R1 / V3 TPOT at the same stated deployment: {len(p)} pairs, {len(apart)} more than 10% apart")
    print(p.round(2).to_string())


if __name__ == "__main__":
    main()
