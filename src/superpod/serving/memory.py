"""Serving memory per chip: weights under TP/EP (+EPLB redundant experts, MTP module),
KV cache per sequence, and the decode batch the rest of HBM holds (formulas.md 4.1,
4.5, 4.6).

>>> from superpod.spec.catalog import load_model
>>> from superpod.serving.plan import ServePlan
>>> m = load_model("deepseek-r1")
>>> # one 910C package (two ranks, each with its own copy of the non-expert weights), EP320, INT8
>>> round(float(weight_bytes(m, ServePlan.one(ep=320), "int8", 2.0)[0]) / 1e9, 1)
43.1
"""

from __future__ import annotations

import numpy as np

from superpod.cost.hardware import BYTES
from superpod.cost.memory_serve import kv_bytes_per_token_per_layer
from superpod.spec.model import Model
from superpod.serving.experts import redundant_experts
from superpod.serving.forward import chips_of, replicas
from superpod.serving.plan import ServePlan


def ctx_weight_bytes(c, plan: ServePlan) -> np.ndarray:
    """:func:`weight_bytes` of context ``c`` (its GEMM format and expert storage format)."""
    return weight_bytes(c.model, plan, c.quant, c.dev, c.expert_weight_bytes)

BF16 = BYTES["bf16"]  # embedding, LM head and router stay in BF16


def weight_bytes(model: Model, plan: ServePlan, quant: str, dev: float, expert_bytes: float | None = None) -> np.ndarray:
    """Weight bytes on one chip.

    Attention, dense FFN and shared experts split over TP (replicated across DP-attention
    ranks); routed experts: ``ceil((E + R)/ep)`` slots per rank, each ``1/moe_tp`` of an
    expert under expert tensor parallelism, stored at ``expert_bytes`` per weight when
    given (weight-only formats), else in ``quant``; embedding and LM head in
    BF16, vocab-parallel over TP; with MTP, the MTP module (its experts spread like the
    main model's). Quantised layers store ``BYTES[quant]`` per weight.
    """
    u = model.layer_params()
    q = BYTES[quant]
    tp_c = chips_of(plan.tp, dev)
    mt = np.maximum(plan.moe_tp, 1.0)
    ranks_per_chip = np.minimum(np.maximum(plan.ep, 1.0) * mt, dev)
    qe = q if expert_bytes is None else expert_bytes
    dense = model.layers * (u["attention"] + u["norms"]) + model.dense_layers * u["dense_mlp"]
    dense = dense + model.moe_layers * u["shared"]
    rep = replicas(plan.tp, dev)
    out = dense * q * rep / tp_c + model.moe_layers * u["router"] * BF16
    out = out + (u["embedding"] + u["lm_head"]) * BF16 * rep / tp_c
    if model.moe is not None:
        slots = np.ceil((model.moe.experts + redundant_experts(model, plan)) / np.maximum(plan.ep, 1.0)) * ranks_per_chip / mt
        expert_share = slots / model.moe.experts
        out = out + model.moe_layers * slots * u["expert"] * qe
    else:
        expert_share = 1.0
    if model.mtp_layers:
        mtp = model.mtp_params
        mtp_experts = model.mtp_layers * model.experts * u["expert"] if model.is_moe_layer(model.layers - 1) else 0
        mtp_bytes = ((mtp - mtp_experts) * rep / tp_c + mtp_experts * expert_share * (qe / q)) * q
        out = out + np.where(plan.mtp_k > 0, mtp_bytes, 0.0)
    return np.broadcast_to(out, plan.shape)


def kv_bytes_per_sequence_token(model: Model, plan: ServePlan, kv_el: float, dev: float) -> np.ndarray:
    """KV bytes one context token of one sequence (of this chip's batch) takes on the chip.

    The TP group serves ``tp`` ranks' worth of sequences together: an MLA latent is not
    split by TP (every rank keeps all of them, formulas.md 2.4), GQA heads are.
    """
    t = np.maximum(plan.tp, 1.0)
    return model.layers * kv_bytes_per_token_per_layer(model, kv_el, t) * t


def kv_bytes_per_sequence(model: Model, plan: ServePlan, kv_el: float, dev: float, context,
                          swa: str = "full", swa_ratio: float = 1.0) -> np.ndarray:
    """KV bytes on the chip of one sequence (of this chip's batch) holding ``context`` tokens,
    with the framework's pool for sliding-window layers (``swa``):

    * ``full``: every layer holds the whole context (no SWA pool);
    * ``window``: a sliding-window layer holds at most its window (vLLM V1's hybrid KV cache
      manager frees the blocks that leave the window; TensorRT-LLM's variable-window KV cache sizes a
      pool per window);
    * ``ratio``: the sliding-window layers draw on a second pool sized at ``swa_ratio`` times the
      full-attention pool's tokens (SGLang's SWA memory pool, ``--swa-full-tokens-ratio``): the full
      pool binds, so a context token costs the full layers plus ``swa_ratio`` of the window layers.

    >>> from superpod.spec.catalog import load_model
    >>> m, one = load_model("gpt-oss-120b"), ServePlan.one()
    >>> full = float(kv_bytes_per_sequence(m, one, 2, 1.0, 8192)[0])
    >>> round(float(kv_bytes_per_sequence(m, one, 2, 1.0, 8192, "window")[0]) / full, 3)  # 18 of 36 layers hold 128 tokens
    0.508
    >>> round(float(kv_bytes_per_sequence(m, one, 2, 1.0, 8192, "ratio", 0.8)[0]) / full, 3)
    0.9
    """
    per = kv_bytes_per_sequence_token(model, plan, kv_el, dev) / model.layers  # one layer, one token
    ctx = np.asarray(context, dtype=float)
    n_swa = len(model.sliding_window_layers) if model.sliding_window else 0
    full = model.layers - n_swa
    if not n_swa or swa == "full":
        return per * model.layers * ctx
    if swa == "window":
        return per * (full * ctx + n_swa * np.minimum(ctx, float(model.sliding_window)))
    if swa == "ratio":
        return per * (full + float(swa_ratio) * n_swa) * ctx
    raise ValueError(f"swa must be full, window or ratio, not {swa!r}")


def usable_bytes(hbm_bytes: float, fw, weights) -> np.ndarray:
    """HBM left for the KV cache: ``(HBM - runtime reserve - weights) * kv fraction``
    (formulas.md 4.6: the engine keeps a fraction back)."""
    free = hbm_bytes - fw.si("runtime_reserve_bytes") - np.asarray(weights)
    return free * fw.si("kv_mem_fraction")
