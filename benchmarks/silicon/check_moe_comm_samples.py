"""Check the shipped MoE and collective parameters against the sampled table rows (no ../shared).

    python benchmarks/silicon/check_moe_comm_samples.py            # prints MAPE per table and level
    python benchmarks/silicon/check_moe_comm_samples.py --strict   # exit 1 if a table misses its bound

Reads src/superpod/catalog/calibration/silicon/samples/<table>_sample.csv.gz (rows of the AIConfigurator perf database) and
src/superpod/catalog/calibration/silicon/{moe,comm}_perf.toml, prices every row with moe_perf_model /
comm_perf_model using the most specific parameter set (the GPU's own, else its family, else
generic) times the family's MoE efficiency surface and, with --level generic, the generic set only
without a surface (a GPU of a family nobody measured). Only numpy
and the standard library: the body of a project test now folded into superpod.planners.kernel_tables (superpod calibration).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import sys
import tomllib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from superpod.cost.kernels import collectives as C  # noqa: E402
from superpod.cost.kernels import moe as M  # noqa: E402
from superpod.cost.kernels.surface import Surface  # noqa: E402

DATA = os.path.normpath(os.path.join(HERE, "..", "..", "src", "superpod", "catalog", "calibration", "silicon", "samples"))
ARCH = {"h100_sxm": "hopper", "h200_sxm": "hopper", "b200_sxm": "blackwell", "gb200": "blackwell",
        "b300_sxm": "blackwell", "gb300": "blackwell"}
FABRIC = {"h100_sxm": "nvlink4", "h200_sxm": "nvlink4", "b200_sxm": "nvlink5", "gb200": "nvlink5",
          "b300_sxm": "nvlink5", "gb300": "nvlink5"}
# in-sample per-GPU bounds (MAPE) these parameters meet on the samples; see RESULTS_*.md
BOUNDS = {"moe_perf": 0.10, "nccl_perf": 0.10, "custom_allreduce_perf": 0.12,
          "wideep_deepep_ll_perf": 0.15, "wideep_deepep_normal_perf": 0.12}


def read_rows(table):
    with gzip.open(os.path.join(DATA, f"{table}_sample.csv.gz"), "rt") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines))


def lookup(params, parts, gpu, family, level):
    node = params
    for p in parts:
        node = node.get(p, {})
    order = [gpu, family, "generic"] if level == "gpu" else ["generic"]
    for lv in order:
        if lv in node:
            return {k: v for k, v in node[lv].items() if isinstance(v, float)}
    return None


def hw_of(params, gpu):
    return {k: float(v) for k, v in params["hardware"][gpu].items() if isinstance(v, (int, float))}


def price(table, rows, params, level):
    """(measured_s, predicted_s) arrays for the rows of one table (row by row: a check, not a sweep)."""
    meas, pred = [], []
    surfaces = {}
    for r in rows:
        gpu = r["system"]
        hw = hw_of(params, gpu)
        if table == "moe_perf":
            fw = r["source"].split("/")[2]
            ks, dt = r["kernel_source"], r["moe_dtype"]
            p = lookup(params, ["moe_perf", fw, ks, dt, r["distribution"]], gpu, ARCH[gpu], level)
            if p is None:
                continue
            node = params["moe_perf"][fw][ks][dt][r["distribution"]]
            surf = node.get("surface", {}).get(ARCH[gpu]) if level == "gpu" else None
            if surf:
                surf = surfaces.setdefault((fw, ks, dt, r["distribution"], ARCH[gpu]), Surface.from_toml(surf))
            t = M.moe_s(float(r["num_tokens"]), float(r["hidden_size"]), float(r["inter_size"]), float(r["topk"]),
                        float(r["num_experts"]), float(r["moe_tp_size"]), float(r["moe_ep_size"]), hw, p,
                        M.weight_bytes(dt), hw[M.peak_key(dt, ks)], M.gated_factor(ks),
                        surface=surf or None)
            meas.append(float(r["latency"]) * 1e-3)
            pred.append(float(t))
        elif table == "nccl_perf":
            p = lookup(params, ["nccl_perf", r["op_name"], r["num_gpus"]], gpu, FABRIC[gpu], level)
            b = float(r["message_size"]) * C.DTYPE_BYTES[r["nccl_dtype"]]
            meas.append(float(r["latency"]) * 1e-3)
            pred.append(float(C.nccl_s(r["op_name"], float(r["num_gpus"]), b, hw, p)))
        elif table == "custom_allreduce_perf":
            p = lookup(params, ["custom_allreduce_perf", r["kernel_source"], r["num_gpus"]], gpu, FABRIC[gpu], level)
            b = float(r["message_size"]) * C.DTYPE_BYTES[r["allreduce_dtype"]]
            meas.append(float(r["latency"]) * 1e-3)
            pred.append(float(C.custom_allreduce_s(float(r["num_gpus"]), b, hw, p)))
        else:
            for kind in ("dispatch", "combine"):
                p = lookup(params, [table, kind], gpu, FABRIC[gpu], level)
                if table == "wideep_deepep_ll_perf":
                    y = float(r[f"{kind}_avg_t_us"]) * 1e-6
                    t = C.deepep_ll_s(kind, float(r["num_token"]), float(r["hidden_size"]), float(r["num_topk"]),
                                      float(r["num_experts"]), hw, p)
                else:
                    y = (float(r[f"{kind}_transmit_us"]) + float(r[f"{kind}_notify_us"])) * 1e-6
                    t = C.deepep_normal_s(kind, float(r["num_token"]), float(r["hidden_size"]), float(r["num_topk"]),
                                          float(r["num_experts"]), float(r[f"{kind}_sms"]), hw, p)
                meas.append(y)
                pred.append(float(t))
    return np.array(meas), np.array(pred)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--level", choices=("gpu", "generic"), default="gpu")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args(argv)
    loaded = {}
    for name in ("moe", "comm"):
        path = os.path.join(HERE, "..", "..", "src", "superpod", "catalog", "calibration", "silicon", f"{name}_perf.toml")
        if os.path.exists(path):
            with open(path, "rb") as f:
                loaded[name] = tomllib.load(f)
    bad = 0
    for table in BOUNDS:
        params = loaded.get("moe" if table == "moe_perf" else "comm")
        if params is None:
            print(f"{table}: no parameter file")
            bad += 1
            continue
        y, p = price(table, read_rows(table), params, a.level)
        e = np.abs(p - y) / y
        ok = e.mean() <= BOUNDS[table]
        bad += a.strict and a.level == "gpu" and not ok
        print(f"{table}: rows {len(y)}, MAPE {100 * e.mean():.1f}%, p90 {100 * np.quantile(e, 0.9):.1f}% "
              f"({a.level} params; bound {100 * BOUNDS[table]:.0f}%{'' if ok else ' MISSED'})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
