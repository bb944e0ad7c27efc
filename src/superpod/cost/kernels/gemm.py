"""GEMM kernel time as a roofline with shape-dependent efficiencies (fitted to measured tables).

What is modelled: one ``[m, k] x [k, n]`` GEMM (output BF16) run by a tiled tensor-core kernel.

    t = t0 + (q_act * m * k + q_wt * n * k) * 3 B / HBM      (launch; per-call activation quantisation and
                                                             weight-side passes, e.g. scale re-layout)
        + min over candidate kernels c of  smoothmax_p(t_compute(c), t_memory(c))

    t_compute(c) = waves(c) * 2 * TM * TN * (k / s + k0) / (eta_c * eta_tile(TM, TN) * peak / SMs)
                   waves(c) = ceil(ceil(m / TM) * ceil(n / TN) * s / SMs)   (wave / tile quantisation)
                   eta_tile = (1 + 2 r) / (1 + r (128 / TM + 128 / TN))    (operand reuse of the tile)
                   k0: K-pipeline fill and epilogue, in equivalent K elements
    t_memory(c)  = (m k a + k n b + m n 2 + [s > 1] 2 s m n 4) / (eta_m * HBM * min(1, CTAs / (sat * SMs)))
                   (split-K partials in FP32; CTAs = tiles x s: a kernel with few CTAs cannot saturate HBM)
    smoothmax_p(x, y) = (x^p + y^p)^(1/p)

Candidate kernels: tiles TM x TN in {64, 128, 256}^2 and split-K s in {1, 2, 4, 8, 16}, each launching the
``ceil(m / TM)`` row tiles the rows need or more (padded, masked rows: more CTAs reach more of HBM's
bandwidth; candidates: the band ends of the waves around the best count sqrt(t_memory / t_compute of one
wave), capped at the CTA count that saturates HBM), so the time never falls as
``m`` grows; the minimum over them stands for the library's kernel heuristic (cuBLAS / CUTLASS / DeepGEMM / CuTe DSL pick a tile and a
split per shape). a, b: bytes per element of the operands (with block scales: FP8-block adds one FP32
per 128 activations and per 128x128 weights; NVFP4 one FP8 scale per 16 elements).

Hardware facts it needs (per chip): dense tensor-core peak per dtype class (``bf16``, ``fp8``, ``fp4``;
FLOP/s, datasheet dense), HBM bandwidth (B/s), SM (or AI-core) count. Fitted parameters per kernel
(framework, dtype, kernel source, GPU architecture family: sm90 or sm100 kernels are different binaries),
shared by every GPU of that family: ``eta_c, r, k0, eta_m, t0_s, p, q_act, sat, q_wt``; optional
per-GPU ``gpu_eta_c`` and ``gpu_t0`` multipliers (a measured chip's own attainable fraction of peak and its
host/launch latency; 1 for a chip nobody measured). Source of the fit: AIConfigurator perf database, gemm_perf tables (catalog/calibration/silicon/gemm.toml; fit: benchmarks/silicon/fit_gemm.py).

Efficiency surface (optional, per kernel table): what the form misses by shape (the libraries' tile and
kernel choices, regime switches) as a factor ``f = exp(s(log2 m, log2 n, log2 k))``
(:mod:`superpod.cost.kernels.surface`, fitted to ``ln(measured / form)``, shared by the GPUs of the family).
The time must never fall as ``m`` grows, and a factor that falls with ``m`` where the form is flat would
make it fall; so the factor is held constant between row-count anchors ``a_i`` (every row count to 64,
then 16 per octave) and the time is the running maximum over the anchors below::

    t(m) = max( t_form(m) f(a_i),  R_i ),   a_i <= m < a_(i+1)
    R_i  = max( R_(i-1), t_form(a_i) f(a_(i-1)), t_form(a_i) f(a_i) )

(non-decreasing in ``m`` by construction), and never below the plain roofline at the chip's peak and HBM
bandwidth.

Everything is numpy broadcasting: shapes are arrays, and so may every parameter be (one per row).

>>> import numpy as np
>>> hw = {"peak_flops": {"bf16": 2.25e15, "fp8": 4.5e15, "fp4": 9e15}, "hbm_Bps": 7.7e12, "sm_count": 148}
>>> p = dict(eta_c=0.8, r=0.3, k0=256.0, eta_m=0.8, t0_s=5e-6, p=3.0, q_act=0.0, sat=0.5)
>>> t = gemm_s(np.array([8192]), np.array([8192]), np.array([8192]), "bfloat16", hw, p)
>>> bool(0.5e-3 < t[0] < 1.0e-3)
True
"""

from __future__ import annotations

import numpy as np

#: dtype of the table -> (peak class, bytes per A element, bytes per B element)
DTYPES = {
    "bfloat16": ("bf16", 2.0, 2.0),
    "fp8": ("fp8", 1.0, 1.0),
    "fp8_block": ("fp8", 1.0 + 4.0 / 128, 1.0 + 4.0 / (128 * 128)),
    "nvfp4": ("fp4", 0.5 + 1.0 / 16, 0.5 + 1.0 / 16),
}

TILES = np.array([(tm, tn) for tm in (64, 128, 256) for tn in (64, 128, 256)], dtype=float)
SPLITS = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
C_BYTES = 2.0  # BF16 output
PARAM_NAMES = ("eta_c", "r", "k0", "eta_m", "t0_s", "p", "q_act", "sat", "q_wt")


def gemm_s_raw(m, n, k, peak_flops, hbm_Bps, sm_count, a_bytes, b_bytes,
               eta_c, r, k0, eta_m, t0_s, p, q_act, sat, q_wt=0.0, batch=1.0):
    """Seconds per (batched) GEMM; every argument broadcasts (arrays of rows or scalars).

    ``batch`` independent GEMMs of the same shape in one launch (e.g. MLA's per-head BMMs): tiles and bytes
    scale with it, the launch latency does not."""
    m, n, k = (np.asarray(x, dtype=float)[None, ...] for x in (m, n, k))
    peak, hbm, sms = (np.asarray(x, dtype=float)[None, ...] for x in (peak_flops, hbm_Bps, sm_count))
    a_b, b_b = np.asarray(a_bytes, dtype=float)[None, ...], np.asarray(b_bytes, dtype=float)[None, ...]
    eta_c, r, k0, eta_m, p, sat = (np.asarray(x, dtype=float)[None, ...] for x in (eta_c, r, k0, eta_m, p, sat))
    nb = np.asarray(batch, dtype=float)[None, ...]
    best = None  # min over candidates of t_c^p + t_m^p (the p-th root is monotone: taken once, at the end)
    tm = TILES[:, 0].reshape((-1,) + (1,) * (m.ndim - 1))
    tn = TILES[:, 1].reshape((-1,) + (1,) * (m.ndim - 1))
    eta_tile = (1.0 + 2.0 * r) / (1.0 + r * (128.0 / tm + 128.0 / tn))
    rows0_t = np.ceil(m / tm)
    for s in SPLITS:
        cols = np.ceil(n / tn) * s * nb  # CTAs per row tile
        rows0 = rows0_t
        partial = 2.0 * s * m * n * 4.0 if s > 1 else 0.0
        nbytes = nb * (m * k * a_b + k * n * b_b + m * n * C_BYTES + partial)
        # row tiles launched: the m rows need rows0; a kernel may launch more (masked, padded rows) to
        # put more CTAs on HBM. Candidates: rows0 and the last row count of each wave from rows0's up to
        # the count that saturates HBM (more only adds waves; within a wave more rows cost no compute
        # and add bandwidth) -- so a larger m is never cheaper than a smaller one (the smaller problem
        # can always run the larger one's launch)
        r_sat = np.maximum(np.ceil(sat * sms / cols), rows0)
        w0 = np.ceil(rows0 * cols / sms)
        # compute grows with the waves W and the memory time falls as 1 / W until saturation, so the best
        # wave count is near W* = sqrt(t_m(1 wave) / t_c(1 wave)): try the band ends around it
        t_c1 = 2.0 * tm * tn * (k / s + k0) / (eta_c * eta_tile * peak / sms)
        t_m0 = nbytes / (eta_m * hbm)  # memory time at full bandwidth
        w_star = np.clip(np.sqrt(t_m0 * sat / t_c1), w0, np.maximum(np.ceil(sat), w0))
        cands = [rows0, r_sat] + [np.maximum(np.minimum(np.floor(w * sms / cols), r_sat), rows0)
                                  for w in (w0, np.floor(w_star) - 1.0, np.floor(w_star), np.ceil(w_star),
                                            np.ceil(w_star) + 1.0)]
        seen: list[np.ndarray] = []
        for rows in cands:
            if any(rows.shape == x.shape and np.array_equal(rows, x) for x in seen):
                continue  # the same launch as a candidate already priced (about a third of them)
            seen.append(rows)
            tiles = rows * cols
            t_c = np.ceil(tiles / sms) * t_c1
            t_m = t_m0 / np.minimum(1.0, tiles / (sat * sms))  # few CTAs cannot saturate HBM
            t = (t_c ** p + t_m ** p).min(axis=0)
            best = t if best is None else np.minimum(best, t)
    best = best ** (1.0 / p[0])
    m0, k0_ = m[0], k[0]
    extra = (np.asarray(q_act, dtype=float) * m0 * k0_ + np.asarray(q_wt, dtype=float) * n[0] * k0_) * 3.0 * nb[0]
    return best + np.asarray(t0_s, dtype=float) + extra / hbm[0]


#: row-count anchors of a surface's factor: every count to 64, then 16 per octave to 2^16
ANCHORS = np.unique(np.concatenate([np.arange(1.0, 65.0), 2.0 ** np.arange(6.0, 16.0 + 1e-9, 1.0 / 16.0)]))


def layer_shapes(n, k, batch) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(n, k, batch)`` layer shapes of broadcast arrays and, per element, which one it is
    (one shape, the common case, needs no sort)."""
    rest = np.stack([np.ravel(n), np.ravel(k), np.ravel(batch)], axis=1)
    if len(rest) and np.all(rest == rest[:1]):
        return rest[:1], np.zeros(len(rest), dtype=np.intp)
    shapes, which = np.unique(rest, axis=0, return_inverse=True)
    return shapes, which.ravel()


def gemm_s(m, n, k, dtype: str, hw: dict, params: dict, gpu_eta_c: float = 1.0, gpu_t0: float = 1.0,
           batch=1.0, surface=None, memo: dict | None = None):
    """Seconds for GEMMs of one dtype on one chip: ``hw`` holds the hardware facts, ``params`` the fit
    (one kernel table of catalog/calibration/silicon/gemm.toml); ``gpu_*``: that chip's multipliers, 1 if it
    was not measured; ``surface``: the table's efficiency surface (None: the form alone); ``memo``: a dict
    that keeps each layer shape's anchor table between calls (the same chip, dtype and surface only)."""
    cls, a_b, b_b = DTYPES[dtype]

    def form(mm, nn, kk, bb):
        return gemm_s_raw(mm, nn, kk, hw["peak_flops"][cls], hw["hbm_Bps"], hw["sm_count"], a_b, b_b,
                          params["eta_c"] * gpu_eta_c, params["r"], params["k0"], params["eta_m"],
                          params["t0_s"] * gpu_t0, params["p"], params["q_act"], params["sat"],
                          params.get("q_wt", 0.0), batch=bb)

    if surface is None:
        return form(m, n, k, batch)
    m, n, k, batch = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (m, n, k, batch)))
    shapes, which = layer_shapes(n, k, batch)
    mm = m.ravel()
    out = np.empty(mm.shape)
    for j, (nn, kk, bb) in enumerate(shapes):
        sel = slice(None) if len(shapes) == 1 else which == j
        anchors = None if memo is None else memo.get((nn, kk, bb))
        if anchors is None:
            anchors = surface_anchors(nn, kk, bb, form, surface)
            if memo is not None:
                memo[(nn, kk, bb)] = anchors
        out[sel] = surface_rows(mm[sel], nn, kk, bb, form, anchors)
    t = out.reshape(m.shape)
    roof = np.maximum(2.0 * m * n * k * batch / hw["peak_flops"][cls],
                      batch * (m * k * a_b + k * n * b_b + m * n * C_BYTES) / hw["hbm_Bps"])
    return np.maximum(t, roof)


def surface_anchors(n: float, k: float, batch: float, form, surface) -> tuple[np.ndarray, np.ndarray]:
    """One layer shape's factor at the row-count anchors and the running maximum ``R`` (module docstring);
    ``form(m, n, k, batch)``: the form's seconds."""
    f_a = surface.factor(m=ANCHORS, n=n, k=k)
    t_a = form(ANCHORS, n, k, batch)
    left = t_a * np.concatenate([f_a[:1], f_a[:-1]])
    return f_a, np.maximum.accumulate(np.maximum(t_a * f_a, left))


def surface_rows(m, n: float, k: float, batch: float, form, anchors) -> np.ndarray:
    """The surface-corrected time of one layer shape ``(n, k, batch)`` at row counts ``m`` (>= 1), monotone
    in ``m``, from its :func:`surface_anchors`."""
    f_a, run = anchors
    i = np.clip(np.searchsorted(ANCHORS, m, side="right") - 1, 0, len(ANCHORS) - 1)
    return np.maximum(form(m, n, k, batch) * f_a[i], run[i])
