"""Fit the MoE expert-compute model (moe_perf_model.py) to AIConfigurator's moe_perf tables.

    python benchmarks/silicon/fit_moe_perf.py /work/shared/reference/silicon/kernels --out params.toml
    python benchmarks/silicon/fit_moe_perf.py DIR --holdout b300_sxm   # fit without b300, report on it
    python benchmarks/silicon/fit_moe_perf.py DIR --loo                # leave each GPU out in turn

One parameter set per (framework, kernel_source, moe_dtype, distribution) at three levels:
`generic` (all measured GPUs), `hopper` / `blackwell` (one per tensor-core generation: an
unmeasured GPU of a known generation) and `<gpu>` (refitted on that GPU's rows). Prints per
table and per (GPU, framework, dtype): rows, MAPE, p90, the worst shapes, and the error over
the token ranges serving uses (decode 1-512 tokens, prefill 1k-16k, the table's maximum). The loop (fit,
report, leave one GPU out, TOML) is fit_driver.py's.
"""

from __future__ import annotations

import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fit_driver as D  # noqa: E402
import moe_perf_model as M  # noqa: E402
import silicon_b_fitlib as L  # noqa: E402

ARCH = {"h100_sxm": "hopper", "h200_sxm": "hopper", "b200_sxm": "blackwell", "gb200": "blackwell",
        "b300_sxm": "blackwell", "gb300": "blackwell"}


class Moe(L.Table):
    name = "moe_perf"
    group_cols = ("fw_dir", "kernel_source", "moe_dtype", "distribution")
    shape_cols = ("num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size")
    family = ARCH
    ideal = dict(alpha_s=0.0, c_fin=0.0, per_expert_s=0.0, eta_c=1.0, eta_m=1.0, m_half=0.0, c_touch=50.0)
    max_fit_rows = 20000

    def rows(self, root):
        df = L.load_table(root, self.name)
        df["y_s"] = df.latency * 1e-3
        return df[df.y_s > 0]

    def spec(self, key):
        fw, ks, dtype, dist = key
        wb = M.weight_bytes(dtype)
        pk = M.peak_key(dtype, ks)
        m = M.gated_factor(ks)

        def fn(p, X, hw):
            return M.moe_s(X["num_tokens"], X["hidden_size"], X["inter_size"], X["topk"], X["num_experts"],
                           X["moe_tp_size"], X["moe_ep_size"], hw, p, wb, hw[pk], m)

        return L.Spec(M.PARAMS,
                      (2e-5, 1.0, 1e-7, 0.5, 0.6, 16.0, 1.0),
                      (1e-7, 1e-4, 1e-10, 0.01, 0.02, 0.01, 0.01),
                      (1e-3, 20.0, 1e-4, 1.5, 1.5, 4096.0, 50.0), fn)

    def ranges(self, df):
        t = df.num_tokens
        return {"decode (1-512 tokens)": t <= 512, "prefill (1k-16k tokens)": t >= 1024}


def baselines(t, df):
    return [("plain roofline (catalog peaks, no latency)", L.baseline(t, df)),
            ("roofline, AIConfigurator's 0.8 x HBM + 3 us", L.baseline(t, df, {"alpha_s": 3e-6, "eta_m": 0.8}))]


def main(argv=None):
    ap = D.parser(__doc__, ["moe_perf"], worst=10)
    ap.add_argument("--max-fit-rows", type=int, default=Moe.max_fit_rows,
                    help="fit each parameter set on at most this many sampled rows (0: all); errors use all rows")
    ap.add_argument("--frameworks", default="", help="comma-separated subset of trtllm,sglang,vllm")
    ap.add_argument("--dump", help="write rows with per-GPU-fit predictions (parquet) for analysis")
    ap.add_argument("--gpus", default="", help="comma-separated subset of GPUs (default: all)")
    a = ap.parse_args(argv)
    t = Moe()
    t.max_fit_rows = a.max_fit_rows

    def rows(root):
        df = t.rows(root)
        if a.frameworks:
            df = df[df.fw_dir.isin(a.frameworks.split(","))]
        if a.gpus:
            df = df[df.system.isin(a.gpus.split(","))]
        return df.reset_index(drop=True)

    job = L.job(t, rows=rows, baselines=baselines, dump=a.dump)
    job.report = lambda df, pred, label, worst: L.report(t, df, pred, label, worst=worst, by=("fw_dir", "moe_dtype"))
    D.main(a, {"moe_perf": job}, lambda path, sec: L.write_toml(path, HEADER, L.hardware_tables() | sec))


HEADER = """
Fitted MoE expert-compute parameters (silicon-b), for superpod.cost.kernels.moe.
Re-derive: python benchmarks/silicon/fit_moe_perf.py /work/shared/reference/silicon/kernels --out <this file>
Source: AIConfigurator perf database (ai-dynamo/aiconfigurator, Apache-2.0), moe_perf tables named per section.
Sections: [hardware.<gpu>] facts the model needs; [moe_perf.<framework>.<kernel_source>.<moe_dtype>.<distribution>.<level>]
with level generic (all measured GPUs), hopper / blackwell (per tensor-core generation) or a GPU name.
Units SI: *_s seconds, eta_c / eta_m against the catalog dense peak of the math dtype and HBM bandwidth,
m_half tokens per expert at half M-tile fill, c_touch dimensionless. confidence "C": derived by superpod.
"""

if __name__ == "__main__":
    main()
