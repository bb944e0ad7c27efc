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

Then one efficiency surface per (framework, kernel_source, moe_dtype, GPU family), shared by the routing
distributions, fitted to ln(measured / form) of the family's rows (the form at the most specific level of
the fit: each GPU's own set in the full fit, the family set without the held-out GPU) over
moe.SURFACE_VARS (tokens per expert, experts per GPU, inter per rank, hidden; a knot every
``--surface-octaves`` octaves, default 3, smoothed): surface_fit.fit on at most ``--surface-rows`` sampled rows per
table. A held-out GPU is priced with its family's form and surface fitted without it; the generic level
(a family nobody measured) has no surface.
"""

from __future__ import annotations

import os
import sys

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fit_driver as D  # noqa: E402
import moe_perf_model as M  # noqa: E402
import silicon_b_fitlib as L  # noqa: E402
import surface_fit as SF  # noqa: E402

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


SHAPE = ("num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size")
SURFACE_KEY = ("fw_dir", "kernel_source", "moe_dtype", "distribution")


def surface_shape(df) -> dict:
    return M.surface_shape(*(df[c].to_numpy(dtype=float) for c in SHAPE))


def fit_surfaces(df, form, octaves=(3.0, 3.0, 3.0, 3.0), max_rows=8000, smooth=1.0) -> dict:
    """{(framework, kernel_source, dtype, distribution, family): Surface} through ln(measured / form) of each
    table's rows (a knot every ``octaves[i]`` octaves of variable i)."""
    d = df.assign(_r=np.log(df.y_s.to_numpy() / form), _fam=df.system.map(ARCH))
    d = d[np.isfinite(d._r)]
    out = {}
    for key, g in d.groupby([*SURFACE_KEY, "_fam"]):
        shape = surface_shape(g)
        kn = []
        for v, step in zip(M.SURFACE_VARS, octaves):
            x = np.log2(shape[v])
            kn.append(SF.knots(shape[v], max(2, int(np.ceil((x.max() - x.min()) / step - 1e-9)) + 1)))
        f = g if len(g) <= max_rows else g.sample(n=max_rows, random_state=0)
        out[key] = SF.fit(M.SURFACE_VARS, kn, surface_shape(f), f._r.to_numpy(), smooth=smooth)
    return out


def predict_with_surfaces(t, df, params, surfaces, level) -> np.ndarray:
    """Seconds per row as superpod prices them (moe.moe_s with the family's surface; the most specific
    parameter set at ``level``, as silicon_b_fitlib.predict)."""
    pred = np.full(len(df), np.nan)
    for key, g in df.groupby(list(t.group_cols)):
        fw, ks, dt, dist = key
        for gpu, gg in g.groupby("system"):
            order = {"gpu": [gpu, ARCH[gpu], "generic"], "family": [ARCH[gpu], "generic"], "generic": ["generic"]}[level]
            p = next((params[(key, lv)] for lv in order if (key, lv) in params), None)
            if p is None:
                continue
            hw = L.hw_columns(gg.system)
            surf = None if level == "generic" else surfaces.get((fw, ks, dt, dist, ARCH[gpu]))
            pred[df.index.get_indexer(gg.index)] = M.moe_s(
                *(gg[c].to_numpy(dtype=float) for c in SHAPE), hw, p, M.weight_bytes(dt), hw[M.peak_key(dt, ks)],
                M.gated_factor(ks), surface=surf)
    return pred


def surface_sections(df, surfaces) -> dict:
    out = {}
    fam_of = df.system.map(ARCH)
    for (fw, ks, dt, dist, fam), s in surfaces.items():
        g = df[(df.fw_dir == fw) & (df.kernel_source == ks) & (df.moe_dtype == dt) & (df.distribution == dist)
               & (fam_of == fam)]
        kv = s.to_toml()
        kv["ln_factor"] = [round(v, 3) for v in kv["ln_factor"]]
        kv["knots_log2"] = [[round(x, 3) for x in k] for k in kv["knots_log2"]]
        kv["source"] = (f"AIConfigurator perf database, moe_perf ({fw} {', '.join(sorted(g.ver_dir.unique()))}: "
                        f"{', '.join(sorted(g.system.unique()))}): ln(measured / form) over {len(g)} rows")
        kv["confidence"] = "C"
        out[L.tname("moe_perf", fw, ks, dt, dist, "surface", fam)] = kv
    return out


def reuse_form(path, df) -> dict:
    """{(key, level): params} of a written TOML (the form fit is deterministic: saves its ~10 min)."""
    import tomllib

    with open(path, "rb") as f:
        tree = tomllib.load(f)["moe_perf"]
    out = {}
    for key, _ in df.groupby(["fw_dir", "kernel_source", "moe_dtype", "distribution"]):
        node = tree.get(key[0], {}).get(key[1], {}).get(key[2], {}).get(key[3], {})
        for level, p in node.items():
            if level != "surface":
                out[(tuple(key), level)] = {n: float(p[n]) for n in M.PARAMS}
    return out


def surface_job(t, rows, a):
    """fit_driver Job: the per-kernel form (silicon_b_fitlib) times the per-family surface."""
    base = L.job(t, rows=rows, baselines=baselines)

    def fit(df, gpus, per_gpu, log):
        params = reuse_form(a.form, df) if a.form and per_gpu else L.fit_table(t, df, gpus, per_gpu_fits=per_gpu)
        if a.no_surface:
            return params, {}
        form = L.predict(t, df, params, "gpu" if per_gpu else "family")
        octaves = tuple(float(x) for x in a.surface_octaves.split(","))
        return params, fit_surfaces(df, form, octaves, a.surface_rows, a.surface_smooth)

    def predict(df, fitted, level):
        pred = predict_with_surfaces(t, df, *fitted, level)
        if a.dump and level == "gpu":
            df.assign(pred=pred).to_parquet(a.dump)
        return pred

    base.fit, base.predict = fit, predict
    base.sections = lambda df, fitted: L.params_tables(t, df, fitted[0]) | surface_sections(df, fitted[1])
    base.report = lambda df, pred, label, worst: L.report(t, df, pred, label, worst=worst, by=("fw_dir", "moe_dtype"))
    return base


def main(argv=None):
    ap = D.parser(__doc__, ["moe_perf"], worst=10)
    ap.add_argument("--max-fit-rows", type=int, default=Moe.max_fit_rows,
                    help="fit each parameter set on at most this many sampled rows (0: all); errors use all rows")
    ap.add_argument("--frameworks", default="", help="comma-separated subset of trtllm,sglang,vllm")
    ap.add_argument("--dump", help="write rows with per-GPU-fit predictions (parquet) for analysis")
    ap.add_argument("--gpus", default="", help="comma-separated subset of GPUs (default: all)")
    ap.add_argument("--no-surface", action="store_true", help="the form alone (no efficiency surfaces)")
    ap.add_argument("--surface-octaves", default="3,3,3,3", help="surface knot spacing per variable (octaves)")
    ap.add_argument("--form", help="full fit: reuse this TOML's form parameters, fit the surfaces only")
    ap.add_argument("--surface-rows", type=int, default=8000, help="rows sampled per surface fit")
    ap.add_argument("--surface-smooth", type=float, default=1.0, help="surface smoothing (surface_fit.fit)")
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

    job = surface_job(t, rows, a)
    D.main(a, {"moe_perf": job}, lambda path, sec: L.write_toml(path, HEADER, L.hardware_tables() | sec))


HEADER = """
Fitted MoE expert-compute parameters (silicon-b), for superpod.cost.kernels.moe.
Re-derive: python benchmarks/silicon/fit_moe_perf.py /work/shared/reference/silicon/kernels --out <this file>
Source: AIConfigurator perf database (ai-dynamo/aiconfigurator, Apache-2.0), moe_perf tables named per section.
Sections: [hardware.<gpu>] facts the model needs; [moe_perf.<framework>.<kernel_source>.<moe_dtype>.<distribution>.<level>]
with level generic (all measured GPUs), hopper / blackwell (per tensor-core generation) or a GPU name.
Units SI: *_s seconds, eta_c / eta_m against the catalog dense peak of the math dtype and HBM bandwidth,
m_half tokens per expert at half M-tile fill, c_touch dimensionless. confidence "C": derived by superpod.
[moe_perf.<framework>.<kernel_source>.<moe_dtype>.surface.<family>]: the efficiency surface (superpod.cost.kernels.surface)
over moe.SURFACE_VARS, shared by the distributions and the family's GPUs (ln_factor multiplies the form's time).
"""

if __name__ == "__main__":
    main()
