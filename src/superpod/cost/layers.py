"""Operators of one transformer layer: shapes, FLOPs and bytes (formulas.md sec. 1-3, 7).

:func:`gemms` lists a layer's GEMMs as ``(name, K, N, shard)`` where ``shard`` says how
tensor parallelism splits it (``col`` splits N, ``row`` splits K, ``none`` replicates).
:func:`layer_forward_s` prices one layer's forward pass on one chip for ``tokens`` (array)
tokens under TP ``tp`` and EP ``ep``; :func:`model_flops_per_token` is the model-FLOP
count MFU uses. Everything broadcasts over plan arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superpod.spec.model import Model
from superpod.cost.compute import attention_s, gemm_s, stream_s
from superpod.cost.hardware import BYTES, Hardware


@dataclass(frozen=True)
class Gemm:
    name: str
    k: int
    n: int
    shard: str  # col | row | none


def gemms(model: Model, moe_layer: bool) -> list[Gemm]:
    """The dense GEMMs of one layer (routed experts are priced separately as grouped GEMMs)."""
    h, nq = model.hidden, model.heads
    out: list[Gemm] = []
    if model.mla is not None:
        a = model.mla
        qk = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            out += [Gemm("q_a", h, a.q_lora_rank, "none"), Gemm("q_b", a.q_lora_rank, nq * qk, "col")]
        else:
            out += [Gemm("q", h, nq * qk, "col")]
        out += [
            Gemm("kv_a", h, a.kv_lora_rank + a.qk_rope_head_dim, "none"),
            Gemm("kv_b", a.kv_lora_rank, nq * (a.qk_nope_head_dim + a.v_head_dim), "col"),
            Gemm("attn_out", nq * a.v_head_dim, h, "row"),
        ]
    else:
        hq, hkv = nq * model.head_dim, model.kv_heads * model.head_dim
        out += [Gemm("qkv", h, hq + 2 * hkv, "col"), Gemm("attn_out", hq, h, "row")]
    mats = 2 if model.activation == "swiglu" else 1
    if moe_layer:
        m = model.moe
        out.append(Gemm("router", h, m.experts, "none"))
        if m.shared_experts:
            fs = m.shared_ffn * m.shared_experts
            out += [Gemm("shared_up", h, mats * fs, "col"), Gemm("shared_down", fs, h, "row")]
    else:
        out += [Gemm("mlp_up", h, mats * model.ffn, "col"), Gemm("mlp_down", model.ffn, h, "row")]
    return out


def attention_flops_per_token(model: Model, context) -> np.ndarray:
    """Forward attention-core FLOPs per query token attending to ``context`` tokens.

    MHA/GQA: 4 h_q s_ctx (scores + context); MLA in prefill (MHA) form:
    2 n_q (d_nope + d_rope) s_ctx + 2 n_q d_v s_ctx (formulas.md sec. 1.2, 2.2).
    """
    if model.mla is not None:
        a = model.mla
        per = 2 * model.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim)
    else:
        per = 4 * model.heads * model.head_dim
    return per * np.asarray(context, dtype=float)


def model_flops_per_token(model: Model, seq_len) -> np.ndarray:
    """Training model FLOPs per token: 6 N_active + 3 x causal attention (no recompute).

    ``6 * active_params`` covers every weight a token multiplies with (formulas.md 1.1);
    the attention core runs at the causal average context s/2 (sec. 1.2). DeepSeek-V3 at
    s = 4096: about 250 GFLOP (sec. 2.5).
    """
    s = np.asarray(seq_len, dtype=float)
    return 6.0 * model.active_params + 3.0 * model.layers * attention_flops_per_token(model, s / 2)


def exact_forward_flops_per_token(model: Model, seq_len) -> np.ndarray:
    """Forward FLOPs per token from the operator list (GEMMs, routed experts, LM head, attention)."""
    total = 0.0
    for moe_layer, count in ((False, model.dense_layers), (True, model.moe_layers)):
        if count:
            total += count * sum(2.0 * g.k * g.n for g in gemms(model, moe_layer))
    if model.moe is not None:
        mats = 3 if model.activation == "swiglu" else 2
        total += model.moe_layers * model.moe.top_k * 2.0 * mats * model.hidden * model.moe.expert_ffn
    total += 2.0 * model.hidden * model.vocab
    return total + model.layers * attention_flops_per_token(model, np.asarray(seq_len, dtype=float) / 2)


def _gemm_parts(model, moe_layer, tokens, tp, hw, precision, shared_tokens):
    t = np.asarray(tp, dtype=float)
    total = 0.0
    for g in gemms(model, moe_layer):
        k = g.k / t if g.shard == "row" else g.k
        n = g.n / t if g.shard == "col" else g.n
        m = shared_tokens if g.name.startswith("shared") else tokens
        total = total + gemm_s(m, n, k, hw, precision).total_s
    return total


def layer_forward_s(model: Model, moe_layer: bool, tokens, context, tp, ep, hw: Hardware,
                    precision: str = "bf16", phase: str = "prefill", imbalance=1.0,
                    attention_impl: str = "flash", sp=0) -> dict[str, np.ndarray]:
    """Forward time of one layer on one chip (compute only; communication is priced apart).

    ``tokens``: tokens this chip processes in the call (micro-batch x sequence / CP);
    ``context``: mean keys each query attends to (causal prefill: s/2).
    Returns ``gemm_s``, ``experts_s``, ``attention_s``, ``elementwise_s`` (arrays).
    MoE: tokens are split over the TP group before dispatch (expert TP = 1); each chip
    receives ``tokens/tp x top_k`` rows over its ``E/ep`` experts, times ``imbalance``
    (the most loaded chip sets the pace, formulas.md sec. 3.3).
    ``attention_impl``: ``flash`` (fused kernel, causal blocks skipped) or
    ``materialized`` (Megatron-LM before FlashAttention: full s x s score GEMMs, then
    scale-mask-softmax and dropout passes over the scores in memory, see
    :func:`materialized_attention_s`). ``sp``: Megatron sequence parallelism splits the
    norm/residual/dropout passes over the TP group.
    """
    T = np.asarray(tokens, dtype=float)
    t = np.asarray(tp, dtype=float)
    moe_tokens = T / t
    out = {"gemm_s": _gemm_parts(model, moe_layer, T, tp, hw, precision, moe_tokens)}
    if moe_layer:
        m = model.moe
        ep_ = np.asarray(ep, dtype=float)
        local = m.experts / ep_
        rows = moe_tokens * m.top_k * imbalance  # rows this chip receives
        m_e = rows / local
        mats = 2 if model.activation == "swiglu" else 1
        layout = "masked" if phase == "decode" else "contiguous"
        up = gemm_s(m_e, mats * m.expert_ffn, model.hidden, hw, precision, local, layout).total_s
        down = gemm_s(m_e, model.hidden, m.expert_ffn, hw, precision, local, layout).total_s
        out["experts_s"] = up + down
    else:
        out["experts_s"] = np.zeros_like(T)
    q_a = 2.0  # activations in BF16 around the attention kernel
    heads_local = model.heads / t
    flops = T * attention_flops_per_token(model, context) / t
    if model.mla is not None:
        a = model.mla
        qk = a.qk_nope_head_dim + a.qk_rope_head_dim
        io = T * heads_local * (2 * qk + a.v_head_dim + a.v_head_dim) * q_a
    else:
        kv_local = np.maximum(model.kv_heads / t, 1.0)
        io = T * (2 * heads_local + 2 * kv_local) * model.head_dim * q_a
    if attention_impl == "materialized":
        out["attention_s"] = materialized_attention_s(model, T, 2 * np.asarray(context, dtype=float), t, hw)
    else:
        out["attention_s"] = attention_s(flops, io, hw, "prefill" if phase != "decode" else "decode").total_s
    f_local = (model.moe.expert_ffn * model.moe.top_k if moe_layer else model.ffn) / t
    # norms, residual adds, dropout: ~12 passes of h per token, split over TP only with SP;
    # the activation function over the local FFN width
    seq_split = np.where(np.asarray(sp) > 0, t, 1.0)
    out["elementwise_s"] = stream_s(T * (12 * model.hidden / seq_split + 3 * f_local) * q_a, hw)
    return out


#: bytes per score element over the softmax passes of unfused attention: write Q.K^T (2),
#: read it and write the softmax (2 + 2), write the dropout mask (1) and output (2), read
#: the probabilities for P.V (2)
SCORE_PASS_BYTES = 11.0


def materialized_attention_s(model: Model, tokens, seq_len, tp, hw: Hardware) -> np.ndarray:
    """Unfused attention (Megatron-LM 2021-22): per sequence and local head, the batched
    GEMMs Q.K^T (s x s x d_h) and P.V (s x d_h x s) over the full score matrix (no causal
    skipping), plus memory-bound softmax/dropout passes of ``SCORE_PASS_BYTES`` per score."""
    T = np.asarray(tokens, dtype=float)
    s = np.asarray(seq_len, dtype=float)
    groups = T / s * model.heads / np.asarray(tp, dtype=float)  # (sequence, local head) pairs
    d = model.head_dim
    qk = gemm_s(s, s, d, hw, "bf16", groups).total_s
    pv = gemm_s(s, d, s, hw, "bf16", groups).total_s
    return qk + pv + stream_s(groups * s * s * SCORE_PASS_BYTES, hw)


#: backward/forward time of the attention core: FlashAttention recomputes the scores
#: inside its backward kernel (2.5x, formulas.md 1.5); unfused attention keeps them (2x)
BWD_ATTN = {"flash": 2.5, "materialized": 2.0}
#: backward = data-gradient + weight-gradient GEMM, each the size of the forward GEMM
BWD_GEMM = 2.0


def layer_train_s(model: Model, moe_layer: bool, tokens, context, tp, ep, hw: Hardware, precision: str = "bf16",
                  attention_impl: str = "flash", sp=0) -> dict[str, np.ndarray]:
    """Forward and backward compute of one layer for one micro-batch, plus its TP traffic.

    Returns the forward parts of :func:`layer_forward_s` and ``fwd_s``, ``bwd_s``
    (compute), ``tp_fwd_s`` (2 all-reduces, or 2 all-gathers + 2 reduce-scatters with SP,
    exposed) and ``tp_bwd_s``: the backward moves the same bytes but overlaps them with
    the weight-gradient GEMMs (Megatron's asynchronous TP all-reduce), so only the part
    longer than the forward GEMM time is exposed.
    """
    from superpod.cost.comm import collective_s  # local: comm does not depend on layers

    f = layer_forward_s(model, moe_layer, tokens, context, tp, ep, hw, precision, "prefill",
                        attention_impl=attention_impl, sp=sp)
    gemm = f["gemm_s"] + f["experts_s"]
    f["fwd_s"] = gemm + f["attention_s"] + f["elementwise_s"]
    f["bwd_s"] = BWD_GEMM * (gemm + f["elementwise_s"]) + BWD_ATTN[attention_impl] * f["attention_s"]
    act = np.asarray(tokens, dtype=float) * model.hidden * 2.0
    ar = collective_s("all_reduce", act, tp, hw, 1)["total_s"]
    ag = collective_s("all_gather", act, tp, hw, 1)["total_s"]
    rs = collective_s("reduce_scatter", act, tp, hw, 1)["total_s"]
    tp_comm = np.where(np.asarray(tp) > 1, np.where(np.asarray(sp) > 0, 2 * (ag + rs), 2 * ar), 0.0)
    f["tp_fwd_s"] = tp_comm
    f["tp_bwd_s"] = np.maximum(tp_comm - f["gemm_s"], 0.0)
    return f


def head_forward_s(model: Model, tokens, tp, hw: Hardware, precision: str = "bf16") -> np.ndarray:
    """LM head (vocab-parallel over TP) and cross-entropy pass for ``tokens`` tokens."""
    T = np.asarray(tokens, dtype=float)
    v = model.vocab / np.asarray(tp, dtype=float)
    return gemm_s(T, v, model.hidden, hw, precision).total_s + stream_s(T * v * 4.0, hw)


def weight_bytes(model: Model, precision: str) -> float:
    """Bytes of all weights in ``precision`` (for the decode weight floor and memory)."""
    return model.params * BYTES[precision]
