"""Training layers priced with the measured-kernel fits where the chip has them (cost/kernel_costs.py).

A training framework names the kernels its stack runs (``kernels`` in
``calibration/frameworks/training.toml``: a ``[frameworks.kernels]``-style table, as serving's).
Megatron-Core (Transformer Engine), TorchTitan and Meta's Llama 3 stack run their BF16 linear layers
on cuBLAS through PyTorch, which the tables measure as TensorRT-LLM's ``torch_flow`` GEMMs. On a chip
of a fitted family (``kernel_family``: sm90 Hopper, sm100 Blackwell) the dense GEMMs of a layer and
its routed experts (one GEMM per local expert, the multi-stream cuBLAS grouped GEMM) are priced with
that fit; where the framework names a measured MLA context-attention kernel (``context_mla``), the
forward of MLA's attention core is priced with it (never below the roofline; the backward keeps its
ratio to the forward), in every recipe (the attention core stays BF16); elementwise passes and every
other chip keep the roofline of :mod:`superpod.cost.layers`.

Only BF16 GEMMs use the tables: the FP8 fits include the per-call activation quantisation
(``q_act``, :mod:`superpod.cost.kernels.gemm`), which training prices as its own passes
(:mod:`superpod.training.quantise`), and no table measures MXFP8/NVFP4 training GEMMs. Under a power
limit the fitted times (measured at the chip's TDP) are divided by the compute fraction
(:mod:`superpod.training.power`): training GEMMs are compute-bound.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.hardware import Hardware
from superpod.cost.kernel_costs import Kernels, resolve
from superpod.errors import SuperpodError
from superpod.cost.layers import BWD_GEMM, backward_attention_factor, gemm_times, gemms, layer_train_s
from superpod.spec.model import Model


def expert_rate(rates: dict | None, hw: Hardware, recipe: str) -> float | None:
    """The framework's measured grouped-GEMM rate of the routed experts for ``recipe`` on ``hw``'s chip."""
    q = (rates or {}).get(recipe, {}).get(hw.chip) if rates else None
    return None if q is None else q.si


def handle(hw: Hardware, choice: dict | None) -> Kernels | None:
    """The fitted kernels of ``hw``'s chip under a training framework's ``choice``, or None."""
    if not choice or hw.ranks_per_chip != 1:
        return None
    try:
        k = resolve(hw.chip, choice)
    except SuperpodError:  # a chip from a user's file, known here by name only: the roofline
        return None
    return k if k is not None and k.has_gemm("bf16") else None


def layer_train_measured_s(model: Model, moe_layer: bool, tokens, context, tp, ep, hw: Hardware, precision: str,
                           attention_impl: str, sp, etp, kern: Kernels | None, compute_fraction: float = 1.0,
                           expert_flops: float | None = None) -> dict[str, np.ndarray]:
    """:func:`superpod.cost.layers.layer_train_s` with the BF16 GEMMs on the measured fits (``kern``).

    ``expert_flops``: the rate (FLOP/s) the stack's low-precision grouped GEMM of the routed experts
    reaches at best (a published measurement, :func:`expert_rate`); the experts never run faster, nor the
    layer's other low-precision linears (the grouped GEMM is the same single GEMM per expert)."""
    f = layer_train_s(model, moe_layer, tokens, context, tp, ep, hw, precision, attention_impl, sp, etp=etp)
    if expert_flops is not None and moe_layer and precision != "bf16":
        m = model.moe
        mats = 2 if model.activation == "swiglu" else 1
        rows = floats(tokens) / floats(tp) * m.top_k * floats(etp)  # token-expert rows this chip's experts run
        flop = 2.0 * rows * (mats + 1) * model.hidden * m.expert_ffn / floats(etp)
        slower = np.maximum(flop / (expert_flops * compute_fraction) - f["experts_s"], 0.0)
        # the same cuBLAS GEMM runs the layer's other linears ("as long as the single GEMM is ready, we can have
        # a Grouped GEMM implementation": the grouped rate is the single GEMM's): never faster either
        t = floats(tp)
        dense_flop = sum(2.0 * floats(tokens) / (t if g.name.startswith("shared") else 1.0) * g.k * g.n
                         / (t if g.shard != "none" else 1.0) for g in gemms(model, moe_layer) if g.name != "router")
        slower = slower + np.maximum(dense_flop / (expert_flops * compute_fraction) - f["gemm_s"], 0.0)
        f = dict(f)
        f["experts_s"] = f["experts_s"] + np.maximum(flop / (expert_flops * compute_fraction) - f["experts_s"], 0.0)
        f["gemm_s"] = f["gemm_s"] + np.maximum(dense_flop / (expert_flops * compute_fraction) - f["gemm_s"], 0.0)
        f["fwd_s"] = f["fwd_s"] + slower
        f["bwd_s"] = f["bwd_s"] + BWD_GEMM * slower
    if kern is not None and model.mla is not None:  # the measured MLA context kernel (BF16), forward
        fwd_attn = kern.context_s(floats(tokens) / (2.0 * floats(context)), 2.0 * floats(context), model.heads / floats(tp),
                                  model.heads / floats(tp), model.head_dim, "bf16", "bf16", mla=model.mla)
        if fwd_attn is not None:
            f = dict(f)
            extra = np.maximum(fwd_attn, f["attention_s"]) - f["attention_s"]  # never below the roofline
            f["attention_s"] = f["attention_s"] + extra
            f["fwd_s"] = f["fwd_s"] + extra
            f["bwd_s"] = f["bwd_s"] + backward_attention_factor(attention_impl) * extra
    if kern is None or precision != "bf16":
        return f
    T, t = floats(tokens), floats(tp)
    moe_tokens = T / t

    def price(m, n, k, p, batch=1.0):
        return kern.gemm_s(m, n, k, p, batch=batch) / compute_fraction

    gemm = 0.0
    for _, g_s in gemm_times(model, moe_layer, T, tp, hw, "bf16", shared_tokens=moe_tokens, pricer=price):
        gemm = gemm + g_s
    experts = np.zeros_like(T)
    if moe_layer:
        m = model.moe
        mats = 2 if model.activation == "swiglu" else 1
        local = m.experts / floats(ep)
        e = floats(etp)
        rows = moe_tokens * m.top_k * e / local  # rows per local expert
        fe = m.expert_ffn / e
        experts = price(rows, mats * fe, model.hidden + 0 * rows, "bf16", local) + price(rows, model.hidden + 0 * rows, fe, "bf16", local)
    f["gemm_s"], f["experts_s"] = gemm + 0 * T, experts
    both = f["gemm_s"] + f["experts_s"]
    f["fwd_s"] = both + f["attention_s"] + f["elementwise_s"]
    f["bwd_s"] = BWD_GEMM * (both + f["elementwise_s"]) + backward_attention_factor(attention_impl) * f["attention_s"]
    f["tp_bwd_s"] = np.maximum(f["tp_fwd_s"] - f["gemm_s"], 0.0)
    return f
