"""Prefill: one batched step of a prefill pool per chip; input tokens/s per chip and TTFT.

A step runs ``batch`` new prompt tokens per chip (prompts packed, or one prompt in chunks
when it is longer than the batch). Linear layers cost ``2 N_act`` FLOPs per new token;
the attention core attends each new token to the cached prefix plus, causally, half the
new part on average (formulas.md 8.1, 8.8): ``F = 4 h_q (T s_pre + T^2/2)`` per
sequence (MLA in its prefill/MHA form, 2.2). Prefix-cache hits skip their tokens' linear
layers but their KV is read. MoE dispatch/combine use the normal (high-throughput)
kernels, overlapped over two micro-batches when asked. Throughput counts every input
token (cache hits included, as DeepSeek reports it); ``computed_tokens_per_s_per_chip``
counts only the new ones.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.hardware import BYTES
from superpod.cost.layers import attention_flops_per_token, attention_io_bytes, indexer_core, sparse_mla_flops_per_token
from superpod.serving.context import Ctx
from superpod.serving.forward import PARTS, chips_of, forward, head_s, prefill_attention, step_result
from superpod.serving.kernel_attention import sparse_head_tile
from superpod.serving.memory import ctx_weight_bytes, kv_bytes_per_sequence_token, usable_bytes
from superpod.serving.plan import ServePlan

BREAKDOWN = PARTS + ("head_s",)


def activation_bytes(m, T, plan: ServePlan) -> np.ndarray:
    """Transient activations of one layer for one micro-batch, BF16 (formulas.md 4.3 without
    the saved-for-backward part): the layer input and norms (4h) and the MLP/experts
    (``k (h + 3 f_e) + 3 f_s``, or ``3 f / tp``) per token; two micro-batches halve it."""
    tokens = np.asarray(T, dtype=float) / np.where(plan.overlap > 0, 2.0, 1.0)
    if m.moe is not None:
        per = 4 * m.hidden + m.moe.top_k * (m.hidden + 3 * m.moe.expert_ffn) + 3 * m.moe.shared_ffn * m.moe.shared_experts
    else:
        per = 4 * m.hidden + 3 * m.ffn / np.maximum(plan.tp, 1.0)
    return tokens * per * BYTES["bf16"]


def prefill(c: Ctx, plan: ServePlan, input_len: float, cache_hit: float = 0.0) -> dict[str, np.ndarray]:
    """Price every plan's prefill step (``plan.batch`` new tokens per chip)."""
    m = c.model
    T = np.asarray(plan.batch, dtype=float)
    hit = float(np.clip(cache_hit, 0.0, 0.999))
    new = max(float(input_len) * (1.0 - hit), 1.0)
    prefix = float(input_len) * hit
    tp_c = chips_of(plan.tp, c.dev)
    seqs = T / new
    d = m.sparse_attention
    ctx = prefix + new / 2.0 if d is None else d.causal_keys(prefix, new)  # DSA: at most top-k keys a query
    f = T * attention_flops_per_token(m, ctx)
    # q, k, v, o activations in BF16 plus the cached prefix's KV read once per sequence
    io = attention_io_bytes(m, T, tp_c)
    kv_tok = kv_bytes_per_sequence_token(m, plan, c.kv_el, c.dev) / m.layers
    b = io + seqs * prefix * kv_tok
    if d is not None and prefix + new > d.index_topk:  # the sparse path: the indexer scores the causal context
        # and the sparse MLA kernel runs the group's queries over its padded heads (kernel_attention)
        heads = np.ceil(m.heads / tp_c / sparse_head_tile(c)) * sparse_head_tile(c)
        f = T * tp_c * sparse_mla_flops_per_token(m, ctx, heads)
        f_i, b_i = indexer_core(m, T * tp_c, prefix + new / 2.0, seqs * tp_c)
        f, b = f + f_i, b + b_i
    main = forward(c, plan, T, f, b, "prefill", attn_kernel=prefill_attention(c, plan, T, new, prefix))
    head = head_s(c, np.maximum(seqs, 1.0 / tp_c), tp_c)
    step = main["total_s"] + head
    chunks = np.maximum(np.ceil(new / (T * tp_c)), 1.0)  # steps one prompt spans when chunked
    w = ctx_weight_bytes(c, plan)
    kv = T / (1.0 - hit) * kv_bytes_per_sequence_token(m, plan, c.kv_el, c.dev)  # the batch's KV until sent
    usable = usable_bytes(c.hw.hbm_bytes, c.fw, w)
    act = activation_bytes(m, T, plan)
    return step_result(main, plan, step, {"head_s": head}, {
        "ttft_s": chunks * step,
        "tokens_per_s_per_chip": T / (1.0 - hit) / step,
        "computed_tokens_per_s_per_chip": T / step,
        "batch_tokens_per_chip": T,
        "weight_bytes": w,
        "kv_bytes_per_chip": kv,
        "free_bytes": usable - kv - act,
    })
