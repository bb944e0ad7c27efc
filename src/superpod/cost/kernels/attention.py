"""Attention kernel time (prefill and decode; MHA/GQA and DeepSeek MLA) as a roofline with efficiencies.

What is modelled (all numpy broadcasting; shapes and parameters may be arrays of rows):

Prefill (context) attention, causal, optional sliding window ``w`` (0 = full):
    pairs = sum_i min(i + 1, w)  per sequence   (query-key pairs that are computed)
    CTAs  = b * h * ceil(isl / 128)                              (one query tile of 128 rows per CTA)
    util  = CTAs / (ceil(CTAs / SMs) * SMs)                      (wave quantisation)
    t_mma = b h (pairs + c0 Q) 2 (d_qk + d_v) / (eta_c * util * peak[attn dtype])
    t_exp = b h (pairs + c0 Q) / (eta_x * util * exp_rate)       (softmax exponentials on the SFU)
            Q = 128 ceil(isl / 128): query rows padded to whole tiles
    t_mem = (b isl h (d_qk + d_v) q_bytes + b isl h_kv (d_qk + d_v) kv_bytes) / (eta_m * HBM)
    t     = t0 + smoothmax_p(t_mma, t_exp, t_mem)
  c0: per-(padded)-query-row overhead in equivalent keys (tile fill, the masked diagonal tile, epilogue).
  w_skip (optional, default 1): the share of the key tiles outside the sliding window that the kernel
  skips; the rest are computed and masked (SGLang's Triton prefill on Blackwell: fitted 0.1-0.4, it runs
  most of the causal triangle at any window: 13x the windowed time at 16k tokens, 128-token window).
  eta_c may exceed 1 where a kernel runs its MMAs in a lower precision than the stated attention dtype
  (e.g. FP8 MMAs when only the KV cache is FP8).

Decode (generation) attention, one new token per sequence over ``L = min(ctx, w)`` cached tokens:
    t_mem = b L h_kv (d_qk + d_v') kv_bytes / (eta_m * HBM * min(1, CTAs / (sat * SMs)))
            CTAs = b * h_kv * max(1, L / l_split)                (flash-decoding splits the context)
    t_mma = b h_kv ceil(g / 16) 16 L 2 (d_qk + d_v) / (eta_c * peak[bf16])    g = h / h_kv (GQA group,
            padded to the 16-row MMA tile)
    t     = t0 + t_cta * b * h_kv / SMs + smoothmax_p(t_mma, t_mem)
            t_cta: fixed cost of one (sequence, KV head) work unit (load Q, combine splits, write O),
            b * h_kv / SMs of them run back to back on each SM
  d_v' = d_v for MHA/GQA (separate K and V); 0 for MLA, whose latent cache (d_qk = 576 = 512 + 64 rope)
  serves as K and, without its rope part, as V (d_v = 512).

MLA prefill is the prefill model with h_kv = h, d_qk = 192, d_v = 128 (K/V up-projected per head).

Efficiency surface (optional, ``params["surface"]``, :mod:`superpod.cost.kernels.surface`): the form's
time times ``exp(s(log2 shape))``, fitted per kernel table to what the form misses (the libraries' tile
and split heuristics, regime switches: e.g. TRT-LLM's Hopper XQA decode is flat up to ~128 cached tokens
and steps at 256). Shape variables: ``bh = b * h_kv`` (work units), ``isl`` (prefill) or ``ctx`` (decode:
cached tokens read, ``min(ctx, w)``), ``g = h / h_kv`` (GQA group), ``hd`` (head dim ``d_qk``), and for MLA
``b``, ``h``. The result never drops below the plain roofline at the chip's fastest tensor-core peak and
full HBM bandwidth (``floor``).

Hardware facts it needs (per chip): dense tensor-core peak for bf16 and fp8, HBM bandwidth, SM count,
and the SFU exponential rate (exp/s). Parameters per kernel (framework, kernel source, dtypes), shared by
all GPUs, plus an optional per-GPU multiplier of eta_c and eta_m (1 for an unmeasured chip). Source of the
fit: AIConfigurator perf database, attention and mla tables (catalog/calibration/silicon/attention.toml; fit: benchmarks/silicon/fit_attention.py).

>>> import numpy as np
>>> hw = {"peak_flops": {"bf16": 2.25e15, "fp8": 4.5e15}, "hbm_Bps": 7.7e12, "sm_count": 148, "exp_per_s": 5e12}
>>> p = dict(eta_c=0.6, eta_x=0.8, eta_m=0.8, t0_s=5e-6, p=3.0, c0=64.0)
>>> t = context_s(np.array([1]), np.array([8192]), 32, 8, 128, 128, 0, 2.0, 2.0, "bf16", hw, p)
>>> bool(2e-4 < t[0] < 1e-3)
True
"""

from __future__ import annotations

import numpy as np

CTX_PARAMS = ("eta_c", "eta_x", "eta_m", "t0_s", "p", "c0")  # and optionally w_skip
GEN_PARAMS = ("eta_c", "eta_m", "t0_s", "p", "sat", "l_split", "t_cta_s")


def causal_pairs(isl, w):
    """Query-key pairs of a causal sequence of ``isl`` tokens with window ``w`` (0 or >= isl: full)."""
    isl = np.asarray(isl, dtype=float)
    w = np.asarray(w, dtype=float)
    full = isl * (isl + 1.0) / 2.0
    win = w * (w + 1.0) / 2.0 + (isl - w) * w
    return np.where((w <= 0) | (w >= isl), full, win)


def _smoothmax(p, *xs):
    return sum(np.asarray(x) ** p for x in xs) ** (1.0 / p)


def context_s_raw(b, isl, h, h_kv, d_qk, d_v, w, q_bytes, kv_bytes, peak, exp_rate, hbm, sms,
                  eta_c, eta_x, eta_m, t0_s, p, c0, q_tile=128.0, w_skip=1.0):
    b, isl, h, h_kv = (np.asarray(x, dtype=float) for x in (b, isl, h, h_kv))
    tiles_q = np.ceil(isl / q_tile)
    win = causal_pairs(isl, w)
    computed = win + (1.0 - w_skip) * (causal_pairs(isl, 0.0) - win)
    pairs = (computed + c0 * tiles_q * q_tile) * b * h
    ctas = b * h * tiles_q
    util = ctas / (np.ceil(ctas / sms) * sms)
    t_mma = pairs * 2.0 * (d_qk + d_v) / (eta_c * util * peak)
    t_exp = pairs / (eta_x * util * exp_rate)
    t_mem = b * isl * (h * (d_qk + d_v) * q_bytes + h_kv * (d_qk + d_v) * kv_bytes) / (eta_m * hbm)
    return t0_s + _smoothmax(p, t_mma, t_exp, t_mem)


def generation_s_raw(b, ctx, h, h_kv, d_qk, d_v, d_v_read, w, kv_bytes, peak, hbm, sms,
                     eta_c, eta_m, t0_s, p, sat, l_split, t_cta_s, mma_rows=16.0):
    b, ctx, h, h_kv = (np.asarray(x, dtype=float) for x in (b, ctx, h, h_kv))
    w = np.asarray(w, dtype=float)
    L = np.where((w > 0) & (w < ctx), w, ctx)
    ctas = b * h_kv * np.maximum(1.0, L / l_split)
    bw = eta_m * hbm * np.minimum(1.0, ctas / (sat * sms))
    t_mem = b * L * h_kv * (d_qk + d_v_read) * kv_bytes / bw
    g = h / h_kv
    t_mma = b * h_kv * np.ceil(g / mma_rows) * mma_rows * L * 2.0 * (d_qk + d_v) / (eta_c * peak)
    return t0_s + t_cta_s * b * h_kv / sms + _smoothmax(p, t_mma, t_mem)


def surface_shape(b, h, h_kv, d_qk, **more):
    """The surface's shape variables (see the module docstring)."""
    b, h, h_kv = (np.asarray(x, dtype=float) for x in (b, h, h_kv))
    return dict(b=b, h=h, bh=b * h_kv, g=h / h_kv, hd=np.asarray(d_qk, dtype=float), **more)


def context_floor_s(b, isl, h, h_kv, d_qk, d_v, w, q_bytes, kv_bytes, peak, hbm):
    """Plain roofline of a prefill call: causal query-key pair FLOPs at ``peak``, Q/K/V/O bytes at ``hbm``."""
    b, isl, h, h_kv = (np.asarray(x, dtype=float) for x in (b, isl, h, h_kv))
    flops = causal_pairs(isl, w) * b * h * 2.0 * (d_qk + d_v)
    nbytes = b * isl * (h * (d_qk + d_v) * q_bytes + h_kv * (d_qk + d_v) * kv_bytes)
    return np.maximum(flops / peak, nbytes / hbm)


def generation_floor_s(b, L, h, h_kv, d_qk, d_v, d_v_read, kv_bytes, peak, hbm):
    """Plain roofline of a decode call: ``L`` cached tokens' K/V bytes at ``hbm``, the FLOPs at ``peak``."""
    b, L, h, h_kv = (np.asarray(x, dtype=float) for x in (b, L, h, h_kv))
    return np.maximum(b * h * L * 2.0 * (d_qk + d_v) / peak, b * L * h_kv * (d_qk + d_v_read) * kv_bytes / hbm)


def _fastest(hw) -> float:
    return max(float(v) for v in hw["peak_flops"].values())


def context_s(b, isl, h, h_kv, d_qk, d_v, w, q_bytes, kv_bytes, dtype_class, hw, params):
    """Seconds of one prefill attention call on chip ``hw`` (facts) with kernel ``params`` (and its
    ``surface``, if fitted)."""
    t = context_s_raw(b, isl, h, h_kv, d_qk, d_v, w, q_bytes, kv_bytes, hw["peak_flops"][dtype_class],
                      hw["exp_per_s"], hw["hbm_Bps"], hw["sm_count"], *(params[k] for k in CTX_PARAMS),
                      w_skip=params.get("w_skip", 1.0))
    surface = params.get("surface")
    if surface is None:
        return t
    t = t * surface.factor(**surface_shape(b, h, h_kv, d_qk, isl=np.asarray(isl, dtype=float)))
    return np.maximum(t, context_floor_s(b, isl, h, h_kv, d_qk, d_v, w, q_bytes, kv_bytes, _fastest(hw), hw["hbm_Bps"]))


def generation_s(b, ctx, h, h_kv, d_qk, d_v, d_v_read, w, kv_bytes, hw, params, mma_rows=16.0):
    """Seconds of one decode attention call (one token per sequence) on chip ``hw`` (with the kernel's
    ``surface``, if fitted)."""
    t = generation_s_raw(b, ctx, h, h_kv, d_qk, d_v, d_v_read, w, kv_bytes, hw["peak_flops"]["bf16"],
                         hw["hbm_Bps"], hw["sm_count"], *(params[k] for k in GEN_PARAMS), mma_rows=mma_rows)
    surface = params.get("surface")
    if surface is None:
        return t
    ctx, w = np.asarray(ctx, dtype=float), np.asarray(w, dtype=float)
    L = np.where((w > 0) & (w < ctx), w, ctx)
    t = t * surface.factor(**surface_shape(b, h, h_kv, d_qk, ctx=L))
    return np.maximum(t, generation_floor_s(b, L, h, h_kv, d_qk, d_v, d_v_read, kv_bytes, _fastest(hw), hw["hbm_Bps"]))
