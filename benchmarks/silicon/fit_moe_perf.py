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
``--surface-octaves`` octaves, smoothed): surface_fit.fit on at most ``--surface-rows`` sampled rows per
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
SURFACE_KEY = ("fw_dir", "kernel_source", "moe_dtype")


def surface_shape(df) -> dict:
    return M.surface_shape(*(df[c].to_numpy(dtype=float) for c in SHAPE))


def monotone_in_tokens(s, g, form_at):
    """Project a surface so that the priced time never falls as tokens grow: along the tokens-per-expert
    axis the ln factor may drop between two knots by at most the form's own smallest ln growth there,
    over the table's shapes (GPUs, distributions; ``form_at(rows)`` prices them) that the grid point's
    cells in the other axes hold; interpolation in the other axes mixes monotone corners."""
    kn = s.knots[0]
    if len(kn) < 2:
        return s
    combos = g.drop_duplicates([c for c in SHAPE if c != "num_tokens"] + ["system", "distribution"])
    rep = combos.loc[combos.index.repeat(len(kn))].reset_index(drop=True)
    rep["num_tokens"] = np.tile(2.0 ** kn, len(combos)) * rep.num_experts.to_numpy() / rep.topk.to_numpy()
    lnf = np.log(form_at(rep)).reshape(len(combos), len(kn))
    grow = np.diff(lnf, axis=1)  # per shape: the form's ln growth per knot interval
    rest = type(s)(s.names[1:], s.knots[1:], np.zeros(s.values.shape[1:]))
    sh = surface_shape(combos)
    idx, wts = rest.corners(**{n: sh[n] for n in s.names[1:]})
    ncell = int(np.prod(s.values.shape[1:]))
    bound = np.full((ncell, len(kn) - 1), np.inf)
    for i, w in zip(idx, wts):
        i, w = np.asarray(i).ravel(), np.asarray(w).ravel()
        for c in np.unique(i[w > 0]):
            bound[c] = np.minimum(bound[c], np.nanmin(grow[(i == c) & (w > 0)], axis=0))
    bound = np.where(np.isfinite(bound), np.maximum(bound, 0.0), np.inf)  # cells without shapes: free
    v = s.values.reshape(len(kn), ncell).copy()
    for k in range(len(kn) - 1):
        v[k + 1] = np.maximum(v[k + 1], v[k] - bound[:, k])
    return type(s)(s.names, s.knots, v.reshape(s.values.shape))


def fit_surfaces(df, form, octaves=2.0, max_rows=8000, smooth=1.0, form_at=None) -> dict:
    """{(framework, kernel_source, dtype, family): Surface} through ln(measured / form) of each table's rows
    (with ``form_at``: made monotone in tokens, :func:`monotone_in_tokens`)."""
    d = df.assign(_r=np.log(df.y_s.to_numpy() / form), _fam=df.system.map(ARCH))
    d = d[np.isfinite(d._r)]
    out = {}
    for key, g in d.groupby([*SURFACE_KEY, "_fam"]):
        shape = surface_shape(g)
        kn = []
        for v in M.SURFACE_VARS:
            x = np.log2(shape[v])
            kn.append(SF.knots(shape[v], max(2, int(np.ceil((x.max() - x.min()) / octaves - 1e-9)) + 1)))
        f = g if len(g) <= max_rows else g.sample(n=max_rows, random_state=0)
        out[key] = SF.fit(M.SURFACE_VARS, kn, surface_shape(f), f._r.to_numpy(), smooth=smooth)
        if form_at is not None:
            out[key] = monotone_in_tokens(out[key], g, form_at)
    return out


def surface_factor(df, surfaces) -> np.ndarray:
    fac = np.ones(len(df))
    fam = df.system.map(ARCH)
    for key, g in df.groupby([*SURFACE_KEY, fam]):
        s = surfaces.get(tuple(key))
        if s is not None:
            fac[df.index.get_indexer(g.index)] = s.factor(**surface_shape(g))
    return fac


def surface_sections(df, surfaces) -> dict:
    out = {}
    for (fw, ks, dt, fam), s in surfaces.items():
        g = df[(df.fw_dir == fw) & (df.kernel_source == ks) & (df.moe_dtype == dt) & (df.system.map(ARCH) == fam)]
        kv = s.to_toml()
        kv["ln_factor"] = [round(v, 4) for v in kv["ln_factor"]]
        kv["knots_log2"] = [[round(x, 4) for x in k] for k in kv["knots_log2"]]
        kv["source"] = ("AIConfigurator perf database, moe_perf: " + "; ".join(sorted(g.source.unique()))
                        + f"; efficiency surface over ln(measured / form), {len(g)} rows, all distributions")
        kv["confidence"] = "C"
        out[L.tname("moe_perf", fw, ks, dt, "surface", fam)] = kv
    return out


def surface_job(t, rows, a):
    """fit_driver Job: the per-kernel form (silicon_b_fitlib) times the per-family surface."""
    base = L.job(t, rows=rows, baselines=baselines)

    def fit(df, gpus, per_gpu, log):
        params = L.fit_table(t, df, gpus, per_gpu_fits=per_gpu)
        if a.no_surface:
            return params, {}
        level = "gpu" if per_gpu else "family"
        form = L.predict(t, df, params, level)
        return params, fit_surfaces(df, form, a.surface_octaves, a.surface_rows,
                                    form_at=lambda rows: L.predict(t, rows, params, level))

    def predict(df, fitted, level):
        params, surfaces = fitted
        pred = L.predict(t, df, params, level)
        if level != "generic":
            pred = pred * surface_factor(df, surfaces)
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
    ap.add_argument("--surface-octaves", type=float, default=2.0, help="surface knot spacing (octaves)")
    ap.add_argument("--surface-rows", type=int, default=8000, help="rows sampled per surface fit")
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
