"""Attention-core time of a serving step from the measured attention / MLA kernel fits.

:func:`decode_attention` and :func:`prefill_attention` return ``share -> seconds`` of one layer's
attention core per chip (``share``: 1 for the whole batch, 1/2 per micro-batch), or None when the
evaluation has no kernel fits (``Ctx.kernels``) or the framework no table for the KV format: the caller
then keeps the roofline of the core's FLOPs and bytes (:func:`superpod.cost.compute.attention_s`).
Sliding-window layers are averaged in with their window. Kernel models: :mod:`superpod.cost.kernels.attention`
(parameters ``catalog/calibration/silicon/attention.toml``), chosen per framework in
``calibration/frameworks/serving.toml [frameworks.kernels]``.
"""

from __future__ import annotations

import numpy as np

from superpod.serving.context import Ctx
from superpod.serving.plan import ServePlan


def _window_mix(c: Ctx, fn):
    """Mean over layers of ``fn(window)``: full attention (0) and, on sliding-window layers, the window."""
    m = c.model
    if not m.sliding_window:
        return fn(0.0)
    share = len(m.sliding_window_layers) / m.layers
    return (1.0 - share) * fn(0.0) + share * fn(float(m.sliding_window))


def decode_attention(c: Ctx, plan: ServePlan, seqs, query_per_seq, context):
    """``share -> seconds`` of one decode layer's attention core per chip from the measured
    decode-attention (or MLA) fit, or None (no fit: the roofline prices it). ``seqs`` sequences per
    chip, each ``query_per_seq`` query rows (MTP verification), ``context`` cached tokens: a TP
    group of ``t`` runs its ``seqs * t`` sequences over ``h / t`` query heads per rank."""
    k = c.kernels
    if k is None:
        return None
    m = c.model
    t = np.maximum(np.asarray(plan.tp, dtype=float), 1.0)
    q = np.asarray(query_per_seq, dtype=float)
    mla = None if m.mla is None else (m.mla.kv_lora_rank + m.mla.qk_rope_head_dim, m.mla.kv_lora_rank)
    heads = m.heads / t * q
    kv_heads = np.asarray(m.kv_heads_per_rank(t), dtype=float) if m.mla is None else 1.0
    probe = k.generation_s(1.0, 1.0, 1.0, 1.0, 64.0, c.kv_dtype, 0.0, mla)
    if probe is None:
        return None
    b = np.asarray(seqs, dtype=float) * t

    def at(share):
        return _window_mix(c, lambda w: k.generation_s(b * share, context, heads, kv_heads, m.head_dim, c.kv_dtype,
                                                       w, mla))
    return at


def prefill_attention(c: Ctx, plan: ServePlan, tokens, new, prefix):
    """``share -> seconds`` of one prefill layer's attention core per chip from the measured
    context-attention (or MLA) fit, or None. ``tokens`` new tokens per chip in prompts of ``new``
    new tokens after ``prefix`` cached ones: the TP group runs ``tokens * t / new`` prompts over
    ``h / t`` heads per rank. A step holding part of a prompt (chunked) pays that share of the whole
    prompt's causal kernel; a cached prefix scales it by the query-key pairs it adds."""
    k = c.kernels
    if k is None:
        return None
    m = c.model
    t = np.maximum(np.asarray(plan.tp, dtype=float), 1.0)
    mla = None if m.mla is None else True
    heads = m.heads / t
    kv_heads = np.asarray(m.kv_heads_per_rank(t), dtype=float) if m.mla is None else heads
    if k.context_s(1.0, 128.0, 1.0, 1.0, 64.0, c.quant, c.kv_dtype, 0.0, mla) is None:
        return None
    new = max(float(new), 1.0)
    prompts = np.asarray(tokens, dtype=float) * t / new
    whole = np.maximum(prompts, 1.0)
    pairs = (new * float(prefix) + new * new / 2.0) / (new * (new + 1.0) / 2.0)

    def at(share):
        def one(w):
            return k.context_s(whole * share, new, heads, kv_heads, m.head_dim, c.quant, c.kv_dtype, w, mla)
        return _window_mix(c, one) * np.minimum(prompts / whole, 1.0) * np.maximum(pairs, 1.0)
    return at
