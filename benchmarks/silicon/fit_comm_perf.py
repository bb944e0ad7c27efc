"""Fit the collective cost models (comm_perf_model.py) to AIConfigurator's communication tables.

    python benchmarks/silicon/fit_comm_perf.py /work/shared/reference/silicon/kernels --out params.toml
    python benchmarks/silicon/fit_comm_perf.py DIR --holdout b300_sxm     # fit without b300, report on it
    python benchmarks/silicon/fit_comm_perf.py DIR --loo                  # leave each GPU out in turn

Tables: nccl_perf, custom_allreduce_perf, wideep_deepep_ll_perf, wideep_deepep_normal_perf.
Three levels of parameters per op group: `generic` (one set across all measured GPUs: a GPU
on an unmeasured fabric), `nvlink4` / `nvlink5` (one set per scale-up fabric generation: an
unmeasured GPU on a known fabric) and `<gpu>` (refitted on that GPU's rows). --holdout and
--loo report the fabric-level and generic fits on GPUs they did not see.
Prints per table and per (GPU, group): rows, MAPE, p90, and the worst shapes; also the error
restricted to the message / token ranges serving uses. The loop (fit, report, leave one GPU out, TOML) is
fit_driver.py's.
"""

from __future__ import annotations

import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import comm_perf_model as M  # noqa: E402
import fit_driver as D  # noqa: E402
import silicon_b_fitlib as L  # noqa: E402


# ---------------------------------------------------------------- table definitions
class Nccl(L.Table):
    name = "nccl_perf"
    group_cols = ("op_name", "num_gpus")
    ideal = dict(alpha_s=0.0, mid_s=0.0, mid_B=1.0, eta=1.0)
    shape_cols = ("nccl_dtype", "message_size", "bytes")

    def rows(self, root):
        df = L.load_table(root, self.name)
        df["bytes"] = df.message_size * df.nccl_dtype.map(M.DTYPE_BYTES)
        df["y_s"] = df.latency * 1e-3
        return df

    def spec(self, key):
        op, n = key

        def fn(p, X, hw):
            return M.nccl_s(op, n, X["bytes"], hw, p)

        return L.Spec(("alpha_s", "mid_s", "mid_B", "eta"), (1e-5, 1e-5, 4e6, 0.7),
                      (1e-7, 1e-8, 1e4, 0.05), (1e-3, 1e-3, 1e9, 3.0), fn)

    def ranges(self, df):
        b = df.bytes
        return {"decode (TP all-reduce of 1-512 tokens: 4 KB-16 MB)": (b >= 4e3) & (b <= 16.8e6),
                "prefill (1k-32k tokens: 2 MB-1 GB)": b >= 2e6}


class CustomAR(L.Table):
    name = "custom_allreduce_perf"
    group_cols = ("kernel_source", "num_gpus")
    ideal = dict(launch_s=0.0, a1_s=0.0, eta1=1.0, a2_s=0.0, eta2=1.0)
    shape_cols = ("num_gpus", "message_size", "bytes")

    def rows(self, root):
        df = L.load_table(root, self.name)
        df["bytes"] = df.message_size * df.allreduce_dtype.map(M.DTYPE_BYTES)
        df["y_s"] = df.latency * 1e-3
        return df

    def spec(self, key):
        def fn(p, X, hw):
            return M.custom_allreduce_s(X["num_gpus"], X["bytes"], hw, p)

        return L.Spec(("launch_s", "a1_s", "eta1", "a2_s", "eta2"), (1e-6, 3e-6, 0.5, 8e-6, 0.7),
                      (1e-8, 1e-7, 0.02, 1e-7, 0.05), (2e-4, 1e-4, 5.0, 2e-4, 3.0), fn)

    def ranges(self, df):
        b = df.bytes
        return {"decode (1-512 tokens x 2k-16k hidden, BF16: 4 KB-16 MB)": (b >= 4e3) & (b <= 16.8e6),
                "prefill (1k-32k tokens: 4 MB-1 GB)": b >= 4e6}


class DeepEPLL(L.Table):
    name = "wideep_deepep_ll_perf"
    group_cols = ("kind",)
    ideal = dict(alpha_s=0.0, eta=1.0, expert_Bps=1e30)
    shape_cols = ("hidden_size", "num_token", "num_topk", "num_experts")

    def rows(self, root):
        import pandas as pd

        df = L.load_table(root, self.name)
        parts = []
        for kind in ("dispatch", "combine"):
            d = df.copy()
            d["kind"] = kind
            d["y_s"] = d[f"{kind}_avg_t_us"] * 1e-6
            parts.append(d)
        return pd.concat(parts, ignore_index=True)

    def spec(self, key):
        (kind,) = key

        def fn(p, X, hw):
            return M.deepep_ll_s(kind, X["num_token"], X["hidden_size"], X["num_topk"], X["num_experts"], hw, p)

        return L.Spec(("alpha_s", "eta", "expert_Bps"), (2e-5, 0.5, 3e10), (1e-7, 0.01, 1e8), (1e-3, 5.0, 1e14), fn)

    def ranges(self, df):
        return {"decode (1-512 tokens per rank)": df.num_token <= 512}


class DeepEPNormal(L.Table):
    name = "wideep_deepep_normal_perf"
    group_cols = ("kind",)
    ideal = dict(alpha_s=0.0, sm_Bps=1e30, eta=1.0, copies0=0.0)
    shape_cols = ("hidden_size", "num_token", "num_topk", "num_experts", "sms")

    def rows(self, root):
        import pandas as pd

        df = L.load_table(root, self.name)
        parts = []
        for kind in ("dispatch", "combine"):
            d = df.copy()
            d["kind"] = kind
            d["sms"] = d[f"{kind}_sms"]
            d["y_s"] = (d[f"{kind}_transmit_us"] + d[f"{kind}_notify_us"]) * 1e-6
            parts.append(d)
        return pd.concat(parts, ignore_index=True)

    def spec(self, key):
        (kind,) = key

        def fn(p, X, hw):
            return M.deepep_normal_s(kind, X["num_token"], X["hidden_size"], X["num_topk"], X["num_experts"],
                                     X["sms"], hw, p)

        return L.Spec(("alpha_s", "sm_Bps", "eta", "copies0"), (3e-5, 3e10, 0.7, 1.0), (1e-7, 1e8, 0.01, 1e-3),
                      (1e-3, 1e12, 5.0, 20.0), fn)

    def ranges(self, df):
        return {"prefill (1k-32k tokens per rank)": (df.num_token >= 1024) & (df.num_token <= 32768),
                "decode (1-512 tokens per rank)": df.num_token <= 512}


TABLES = {t.name: t for t in (Nccl(), CustomAR(), DeepEPLL(), DeepEPNormal())}


def baselines(t, df):
    lat = {"alpha_s": 1e-5} if "alpha_s" in t.ideal else {"a1_s": 1e-5, "a2_s": 1e-5}
    return [("plain roofline (catalog NVLink bw, no latency)", L.baseline(t, df)),
            ("roofline + 10 us (AIConfigurator p2p_latency)", L.baseline(t, df, lat))]


def main(argv=None):
    a = D.parser(__doc__, list(TABLES), worst=5).parse_args(argv)
    jobs = {name: L.job(t, rows=lambda root, t=t: t.rows(root).reset_index(drop=True), baselines=baselines)
            for name, t in TABLES.items()}
    D.main(a, jobs, lambda path, sec: L.write_toml(path, HEADER, L.hardware_tables() | sec))


HEADER = """
Fitted collective cost parameters (silicon-b), for superpod.cost.kernels.collectives.
Re-derive: python benchmarks/silicon/fit_comm_perf.py /work/shared/reference/silicon/kernels --out <this file>
Source: AIConfigurator perf database (ai-dynamo/aiconfigurator, Apache-2.0), tables named per section.
Sections: [hardware.<gpu>] facts the models need; [<table>.<group>.generic] one set across all
measured GPUs (an unmeasured fabric); [<table>.<group>.nvlink4|nvlink5] one set per NVLink
generation (an unmeasured GPU on a known fabric); [<table>.<group>.<gpu>] refitted on that GPU.
Units SI: *_s seconds, *_B bytes, *_Bps bytes/s, eta dimensionless (against scaleup_uni_Bps).
confidence "C": derived by superpod from the tables.
"""

if __name__ == "__main__":
    main()
