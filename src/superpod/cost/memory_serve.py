"""KV-cache bytes per token per layer and per token on one chip (formulas.md sec. 2.4 MLA
cache, 4.5 KV cache). The serving estimators build weights, KV per sequence and the batch
bound on these (:mod:`superpod.serving.memory`). All functions broadcast over numpy
arrays; the model is one scalar Model.

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
    * DSA adds the indexer's key cache, FP8 with its scales whatever the KV format, replicated
      over TP like the latent (:attr:`SparseAttention.key_cache_bytes`: 132 B for GLM-5).
    """
    t, q = floats(tp), floats(kv_bytes)
    if model.mla is not None:
        d = model.sparse_attention
        index = d.key_cache_bytes if d is not None else 0.0
        return (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * q + index + 0 * t
    return 2 * model.kv_heads_per_rank(t) * model.head_dim * q


def kv_bytes_per_token(model: Model, kv_bytes=2, tp=1, layers=None) -> np.ndarray:
    """KV-cache bytes per token on one chip: ``layers`` (default all L; pass ``L/p`` under
    pipeline parallelism) times :func:`kv_bytes_per_token_per_layer`. DeepSeek-V3 at BF16:
    61 * 576 * 2 = 70,272 B; Llama-3.1-405B: 126 * 2 * 8 * 128 * 2 = 516,096 B (sec. 2.4)."""
    n = model.layers if layers is None else floats(layers)
    return n * kv_bytes_per_token_per_layer(model, kv_bytes, tp)
