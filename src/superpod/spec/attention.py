"""Attention variants beyond MHA/GQA/MLA that a :class:`~superpod.spec.model.Model` can
carry: linear-attention layers of a hybrid stack and DeepSeek sparse attention (DSA).

They are counted exactly in the parameter totals; the cost layer does not price their
kernels yet (``Model.unmodelled_features`` says so per model).
"""

from __future__ import annotations

from typing import Literal

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

