"""Decode: one step of a decode pool per chip, TPOT and output tokens/s per chip.

``t_step = sum over layers (attention + GEMMs + experts + exposed dispatch/combine) +
LM head + MTP drafting + framework step overhead`` (formulas.md 8.3). Attention is the
absorbed MLA form for MLA models (2.3: one 576-element latent per context token read
once per sequence, ``2 n_q (2 r_kv + d_rope)`` FLOPs per query and context token) and
GQA/MHA otherwise. With ``k`` draft tokens every sequence runs ``1 + k`` query tokens
through the model (verification) and the MTP module runs ``k`` times on one token per
sequence (drafting); a step advances ``sum_{i<=k} a^i`` tokens (8.5), so
``TPOT = t_step / E[tokens per step]`` and Little's law gives tokens/s per chip =
``batch / TPOT`` (8.4).
"""

from __future__ import annotations

import numpy as np

from superpod.cost.compute import gemm_s
from superpod.cost.layers import indexer_core
from superpod.serving.context import Ctx
from superpod.serving.forward import PARTS, chips_of, decode_attention, forward, head_s, kernel_gemm, step_result
from superpod.serving.memory import ctx_weight_bytes, kv_bytes_per_sequence_token, usable_bytes
from superpod.serving.plan import ServePlan, tokens_per_step


def attention_per_layer(c: Ctx, plan: ServePlan, seqs, query_per_seq, context):
    """Attention-core FLOPs and bytes of one decode layer on one chip. Under DSA the MLA core reads
    ``min(context, top_k)`` latents per sequence and the indexer, replicated over the TP group, scores
    the whole context for the group's queries (:func:`superpod.cost.layers.indexer_core`)."""
    m = c.model
    ctx = np.asarray(context, dtype=float)
    t = np.maximum(plan.tp, 1.0)
    S = np.asarray(seqs, dtype=float)
    T = S * query_per_seq
    d = m.sparse_attention
    keys = ctx if d is None else d.keys(ctx)
    if m.mla is not None:
        a = m.mla
        f_tok = 2.0 * m.heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim) * keys
        kv_tok = (a.kv_lora_rank + a.qk_rope_head_dim) * c.kv_el  # latent: every TP rank reads all of it
    else:
        f_tok = 4.0 * m.heads * m.head_dim * keys
        kv_tok = 2.0 * m.kv_heads_per_rank(t) * m.head_dim * c.kv_el
    f_i, b_i = indexer_core(m, T * t, ctx, S * t)
    return T * f_tok + f_i, S * t * keys * kv_tok + b_i


def draft_s(c: Ctx, plan: ServePlan, seqs, context) -> np.ndarray:
    """Seconds of MTP drafting in one decode step on one chip (formulas.md 8.5): ``k`` sequential
    passes of the MTP module (one layer, ``eh_proj`` and the LM head) on one token of each of the
    ``seqs`` sequences per chip; 0 without draft tokens or sequences. A model without MTP modules
    is taken to draft with one layer of its own shape."""
    m = c.model
    k = np.asarray(plan.mtp_k, dtype=float)
    B = np.asarray(seqs, dtype=float)
    if not np.any(k > 0):
        return np.zeros(np.broadcast(k, B).shape)
    tp_c = chips_of(plan.tp, c.dev)
    Bp = np.maximum(B, 1e-9)
    last_moe = m.is_moe_layer(m.layers - 1)
    fd, bd = attention_per_layer(c, plan, Bp, 1.0, context)
    draft_fwd = forward(c, plan, Bp, fd, bd, "decode", layers=(0.0, 1.0) if last_moe else (1.0, 0.0),
                        attn_kernel=decode_attention(c, plan, Bp, 1.0, context))
    kg = kernel_gemm(c)
    eh = kg(Bp * tp_c, m.hidden, 2 * m.hidden, c.quant) if kg else gemm_s(Bp * tp_c, m.hidden, 2 * m.hidden, c.hw, c.quant).total_s
    return np.where((k > 0) & (B > 0), k * (draft_fwd["total_s"] + eh + head_s(c, Bp, tp_c)), 0.0)


def decode(c: Ctx, plan: ServePlan, context) -> dict[str, np.ndarray]:
    """Price every plan's decode step at mean context ``context`` tokens.

    Returns arrays: ``step_s``, ``tpot_s``, ``tokens_per_s_per_chip``, ``tokens_per_step``,
    ``weight_bytes``, ``kv_bytes_per_chip``, ``free_bytes`` (negative: does not fit),
    ``max_batch`` (sequences per chip the KV memory holds) and the breakdown parts.
    """
    m = c.model
    B = np.asarray(plan.batch, dtype=float)
    k = np.asarray(plan.mtp_k, dtype=float)
    tp_c = chips_of(plan.tp, c.dev)
    f, b = attention_per_layer(c, plan, B, 1.0 + k, context)
    T = B * (1.0 + k)
    main = forward(c, plan, T, f, b, "decode", attn_kernel=decode_attention(c, plan, B, 1.0 + k, context))
    head = head_s(c, T, tp_c)
    drafting = bool(np.any(k > 0))  # no plan drafting: nothing to price, no zero array to add
    draft = draft_s(c, plan, B, context) if drafting else np.zeros(())
    step_over = c.fw.si("step_overhead_s")
    busy = main["total_s"] + head
    step = (busy + draft if drafting else busy) + step_over  # (+ 0 changes no positive time)
    tps = tokens_per_step(k, plan.mtp_accept)
    tpot = step / tps
    w = ctx_weight_bytes(c, plan)
    per_seq = kv_bytes_per_sequence_token(m, plan, c.kv_el, c.dev) * np.asarray(context, dtype=float)
    usable = usable_bytes(c.hw.hbm_bytes, c.fw, w)
    kv = B * per_seq
    parts = {"head_s": head, "mtp_draft_s": draft, "overhead_s": main["overhead_s"] + step_over}
    return step_result(main, plan, step, parts, {
        "tpot_s": tpot,
        "tokens_per_step": tps,
        "tokens_per_s_per_chip": B / tpot,
    } | memory_fields(w, kv, usable, per_seq))


BREAKDOWN = PARTS + ("head_s", "mtp_draft_s")


def memory_fields(weights, kv, usable, per_seq) -> dict[str, np.ndarray]:
    """The memory fields every decoding estimate reports (``max_batch``: sequences per chip
    the KV memory holds, formulas.md 4.5)."""
    return {
        "weight_bytes": weights,
        "kv_bytes_per_chip": kv,
        "free_bytes": usable - kv,
        "max_batch": np.floor(np.maximum(usable, 0) / per_seq),
    }
