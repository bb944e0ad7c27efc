"""Attention-core time of a serving step from the measured attention / MLA kernel fits.

:func:`decode_attention` and :func:`prefill_attention` return ``share -> seconds`` of one layer's
attention core per chip (``share``: 1 for the whole batch, 1/2 per micro-batch), or None when the
evaluation has no kernel fits (``Ctx.kernels``) or the framework no table for the KV format: the caller
then keeps the roofline of the core's FLOPs and bytes (:func:`superpod.cost.compute.attention_s`).
Sliding-window layers are averaged in with their window. Kernel models: :mod:`superpod.cost.kernels.attention`
(parameters ``catalog/calibration/silicon/attention.toml``), chosen per framework in
``calibration/frameworks/serving.toml [frameworks.kernels]``.

DeepSeek sparse attention (:class:`~superpod.spec.attention.SparseAttention`): the decode MLA core is
the measured MLA kernel over ``min(context, top_k)`` keys (the fit measures the dense FlashMLA kernel, not
the sparse one; confidence C). A prefill whose context exceeds top-k runs FlashMLA's sparse prefill kernel
(SGLang ``NativeSparseAttnBackend._forward_flashmla_sparse``, its default NSA prefill backend): the
absorbed form over the selected latents with the query heads padded to the kernel's tile, 64 on Hopper
and 128 on Blackwell (:func:`sparse_head_tile`; GLM-5 under TP 8 runs 8 real heads in a 64/128-head
tile), priced at the prefill attention efficiency, itself FlashMLA's sparse-prefill figure
(640 TFLOPS on H800, ``calibration/kernels/hopper.toml``) (:func:`sparse_prefill_s`); a shorter prefill
runs the dense kernel (the context fit). The indexer adds, per layer (:func:`indexer_s`): the FP8 scoring as a batched FP8 GEMM
through the same GEMM fit (decode: per sequence ``[q heads, dim] x [dim, context]``; prefill: the
group's queries by the mean causal context), the top-k as one kernel reading the fp32 logits at the
HBM roofline plus one launch, and :data:`INDEXER_VECTOR_KERNELS` small vector kernels, each one
launch (the GEMM calibration's ``launch_s``, 1 us; confidence U: no measurement of these kernels)
plus its bytes. Its projections are dense GEMMs of the layer (:func:`superpod.cost.layers.gemms`).
"""

from __future__ import annotations

import numpy as np

from superpod.cost.compute import attention_s, stream_s
from superpod.cost.hardware import BYTES
from superpod.cost.layers import sparse_mla_flops_per_token
from superpod.errors import SuperpodError
from superpod.serving.context import Ctx
from superpod.serving.plan import ServePlan
from superpod.spec.catalog import load_chip

#: query heads one tile of FlashMLA's sparse kernel computes, per kernel family (SGLang
#: ``_forward_flashmla_sparse``: "requires num_heads to be a multiple of 64 (Hopper) or 128 (Blackwell)")
SPARSE_HEAD_TILE = {"sm90": 64.0, "sm100": 128.0}


def sparse_head_tile(c: Ctx) -> float:
    """Heads the sparse MLA kernel pads the local query heads to: 64 on Hopper, 128 on Blackwell, none
    (1) on a chip outside those kernel families."""
    fam = c.kernels.family if c.kernels is not None else None
    if fam is None:
        try:
            fam = load_chip(c.hw.chip).kernel_family
        except SuperpodError:
            fam = None
    return SPARSE_HEAD_TILE.get(fam or "", 1.0)


def sparse_prefill_s(c: Ctx, plan: ServePlan, queries, keys, sequences, context) -> np.ndarray:
    """Seconds of one layer's sparse MLA prefill kernel on one chip: ``queries`` query tokens of the
    TP group (every rank runs them over its heads), ``keys`` selected latents each (mean),
    ``sequences`` sequences of ``context`` cached latents read once (the selections overlap in L2);
    the local heads padded to :func:`sparse_head_tile`."""
    m = c.model
    t = np.maximum(np.asarray(plan.tp, dtype=float), 1.0)
    tile = sparse_head_tile(c)
    heads = np.ceil(m.heads / t / tile) * tile
    Q = np.asarray(queries, dtype=float)
    flops = Q * sparse_mla_flops_per_token(m, keys, heads)
    lat = m.mla.kv_lora_rank + m.mla.qk_rope_head_dim
    nbytes = (np.asarray(sequences, dtype=float) * np.asarray(context, dtype=float) * lat * c.kv_el
              + Q * m.heads / t * (lat + m.mla.kv_lora_rank) * BYTES["bf16"])
    return attention_s(flops, nbytes, c.hw, "prefill").total_s

#: the indexer's vector kernels per layer in a step that scores (SGLang ``Indexer.forward_cuda``): the
#: key LayerNorm, RoPE of q and k, the Hadamard rotation of q and of k, the FP8 quantisation of q and
#: of k, the index-cache store, the head-weight scaling and the paged-logits schedule; a prefill that
#: fits in top-k runs the key's five (norm, RoPE, rotation, quantisation, store)
INDEXER_VECTOR_KERNELS, INDEXER_KEY_KERNELS = 9.0, 5.0


def indexer_s(c: Ctx, queries, keys, sequences, query_per_seq=None, score=True) -> np.ndarray:
    """Seconds of one layer's DSA indexer outside its projections on one chip (0 without DSA):
    ``queries`` query tokens scoring ``keys`` keys each (mean), ``sequences`` sequences; with
    ``query_per_seq`` (decode) the scoring is one ``[q heads, dim] x [dim, keys]`` FP8 GEMM per
    sequence (the keys read once per sequence; its output counts every head's scores, which the kernel sums
    in registers), else one ``[queries, heads dim] x [heads dim, keys]`` GEMM (the FLOPs and the logits
    of all queries; the keys counted per head); ``score=False``: the key path only (a prefill
    that fits in top-k). The measured GEMM fit prices the scoring where the framework has one."""
    d = c.model.sparse_attention
    Q, K, S = (np.asarray(x, dtype=float) for x in (queries, keys, sequences))
    if d is None:
        return np.zeros(np.broadcast_shapes(Q.shape, K.shape, S.shape))
    launch = c.hw.kernels.gemm.launch_s.si
    vec_bytes = Q * (d.index_heads + 1) * d.index_head_dim * BYTES["bf16"] * 6.0  # q and k: ~3 read+write passes
    if not score:
        return INDEXER_KEY_KERNELS * launch + stream_s(Q * d.index_head_dim * BYTES["bf16"] * 6.0, c.hw) + 0.0 * K * S
    k = c.kernels
    fmt = "fp8" if k is not None and k.has_gemm("fp8") else "bf16"
    heads, dim = float(d.index_heads), float(d.index_head_dim)
    if k is not None and k.has_gemm(fmt):
        if query_per_seq is not None:
            q = np.asarray(query_per_seq, dtype=float)
            scoring = k.gemm_s(q * heads + 0.0 * S, np.maximum(K, 1.0), dim, fmt, batch=np.maximum(S, 1.0))
        else:  # the heads summed inside the kernel: [queries, heads dim] x [heads dim, keys] has its FLOPs and logits
            scoring = k.gemm_s(Q, np.maximum(K, 1.0), heads * dim, fmt)
        scoring = np.where(Q > 0, scoring, 0.0)
    else:  # the roofline of the same shape
        from superpod.cost.compute import gemm_s
        scoring = gemm_s(Q, np.maximum(K, 1.0), heads * dim, c.hw, fmt).total_s
    topk = launch + stream_s(Q * K * BYTES["fp32"], c.hw)
    return np.where(Q > 0, scoring + topk + INDEXER_VECTOR_KERNELS * launch + stream_s(vec_bytes, c.hw), 0.0)


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
    d = m.sparse_attention
    full = np.asarray(context, dtype=float)
    context = full if d is None else d.keys(full)  # DSA: the core reads the top-k keys
    mla = None if m.mla is None else (m.mla.kv_lora_rank + m.mla.qk_rope_head_dim, m.mla.kv_lora_rank)
    heads = m.heads / t * q
    kv_heads = np.asarray(m.kv_heads_per_rank(t), dtype=float) if m.mla is None else 1.0
    probe = k.generation_s(1.0, 1.0, 1.0, 1.0, 64.0, c.kv_dtype, 0.0, mla)
    if probe is None:
        return None
    b = np.asarray(seqs, dtype=float) * t

    def at(share):
        core = _window_mix(c, lambda w: k.generation_s(b * share, context, heads, kv_heads, m.head_dim, c.kv_dtype,
                                                       w, mla))
        if d is None:
            return core
        # the indexer is replicated over TP: each rank scores the group's b sequences
        return core + indexer_s(c, b * share * q, full, b * share, query_per_seq=q)
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
    d = m.sparse_attention
    score = d is not None and float(prefix) + new > d.index_topk  # DSA: the sparse path (else dense attention)
    queries = np.asarray(tokens, dtype=float) * t  # the group's queries: the indexer is replicated over TP

    def at(share):
        if score:
            core = sparse_prefill_s(c, plan, queries * share, d.causal_keys(prefix, new), prompts * share,
                                    float(prefix) + new)
        else:
            def one(w):
                return k.context_s(whole * share, new, heads, kv_heads, m.head_dim, c.quant, c.kv_dtype, w, mla)
            core = _window_mix(c, one) * np.minimum(prompts / whole, 1.0) * np.maximum(pairs, 1.0)
        if d is None:
            return core
        return core + indexer_s(c, queries * share, float(prefix) + new / 2.0, prompts * share, score=score)
    return at
