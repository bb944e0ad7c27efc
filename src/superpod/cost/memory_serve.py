"""Serving memory per chip: KV cache per token and per sequence, the decode batch bound.

Formulas.md sec. 2.4 (MLA cache), 4.5 (KV cache and batch bound), 4.6 (reserve). All
functions broadcast over numpy arrays; the model is one scalar Model.

>>> from superpod.spec.catalog import load_model
>>> int(kv_bytes_per_token(load_model("deepseek-v3"), 2))
70272
>>> int(kv_bytes_per_token(load_model("llama3-405b"), 2))
516096
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats

from superpod.spec.model import Model



def kv_bytes_per_token_per_layer(model: Model, kv_bytes=2, tp=1) -> np.ndarray:
    """KV-cache bytes one token adds to one layer on one TP rank (formulas.md sec. 2.4, 4.5).

    * MLA: ``(r_kv + d_rope) * q_kv``; the latent is shared by all heads, so TP does
      **not** shard it (1,152 B for DeepSeek-V3 at 16 bit). FlashMLA's FP8 layout stores
      656 B per token per layer (scales and a BF16 RoPE part): pass ``kv_bytes=656/576``.
    * MHA/GQA: ``2 * max(1, ceil(n_kv / t)) * d_h * q_kv``; with t > n_kv each rank keeps
      a replica of one KV head.
    """
    t, q = floats(tp), floats(kv_bytes)
    if model.mla is not None:
        return (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * q + 0 * t
    return 2 * model.kv_heads_per_rank(t) * model.head_dim * q


def kv_bytes_per_token(model: Model, kv_bytes=2, tp=1, layers=None) -> np.ndarray:
    """KV-cache bytes per token on one chip: ``layers`` (default all L; pass ``L/p`` under
    pipeline parallelism) times :func:`kv_bytes_per_token_per_layer`. DeepSeek-V3 at BF16:
    61 * 576 * 2 = 70,272 B; Llama-3.1-405B: 126 * 2 * 8 * 128 * 2 = 516,096 B (sec. 2.4)."""
    n = model.layers if layers is None else floats(layers)
    return n * kv_bytes_per_token_per_layer(model, kv_bytes, tp)


def kv_bytes_per_sequence(model: Model, context_tokens, kv_bytes=2, tp=1, layers=None, page_tokens=1) -> np.ndarray:
    """KV bytes of one sequence of ``context_tokens`` tokens, rounded up to whole pages of
    ``page_tokens`` (paged attention: ``ceil(s_ctx/page) * page``, formulas.md sec. 4.5)."""
    page = floats(page_tokens)
    return np.ceil(floats(context_tokens) / page) * page * kv_bytes_per_token(model, kv_bytes, tp, layers)


def max_decode_batch(capacity_bytes, weight_bytes, kv_bytes_per_seq, act_bytes=0, reserve_fraction=0.1) -> np.ndarray:
    """Largest number of concurrent decoding sequences whose KV cache fits (sec. 4.5, 4.6):

    ``B_max = floor(((1 - reserve_fraction) * C_mem - M_w - M_act) / kv_bytes_per_seq)``,
    never below 0. ``reserve_fraction`` is the share of HBM the engine keeps back (vLLM's
    default ``gpu_memory_utilization = 0.9`` is ``reserve_fraction = 0.1``). Returns int64.
    """
    free = (1.0 - floats(reserve_fraction)) * floats(capacity_bytes) - floats(weight_bytes) - floats(act_bytes)
    return np.maximum(np.floor(free / floats(kv_bytes_per_seq)), 0).astype(np.int64)


def memory_overflow_bytes(need_bytes, capacity_bytes) -> np.ndarray:
    """``need - capacity``: positive is how many bytes are missing, negative is headroom."""
    return floats(need_bytes) - floats(capacity_bytes)
