"""Attention variants beyond MHA/GQA/MLA that a :class:`~superpod.spec.model.Model` can
carry: linear-attention layers of a hybrid stack and DeepSeek sparse attention (DSA).

They are counted exactly in the parameter totals. The serving cost prices DSA (its indexer and
the core attention over the selected tokens, :class:`SparseAttention`); linear attention's kernels
are not priced yet (``Model.unmodelled_features`` says so per model).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class LinearAttention(BaseModel):
    """Linear-attention layers that replace softmax attention in some layers (a hybrid stack).

    ``gated_deltanet`` (Qwen3-Next / Qwen3.5; Yang et al., arXiv 2412.06464): per layer
    ``in_proj_qkv`` h x (2 k_d + v_d), ``in_proj_z`` h x v_d, ``in_proj_b``/``in_proj_a``
    h x n_v each, a depthwise causal conv1d of ``conv_kernel`` taps over the 2 k_d + v_d
    channels (no bias), ``dt_bias`` and ``A_log`` (n_v each), a gated RMSNorm over one value
    head, and ``out_proj`` v_d x h, where k_d = key_heads * key_head_dim and v_d =
    value_heads * value_head_dim (Hugging Face transformers ``Qwen3_5MoeGatedDeltaNet``).
    The layers keep a fixed-size recurrent state per sequence instead of a per-token KV cache.
    Layer ``i`` (0-based) is linear when it is in ``layers``, or, with
    ``full_attention_interval = n``, when ``(i + 1) % n != 0`` (config.json ``layer_types``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["gated_deltanet"]
    layers: tuple[int, ...] = ()
    full_attention_interval: int = Field(default=0, ge=0, description="every n-th layer is full attention")
    key_heads: int = Field(ge=1)
    value_heads: int = Field(ge=1)
    key_head_dim: int = Field(ge=1)
    value_head_dim: int = Field(ge=1)
    conv_kernel: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _one_layout(self) -> "LinearAttention":
        if bool(self.layers) == bool(self.full_attention_interval):
            raise ValueError("linear_attention needs exactly one of layers or full_attention_interval")
        if self.value_heads % self.key_heads:
            raise ValueError(f"value_heads {self.value_heads} is not divisible by key_heads {self.key_heads}")
        return self

    def is_linear(self, i: int) -> bool:
        if self.layers:
            return i in self.layers
        return (i + 1) % self.full_attention_interval != 0

    def params(self, hidden: int) -> int:
        """Parameters of one linear-attention layer (the class docstring lists them)."""
        kd, vd, nv = self.key_heads * self.key_head_dim, self.value_heads * self.value_head_dim, self.value_heads
        conv = 2 * kd + vd
        return hidden * (conv + vd + 2 * nv) + conv * self.conv_kernel + 2 * nv + self.value_head_dim + vd * hidden


class SparseAttention(BaseModel):
    """DeepSeek Sparse Attention (DSA; DeepSeek-V3.2, arXiv 2512.02556; GLM-5, arXiv 2602.15763).

    A lightning indexer scores every past token with ``index_heads`` small heads of
    ``index_head_dim`` and the core MLA attention reads only the ``index_topk`` best. Per
    layer the indexer holds ``wq_b`` q_lora_rank x (heads * dim), ``wk`` h x dim, a LayerNorm
    over dim (weight and bias) and ``weights_proj`` h x heads (transformers
    ``GLmMoeDsaIndexer``; DeepSeek-V3.2 ``Indexer``); it caches one dim-wide key per token.

    What a serving step runs per layer (SGLang ``nsa_indexer.Indexer.forward_cuda``; vLLM's
    DeepSeek-V3.2 indexer the same): ``wq_b`` and ``wk`` (replicated over TP, in the checkpoint's
    format), ``weights_proj`` (unquantised), the key LayerNorm, RoPE, a Hadamard rotation and FP8
    quantisation of q and k, the store of the FP8 key (+ one fp32 scale per 128: 132 B per token
    and layer) into the index cache, the FP8 scoring of every cached key (DeepGEMM
    ``fp8_paged_mqa_logits`` in decode, ``fp8_mqa_logits`` in prefill: ``2 heads dim`` FLOPs per
    query and key, fp32 logits summed over heads), and a top-k over each query's logits; the MLA
    core then attends to at most ``index_topk`` keys per query (:meth:`keys`). A prefill whose
    longest sequence fits in ``index_topk`` skips the scoring (SGLang ``_forward_cuda_k_only``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["dsa"]
    index_heads: int = Field(ge=1)
    index_head_dim: int = Field(ge=1)
    index_topk: int = Field(ge=1, description="tokens the core attention reads per query")

    def params(self, hidden: int, q_lora_rank: int) -> int:
        """Parameters of one layer's indexer."""
        n, d = self.index_heads, self.index_head_dim
        return q_lora_rank * n * d + hidden * d + 2 * d + hidden * n

    @property
    def key_cache_bytes(self) -> float:
        """Index-cache bytes per token and layer: the FP8 key and one fp32 scale per 128 of it
        (SGLang ``NSATokenToKVPool``: ``head_dim_with_sf = 132`` for 128)."""
        return float(self.index_head_dim + 4 * -(-self.index_head_dim // 128))

    def keys(self, context) -> np.ndarray:
        """Keys the core attention reads per query at ``context`` cached tokens: ``min(context, top_k)``."""
        return np.minimum(np.asarray(context, dtype=float), float(self.index_topk))

    def causal_keys(self, prefix, new) -> np.ndarray:
        """Mean keys per query of a prompt of ``new`` tokens after ``prefix`` cached ones: query ``i``
        (1..new) attends to ``min(prefix + i, top_k)`` (full attention: ``prefix + (new + 1)/2``)."""
        p, n = np.asarray(prefix, dtype=float), np.maximum(np.asarray(new, dtype=float), 1.0)
        k = float(self.index_topk)
        m = np.clip(k - p, 0.0, n)  # queries still under the top-k
        return (m * p + m * (m + 1.0) / 2.0 + (n - m) * k) / n

