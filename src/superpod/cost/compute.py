"""Operator time on one chip: roofline with calibrated efficiency (formulas.md sec. 7).

``t = combine(F / (eta_c * peak), Q / (eta_m * HBM bw)) + launch``. For GEMMs eta_c
carries tile and wave quantisation (NVIDIA's Matrix Multiplication Background guide) with
the block width the library would pick, operand reuse and pipeline fill over K, and the
two bounds combine as a smooth maximum
``(t_c^p + t_m^p)^(1/p)`` fitted to DeepGEMM; attention uses FlashMLA-style regime
efficiencies with a plain maximum. Every argument broadcasts: one shape or a million.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from superpod.cost.hardware import BYTES, Hardware

LAYOUTS = {"dense": None, "contiguous": "contiguous_factor", "masked": "masked_factor"}


class OpTime(NamedTuple):
    """Time of one operator and its two roofline bounds (seconds, arrays)."""

    total_s: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray


def gemm_s(m, n, k, hw: Hardware, precision: str = "bf16", groups=1, layout: str = "dense",
           weight_bytes: float | None = None, out_bytes: float = BYTES["bf16"]) -> OpTime:
    """Time of ``groups`` GEMMs (m x k) . (k x n) on one chip.

    FLOPs 2mnk per group; bytes m*k (activations) + k*n (weights) + m*n (output), in the
    operands' formats (DeepGEMM's count). The kernel picks the block width that keeps the
    cores busiest: for each candidate width, tile quantisation x wave quantisation x
    operand reuse ``1 / (1 + reuse_n/tile_n + reuse_m/tile_m)``; pipeline fill over K adds
    ``K / (K + k_half)``. ``layout`` picks the grouped-GEMM efficiency (``contiguous``:
    prefill/training MoE; ``masked``: decode MoE under CUDA graphs).
    """
    g = hw.kernels.gemm
    m = np.asarray(m, dtype=float)
    n = np.asarray(n, dtype=float)
    q = BYTES[precision]
    qw = q if weight_bytes is None else weight_bytes
    flops = 2.0 * m * n * k * groups
    tile_m = np.where(m >= g.large_m.si, g.tile_m_large.si, g.tile_m_small.si)
    tiles_m = np.ceil(np.maximum(m, 1) / tile_m)
    util_m = np.maximum(m, 1e-30) / (tiles_m * tile_m)
    # a handful of block widths, on a leading axis of their own (the same element-wise operations as one
    # width at a time), the best of them (and 0)
    tile_n = np.asarray(g.tile_n_choices, dtype=float).reshape((-1,) + (1,) * max(m.ndim, n.ndim, np.ndim(groups)))
    tiles_n = np.ceil(np.maximum(n, 1) / tile_n)
    tiles = tiles_m * tiles_n * groups
    waves = tiles / (np.ceil(tiles / g.cores.si) * g.cores.si)
    reuse = 1.0 / (1.0 + g.reuse_n.si / tile_n + g.reuse_m.si / tile_m)
    best = np.maximum(0.0, (util_m * n / (tiles_n * tile_n) * waves * reuse).max(axis=0))
    k_eff = k / (k + g.k_half.si)
    factor = getattr(g, LAYOUTS[layout]).si if LAYOUTS[layout] else 1.0
    eta_c = g.eta_peak.si * factor * best * k_eff
    t_c = flops / (eta_c * hw.peak(precision))
    nbytes = groups * (m * k * q + k * n * qw + m * n * out_bytes)
    t_m = nbytes / (g.eta_mem.si * hw.hbm_Bps)
    p = g.smooth.si
    total = (t_c**p + t_m**p) ** (1.0 / p) + g.launch_s.si
    small = m < g.large_m.si
    if np.any(small):  # below the threshold the kernel can still run the large block padded to
        # ``large_m`` rows, so more rows never run faster than fewer; priced for those elements only
        # (every operation is element-wise: the same values as over the whole array)
        shape = np.broadcast_shapes(np.shape(total), np.shape(t_c), np.shape(t_m), np.shape(small))
        sel = np.broadcast_to(small, shape)
        m_s, n_s, k_s, g_s, o_s = (np.broadcast_to(np.asarray(x, dtype=float), shape)[sel]
                                   for x in (m, n, k, groups, out_bytes))
        w_s = None if weight_bytes is None else np.broadcast_to(np.asarray(weight_bytes, dtype=float), shape)[sel]
        padded = gemm_s(np.maximum(m_s, g.large_m.si), n_s, k_s, hw, precision, g_s, layout, w_s, o_s)
        total, t_c, t_m = (np.array(np.broadcast_to(x, shape), dtype=float) for x in (total, t_c, t_m))
        pick = padded.total_s < total[sel]
        for whole, part in ((total, padded.total_s), (t_c, padded.compute_s), (t_m, padded.memory_s)):
            whole[sel] = np.where(pick, part, whole[sel])
    return OpTime(np.where(m > 0, total, 0.0), t_c, t_m)


def attention_s(flops, nbytes, hw: Hardware, phase: str, precision: str = "bf16") -> OpTime:
    """Attention-core time from its FLOPs and KV/activation bytes.

    ``phase`` ``decode`` uses the decode-kernel efficiencies (FlashMLA; CloudMatrix fused
    MLA); ``prefill`` (also training) the prefill efficiency. Plain roofline maximum.
    """
    a = hw.kernels.attention
    eta_c = a.decode_eta_c.si if phase == "decode" else a.prefill_eta_c.si
    t_c = np.asarray(flops, dtype=float) / (eta_c * hw.peak(precision))
    t_m = np.asarray(nbytes, dtype=float) / (a.decode_eta_m.si * hw.hbm_Bps)
    return OpTime(np.maximum(t_c, t_m), t_c, t_m)


def stream_s(nbytes, hw: Hardware) -> np.ndarray:
    """Time of a memory-bound elementwise pass (norms, activations, residuals) over ``nbytes``."""
    return np.asarray(nbytes, dtype=float) / (hw.kernels.gemm.eta_mem.si * hw.hbm_Bps)
