"""MoE expert-compute cost model fitted to AIConfigurator's `moe_perf` tables.

One row of moe_perf is one MoE layer's expert compute on one GPU (routing kernels, token
permutation, the grouped up/gate and down GEMMs, un-permutation), for `num_tokens` tokens
entering the layer, top-k routing over `num_experts`, experts split by tensor parallelism
(`moe_tp`: each expert's intermediate dimension divided) and spread by expert parallelism
(`moe_ep`: each GPU holds num_experts / moe_ep experts).

Physics (per GPU):
  A        = tokens * topk / ep                  token-expert assignments landing on this GPU
  E_l      = experts / ep, I_l = inter / tp      local experts, local intermediate size
  touched  = E_l * (1 - exp(-c_touch * A / E_l)) experts that receive at least one token
  FLOPs    = 2 * A * hidden * I_l * m            m = 3 for gated (SwiGLU) experts, 2 for non-gated
  bytes    = touched * m * hidden * I_l * w_bytes + A * (hidden + I_l) * 4
             (weights of the touched experts at the weight dtype; BF16 activations in and out)
  fill     = t_e / (t_e + m_half),  t_e = A / touched   M-tile fill of each expert's GEMM
  t_fin    = c_fin * tokens * topk * hidden * 2 / hbm_Bps
             routing / un-permute / top-k reduction over every token entering the layer (all
             tokens x top-k BF16 rows, whether or not their experts are local): the floor that
             dominates at large EP, where each GPU's own expert GEMMs are small
  t        = alpha_s + t_fin + per_expert_s * touched
             + smoothmax(FLOPs / (eta_c * peak * fill), bytes / (eta_m * hbm_Bps))

`peak` is the catalog dense peak of the dtype the tensor cores run (BF16 for weight-only
and Marlin kernels, FP8 for fp8 / fp8_block / w4a8, FP4 for nvfp4), so one parameter set
transfers to a chip nobody measured given its dense peaks and HBM bandwidth. Routing skew
(`distribution` balanced / power_law_1.01 / power_law_1.2) is fitted as its own parameter
set: a skewed batch touches fewer experts (c_touch) and its hottest expert lengthens the
grouped GEMM (lower eta_c).

Efficiency surface (:mod:`superpod.cost.kernels.surface`, fitted per kernel table and GPU family to
ln(measured / form), shared by the routing distributions): a multiplicative factor over
``SURFACE_VARS`` = tokens per expert (tokens * topk / experts: the grouped-GEMM rows each expert
gets, whatever the EP), experts per GPU, intermediate size per rank and hidden size. It carries what
the 7-parameter form cannot: tile and tactic switches of each library's grouped GEMM by rows per
expert and per-rank width, its per-token routing passes by hidden size, and the collector's own
routing (DeepSeek-shaped rows of kernels that route inside, e.g. FlashInfer TRT-LLM MoE, send the
balanced logits' tokens to the first expert groups: the measured rank 0 of EP 2 gets every
assignment, see benchmarks/silicon/RESULTS_moe_perf.md). Without a surface (a family nobody
measured) the factor is 1. The result never falls below the roofline at the chip's peak and HBM
bandwidth (the FLOPs at ``peak_flops``, the touched experts' weights at ``hbm_Bps``).

Hardware facts (dict of floats or per-row arrays): bf16_flops, fp8_flops, fp4_flops
(dense, FLOP/s; a chip without FP4 gives its FP8 figure), hbm_Bps.
All inputs broadcast; the result is seconds.
"""

from __future__ import annotations

import numpy as np

# weight bytes per element (with block scales) and the tensor-core dtype each MoE dtype runs
DTYPES = {
    "bfloat16": (2.0, "bf16_flops"),
    "fp8": (1.0, "fp8_flops"),
    "fp8_block": (1.0 + 4.0 / (128 * 128), "fp8_flops"),
    "nvfp4": (0.5 + 1.0 / 16, "fp4_flops"),          # E2M1 + one FP8 scale per 16
    "w4a16_mxfp4": (0.5 + 1.0 / 32, "bf16_flops"),   # MXFP4 weights, BF16 math
    "w4a8_mxfp4_mxfp8": (0.5 + 1.0 / 32, "fp8_flops"),
    "int4_wo": (0.5 + 2.0 / 128, "bf16_flops"),      # INT4 weight-only, BF16 scale per 128
}

PARAMS = ("alpha_s", "c_fin", "per_expert_s", "eta_c", "eta_m", "m_half", "c_touch")
#: shape variables of the efficiency surface (see :func:`surface_shape`)
SURFACE_VARS = ("tokens_per_expert", "local_experts", "inter_per_rank", "hidden")


def weight_bytes(moe_dtype) -> float:
    return DTYPES[moe_dtype][0]


def peak_key(moe_dtype, kernel_source="") -> str:
    """Catalog peak the kernel's math runs at (Marlin kernels dequantise to BF16)."""
    return "bf16_flops" if "marlin" in kernel_source else DTYPES[moe_dtype][1]


def gated_factor(kernel_source="") -> float:
    return 2.0 if "nongated" in kernel_source else 3.0


def smoothmax(a, b, q=4.0):
    return (a ** q + b ** q) ** (1.0 / q)


def surface_shape(tokens, hidden, inter, topk, experts, tp, ep) -> dict:
    """The surface's shape variables of a layer: tokens per expert, experts per GPU, inter per rank, hidden."""
    t = np.asarray(tokens, dtype=float)
    return {"tokens_per_expert": t * np.asarray(topk, dtype=float) / np.asarray(experts, dtype=float),
            "local_experts": np.asarray(experts, dtype=float) / np.asarray(ep, dtype=float),
            "inter_per_rank": np.asarray(inter, dtype=float) / np.asarray(tp, dtype=float),
            "hidden": np.asarray(hidden, dtype=float)}


def roofline_s(tokens, hidden, inter, topk, experts, tp, ep, hw, w_bytes, peak_flops, m=3.0):
    """The bound no kernel beats: the layer's FLOPs at the dense peak, or the weights of the experts
    its tokens can reach (at most one per assignment) read once at the HBM bandwidth."""
    a = np.asarray(tokens, dtype=float) * np.asarray(topk, dtype=float) / np.asarray(ep, dtype=float)
    e_l = np.asarray(experts, dtype=float) / np.asarray(ep, dtype=float)
    i_l = np.asarray(inter, dtype=float) / np.asarray(tp, dtype=float)
    hidden = np.asarray(hidden, dtype=float)
    flops = 2.0 * a * hidden * i_l * m
    weights = np.minimum(a, e_l) * m * hidden * i_l * w_bytes
    return np.maximum(flops / peak_flops, weights / hw["hbm_Bps"])


def form_s(tokens, hidden, inter, topk, experts, tp, ep, hw, p, w_bytes, peak_flops, m=3.0, fin_tokens=None):
    """The parametric form alone (module docstring's ``t``), seconds."""
    tokens = np.asarray(tokens, dtype=float)
    hidden = np.asarray(hidden, dtype=float)
    a = tokens * np.asarray(topk, dtype=float) / np.asarray(ep, dtype=float)
    e_l = np.asarray(experts, dtype=float) / np.asarray(ep, dtype=float)
    i_l = np.asarray(inter, dtype=float) / np.asarray(tp, dtype=float)
    touched = np.maximum(e_l * (1.0 - np.exp(-p["c_touch"] * a / e_l)), np.minimum(1.0, e_l))
    flops = 2.0 * a * hidden * i_l * m
    nbytes = touched * m * hidden * i_l * w_bytes + a * (hidden + i_l) * 4.0
    t_e = a / touched
    fill = t_e / (t_e + p["m_half"])
    t_c = flops / (p["eta_c"] * peak_flops * fill)
    t_m = nbytes / (p["eta_m"] * hw["hbm_Bps"])
    fin = tokens if fin_tokens is None else np.asarray(fin_tokens, dtype=float)
    t_fin = p["c_fin"] * fin * np.asarray(topk, dtype=float) * hidden * 2.0 / hw["hbm_Bps"]
    return p["alpha_s"] + t_fin + p["per_expert_s"] * touched + smoothmax(t_c, t_m)


def moe_s(tokens, hidden, inter, topk, experts, tp, ep, hw, p, w_bytes, peak_flops, m=3.0, fin_tokens=None,
          surface=None):
    """Seconds for one MoE layer's expert compute on one GPU (see module docstring).

    w_bytes: weight bytes per element (weight_bytes(dtype)); peak_flops: dense peak FLOP/s
    of the math dtype (hw[peak_key(dtype, kernel)]); m: 3 gated, 2 non-gated.
    fin_tokens: tokens whose routing / un-permute rows this GPU handles (default ``tokens``, as the
    tables measure it: every token of the layer on every GPU); an all-to-all dispatch (DeepEP) hands
    each GPU only the rows routed to it, ``tokens / ep``.
    surface: the kernel table's efficiency surface (a ``superpod.cost.kernels.surface.Surface`` over
    SURFACE_VARS, or anything with its ``names``, ``knots`` and ``factor(**shape)``; None: the form alone).
    With a surface, the time is the largest of form x factor at ``tokens`` and at the token counts of the
    surface's tokens-per-expert knots below it (more tokens are never cheaper, whatever the fitted factor
    does between two knots), and never below :func:`roofline_s`.
    """
    args = (hidden, inter, topk, experts, tp, ep, hw, p, w_bytes, peak_flops, m)
    t = form_s(tokens, *args, fin_tokens)
    if surface is None:
        return t
    tokens = np.asarray(tokens, dtype=float)
    shape = (hidden, inter, topk, experts, tp, ep)
    t = t * surface.factor(**surface_shape(tokens, *shape))
    per_token = np.asarray(experts, dtype=float) / np.asarray(topk, dtype=float)  # tokens per unit of te
    fin = tokens if fin_tokens is None else np.asarray(fin_tokens, dtype=float)
    for knot in surface.knots[surface.names.index("tokens_per_expert")]:
        # a knot above ``tokens``: ``tokens`` itself; below one token: one token (no fractional batches)
        tok = np.minimum(np.maximum(2.0 ** knot * per_token, np.minimum(tokens, 1.0)), tokens)
        t_k = form_s(tok, *args, fin * tok / np.maximum(tokens, 1e-30)) * surface.factor(**surface_shape(tok, *shape))
        t = np.maximum(t, t_k)
    return np.maximum(t, roofline_s(tokens, *shape, hw, w_bytes, peak_flops, m))
