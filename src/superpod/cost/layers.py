"""Operators of one transformer layer: shapes, FLOPs and bytes (formulas.md sec. 1-3, 7).

:func:`gemms` lists a layer's GEMMs as ``(name, K, N, shard)`` where ``shard`` says how
tensor parallelism splits it (``col`` splits N, ``row`` splits K, ``none`` replicates).
:func:`layer_forward_s` prices one layer's forward pass on one chip for ``tokens`` (array)
tokens under TP ``tp`` and EP ``ep``; :func:`model_flops_per_token` is the model-FLOP
count MFU uses. Everything broadcasts over plan arrays.

The pieces are the one layer pricer of both workloads: training (:func:`layer_train_s`)
and serving (:mod:`superpod.serving.forward`) call the same :func:`gemm_times`,
:func:`experts_s`, :func:`elementwise_s`, :func:`attention_io_bytes` and
:func:`head_forward_s`, each with its own token counts and formats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.compute import attention_s, gemm_s, stream_s
from superpod.cost.hardware import BYTES, Hardware
from superpod.spec.calibration import training_algorithms
from superpod.spec.model import Model


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
        d = model.sparse_attention
        if d is not None:  # the DSA indexer's projections, replicated over TP (SparseAttention)
            out += [Gemm("index_q", a.q_lora_rank, d.index_heads * d.index_head_dim, "none"),
                    Gemm("index_k", h, d.index_head_dim, "none"),
                    Gemm("index_weights", h, d.index_heads, "none")]
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
    2 n_q (d_nope + d_rope) s_ctx + 2 n_q d_v s_ctx (formulas.md sec. 1.2, 2.2). Under DSA the
    core reads at most ``index_topk`` keys: ``min(context, top_k)`` (a mean context gives an upper
    bound of the mean over queries; :meth:`SparseAttention.causal_keys` is the exact prompt mean).
    The indexer's own scoring is :func:`indexer_core`.
    """
    if model.mla is not None:
        a = model.mla
        per = 2 * model.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim)
    else:
        per = 4 * model.heads * model.head_dim
    ctx = np.asarray(context, dtype=float)
    if model.sparse_attention is not None:
        ctx = model.sparse_attention.keys(ctx)
    return per * ctx


def sparse_mla_flops_per_token(model: Model, keys, heads) -> np.ndarray:
    """Core FLOPs per query token of DSA's sparse MLA kernel in its absorbed (MQA) form, as FlashMLA's
    sparse kernel runs it: ``heads`` query heads (the kernel's padded count) over ``keys`` selected
    latents, ``2 heads (r_kv + d_rope + r_kv) keys`` (QK over the 576-wide latent, PV over its 512)."""
    a = model.mla
    return 2.0 * floats(heads) * (2 * a.kv_lora_rank + a.qk_rope_head_dim) * floats(keys)


def indexer_core(model: Model, queries, keys, sequences) -> tuple[np.ndarray, np.ndarray]:
    """FLOPs and bytes of the DSA indexer's scoring and top-k on one chip (0 without DSA):
    ``queries`` query tokens each scoring ``keys`` cached keys (mean) of ``sequences`` sequences.
    Scoring: ``2 heads dim`` FLOPs per query and key (FP8), the index keys read once per sequence
    (:attr:`SparseAttention.key_cache_bytes` each); top-k: the fp32 logits (one per query and key)
    written by the scorer and read by the selection (SparseAttention lists the kernels)."""
    d = model.sparse_attention
    if d is None:
        z = np.zeros(np.broadcast_shapes(np.shape(queries), np.shape(keys), np.shape(sequences)))
        return z, z
    Q, K, S = floats(queries), floats(keys), floats(sequences)
    flops = 2.0 * d.index_heads * d.index_head_dim * Q * K
    return flops, S * K * d.key_cache_bytes + 2.0 * Q * K * BYTES["fp32"]


def model_flops_per_token(model: Model, seq_len) -> np.ndarray:
    """Training model FLOPs per token: 6 N_active + 3 x causal attention (no recompute).

    ``6 * active_params`` covers every weight a token multiplies with (formulas.md 1.1);
    the attention core runs at the causal average context s/2 (sec. 1.2). DeepSeek-V3 at
    s = 4096: about 250 GFLOP (sec. 2.5).
    """
    s = np.asarray(seq_len, dtype=float)
    return 6.0 * model.active_params + 3.0 * model.layers * attention_flops_per_token(model, s / 2)


#: dense GEMMs a quantised checkpoint keeps in its unquantised format (``router_precision``)
UNQUANTISED = ("router", "index_weights")


def gemm_times(model: Model, moe_layer: bool, tokens, tp, hw: Hardware, precision: str = "bf16", *,
               shared_tokens=None, router_precision: str | None = None, weight_copies=None,
               pricer=None) -> list[tuple[Gemm, np.ndarray]]:
    """Time of each dense GEMM of one layer on one chip, split over a TP group of ``tp``.

    ``tokens`` rows run through every GEMM (``shared_tokens`` through the shared experts
    when given); ``router_precision`` overrides the format of the :data:`UNQUANTISED` GEMMs;
    ``weight_copies`` weight replicas per chip are each read once (default one copy);
    ``pricer(m, n, k, precision)``: seconds of one GEMM from another model (serving's
    measured-kernel fits, :mod:`superpod.cost.kernel_costs`) instead of the roofline.
    """
    t = floats(tp)
    out = []
    for g in gemms(model, moe_layer):
        k = g.k / t if g.shard == "row" else g.k + 0 * t
        n = g.n / t if g.shard == "col" else g.n + 0 * t
        m = shared_tokens if shared_tokens is not None and g.name.startswith("shared") else tokens
        # the router and the DSA head-weight projection stay unquantised (SGLang runs weights_proj in fp32)
        prec = router_precision if router_precision is not None and g.name in UNQUANTISED else precision
        if pricer is not None:
            out.append((g, pricer(m, n, k, prec)))
            continue
        wb = None if weight_copies is None else BYTES[prec] * weight_copies
        out.append((g, gemm_s(m, n, k, hw, prec, 1, "dense", wb).total_s))
    return out


def experts_s(model: Model, rows, groups, hw: Hardware, precision: str, phase: str, *, ffn_split=1.0,
              weight_bytes=None, touched=None) -> np.ndarray:
    """Routed-expert time on one chip: ``groups`` local experts of ``rows`` rows each, the
    up (gate + up under SwiGLU) and down projections as grouped GEMMs; decode runs the
    masked layout (CUDA graphs), prefill and training the contiguous one.

    ``ffn_split``: expert tensor parallelism divides each expert's intermediate width
    (up: N / moe_tp, down: K / moe_tp; TensorRT-LLM's and SGLang's ``moe_tp``);
    ``weight_bytes``: bytes per stored weight when it differs from ``precision``
    (weight-only formats: FP4/INT4 weights dequantised into BF16/FP8 GEMMs);
    ``touched``: expected local experts the batch routes to (at most ``groups``): the
    grouped GEMM runs tiles and reads weights of those experts only (an expert no token
    routes to has no tile), their rows the same total (``rows x groups / touched`` each).
    """
    m = model.moe
    mats = 2 if model.activation == "swiglu" else 1
    layout = "masked" if phase == "decode" else "contiguous"
    f = m.expert_ffn / floats(ffn_split)
    qw = BYTES[precision] if weight_bytes is None else weight_bytes
    if touched is not None:
        g = floats(groups)
        live = np.clip(floats(touched), np.minimum(g, 1e-9), g)
        rows, groups = floats(rows) * g / live, live
    up = gemm_s(rows, mats * f, model.hidden, hw, precision, groups, layout, qw).total_s
    down = gemm_s(rows, model.hidden, f, hw, precision, groups, layout, qw).total_s
    return up + down


def experts_touched(local_experts, experts: float, top_k: float, tokens) -> np.ndarray:
    """Expected distinct experts among ``local_experts`` of ``experts`` that ``tokens``
    tokens route to, each picking ``top_k`` distinct experts uniformly (balanced routing):
    ``E_r (1 - (1 - k/E)^T)``. At 8 tokens, top-8 of 256 on EP8 (32 local): about 7.
    Skewed routing touches fewer; balanced is the upper bound."""
    miss = (1.0 - top_k / experts) ** np.maximum(floats(tokens), 0.0)
    return floats(local_experts) * (1.0 - miss)


#: elementwise passes per token and layer: norms, residual adds, dropout/RoPE over the
#: hidden width (12 passes of h) and the activation function over the local FFN width
#: (3 passes of f), read and written in BF16 (confidence U: a count, not a measurement)
ELEMENTWISE_HIDDEN_PASSES, ELEMENTWISE_FFN_PASSES = 12.0, 3.0
#: of the hidden-width passes, those of the two residual adds (3 each) and two RMSNorms (2 each) that a
#: fused all-reduce + residual + RMSNorm kernel performs in registers under TP
FUSED_NORM_PASSES = 10.0


def elementwise_s(model: Model, tokens, ffn_local, hw: Hardware, seq_split=1.0, hidden_passes=None) -> np.ndarray:
    """Memory-bound elementwise passes of one layer for ``tokens`` tokens on one chip;
    ``seq_split`` divides the hidden-width passes (Megatron SP splits them over TP);
    ``hidden_passes`` replaces their count (default :data:`ELEMENTWISE_HIDDEN_PASSES`)."""
    T = floats(tokens)
    hp = ELEMENTWISE_HIDDEN_PASSES if hidden_passes is None else hidden_passes
    per_token = hp * model.hidden / seq_split + ELEMENTWISE_FFN_PASSES * floats(ffn_local)
    return stream_s(T * per_token * BYTES["bf16"], hw)


def attention_io_bytes(model: Model, tokens, tp) -> np.ndarray:
    """Activation bytes the attention kernel reads and writes for ``tokens`` query tokens
    on one TP rank: Q, K, V and the output in BF16 (MLA in its prefill/MHA form)."""
    T, t = floats(tokens), floats(tp)
    heads_local = model.heads / t
    if model.mla is not None:
        a = model.mla
        return T * heads_local * (2 * (a.qk_nope_head_dim + a.qk_rope_head_dim) + 2 * a.v_head_dim) * BYTES["bf16"]
    return T * (2 * heads_local + 2 * model.kv_heads_per_rank(t)) * model.head_dim * BYTES["bf16"]


def layer_forward_s(model: Model, moe_layer: bool, tokens, context, tp, ep, hw: Hardware,
                    precision: str = "bf16", phase: str = "prefill", imbalance=1.0,
                    attention_impl: str = "flash", sp=0, etp=1) -> dict[str, np.ndarray]:
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
    norm/residual/dropout passes over the TP group. ``etp``: expert tensor parallelism
    (Megatron MoE parallel folding): an expert's ETP group gathers its ``etp`` ranks' rows
    and each rank runs ``1/etp`` of the expert's width (default 1: whole experts).
    """
    T = floats(tokens)
    t = floats(tp)
    moe_tokens = T / t
    gemm_total = 0.0
    for _, g_s in gemm_times(model, moe_layer, T, tp, hw, precision, shared_tokens=moe_tokens):
        gemm_total = gemm_total + g_s
    out = {"gemm_s": gemm_total}
    if moe_layer:
        m = model.moe
        ep_ = floats(ep)
        local = m.experts / ep_
        rows = moe_tokens * m.top_k * imbalance * floats(etp)  # rows this chip receives
        out["experts_s"] = experts_s(model, rows / local, local, hw, precision, phase, ffn_split=etp)
    else:
        out["experts_s"] = np.zeros_like(T)
    flops = T * attention_flops_per_token(model, context) / t
    io = attention_io_bytes(model, T, t)
    if attention_impl == "materialized":
        out["attention_s"] = materialized_attention_s(model, T, 2 * floats(context), t, hw)
    else:
        out["attention_s"] = attention_s(flops, io, hw, "prefill" if phase != "decode" else "decode").total_s
    f_local = (model.moe.expert_ffn * model.moe.top_k if moe_layer else model.ffn) / t
    # the hidden-width passes split over TP only with SP
    out["elementwise_s"] = elementwise_s(model, T, f_local, hw, np.where(np.asarray(sp) > 0, t, 1.0))
    return out


def materialized_attention_s(model: Model, tokens, seq_len, tp, hw: Hardware) -> np.ndarray:
    """Unfused attention (Megatron-LM 2021-22): per sequence and local head, the batched
    GEMMs Q.K^T (s x s x d_h) and P.V (s x d_h x s) over the full score matrix (no causal
    skipping), plus memory-bound softmax/dropout passes over the scores (``score_pass_bytes``
    per score element, ``calibration/algorithms/training.toml``)."""
    T = np.asarray(tokens, dtype=float)
    s = np.asarray(seq_len, dtype=float)
    groups = T / s * model.heads / np.asarray(tp, dtype=float)  # (sequence, local head) pairs
    d = model.head_dim
    qk = gemm_s(s, s, d, hw, "bf16", groups).total_s
    pv = gemm_s(s, d, s, hw, "bf16", groups).total_s
    score_bytes = training_algorithms().attention["materialized"].score_pass_bytes.si
    return qk + pv + stream_s(groups * s * s * score_bytes, hw)


def backward_attention_factor(attention_impl: str) -> float:
    """Backward/forward time of the attention core: FlashAttention recomputes the scores
    inside its backward kernel (2.5x, formulas.md 1.5); unfused attention keeps them (2x).
    Data in ``calibration/algorithms/training.toml``."""
    return training_algorithms().attention[attention_impl].backward_factor.si


#: backward = data-gradient + weight-gradient GEMM, each the size of the forward GEMM
BWD_GEMM = 2.0


def layer_train_s(model: Model, moe_layer: bool, tokens, context, tp, ep, hw: Hardware, precision: str = "bf16",
                  attention_impl: str = "flash", sp=0, etp=1) -> dict[str, np.ndarray]:
    """Forward and backward compute of one layer for one micro-batch, plus its TP traffic.

    Returns the forward parts of :func:`layer_forward_s` and ``fwd_s``, ``bwd_s``
    (compute), ``tp_fwd_s`` (2 all-reduces, or 2 all-gathers + 2 reduce-scatters with SP,
    exposed) and ``tp_bwd_s``: the backward moves the same bytes but overlaps them with
    the weight-gradient GEMMs (Megatron's asynchronous TP all-reduce), so only the part
    longer than the forward GEMM time is exposed.
    """
    from superpod.cost.comm import collective_s  # local: comm does not depend on layers

    f = layer_forward_s(model, moe_layer, tokens, context, tp, ep, hw, precision, "prefill",
                        attention_impl=attention_impl, sp=sp, etp=etp)
    gemm = f["gemm_s"] + f["experts_s"]
    f["fwd_s"] = gemm + f["attention_s"] + f["elementwise_s"]
    f["bwd_s"] = BWD_GEMM * (gemm + f["elementwise_s"]) + backward_attention_factor(attention_impl) * f["attention_s"]
    act = floats(tokens) * model.hidden * BYTES["bf16"]
    ar = collective_s("all_reduce", act, tp, hw, 1)["total_s"]
    ag = collective_s("all_gather", act, tp, hw, 1)["total_s"]
    rs = collective_s("reduce_scatter", act, tp, hw, 1)["total_s"]
    tp_comm = np.where(np.asarray(tp) > 1, np.where(np.asarray(sp) > 0, 2 * (ag + rs), 2 * ar), 0.0)
    f["tp_fwd_s"] = tp_comm
    f["tp_bwd_s"] = np.maximum(tp_comm - f["gemm_s"], 0.0)
    return f


def head_forward_s(model: Model, tokens, tp, hw: Hardware, precision: str = "bf16") -> np.ndarray:
    """LM head (vocab-parallel over TP) and its FP32 logits/cross-entropy pass for ``tokens``
    tokens through the head on one chip (the TP group's tokens when the head is vocab-parallel)."""
    T = floats(tokens)
    v = model.vocab / floats(tp)
    return gemm_s(T, v, model.hidden, hw, precision).total_s + stream_s(T * v * BYTES["fp32"], hw)
