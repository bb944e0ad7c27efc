"""Model spec: one decoder-only transformer LLM (dense or MoE; MHA, GQA or MLA).

Counts here are exact products of the architecture numbers (formulas.md sec. 1.2 for
GQA/MHA/SwiGLU, sec. 1.3 for the GPT/Megatron form, sec. 2.1 for MLA, sec. 2.5 for the
DeepSeek-V3 totals, sec. 3.1 for MoE). Elementwise-only weights (norms, biases) are
counted too, so totals match published checkpoints, not only the GEMM terms.

**Active-parameter convention.** :attr:`Model.active_params` counts the parameters a
token *multiplies with*: every attention, dense-MLP, shared-expert, router and norm
weight, the ``top_k`` routed experts it is sent to, and the LM head; it **excludes the
input lookups** (token embedding, learned position embedding), which cost no FLOPs. So
``2 * active_params`` is the forward GEMM FLOPs per token without the attention core
(formulas.md sec. 1.1, 1.2). For DeepSeek-V3 this is 36.6 B, the figure of DeepSeek's
README_WEIGHTS (36.7 B); adding the 0.93 B input embedding gives 37.5 B (formulas.md
sec. 2.5). Vendors differ: Qwen and Moonshot quote the count *with* the input embedding,
available as :attr:`Model.active_params_with_embedding`; a catalog entry's
``published_active_counts_embedding`` records which one its published figure is.

>>> from superpod.spec.catalog import load_model
>>> m = load_model("deepseek-v3")
>>> round(m.params / 1e9), m.kv_elements_per_token_per_layer, m.moe_layers
(671, 576, 58)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.spec.attention import LinearAttention, SparseAttention
from superpod.spec.chip import NAME_PATTERN
from superpod.spec.quantity import Confidence, Count


class MLA(BaseModel):
    """Multi-head latent attention dimensions (formulas.md sec. 2; DeepSeek-V2/V3 config names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q_lora_rank: int | None = Field(default=None, ge=1, description="None: one full h x n_q*(nope+rope) query matrix")
    kv_lora_rank: int = Field(ge=1)
    qk_nope_head_dim: int = Field(ge=1)
    qk_rope_head_dim: int = Field(ge=1)
    v_head_dim: int = Field(ge=1)


class MoE(BaseModel):
    """Mixture-of-experts layers (formulas.md sec. 3).

    Layer ``i`` (0-based) is an MoE layer when ``i >= first_dense_layers``,
    ``(i + 1) % moe_every == 0`` and ``i`` is not in ``dense_layer_ids``; otherwise it has
    the dense FFN of width ``Model.ffn``. (Qwen's ``decoder_sparse_step`` and
    ``mlp_only_layers`` map to ``moe_every`` and ``dense_layer_ids``.)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    experts: int = Field(ge=1, description="routed experts per MoE layer (E)")
    top_k: int = Field(ge=1, description="routed experts per token (k)")
    expert_ffn: int = Field(ge=1, description="FFN width of one routed expert (f_e)")
    shared_experts: int = Field(default=0, ge=0)
    shared_ffn: int = Field(default=0, ge=0, description="FFN width of ONE shared expert")
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")
    moe_every: int = Field(default=1, ge=1)
    dense_layer_ids: tuple[int, ...] = ()
    router_bias: bool = Field(default=False, description="per-expert routing bias (V3 e_score_correction_bias)")
    shared_expert_gate: bool = Field(default=False, description="a sigmoid gate h x 1 on the shared expert (Qwen3.5)")

    @model_validator(mode="after")
    def _consistent(self) -> "MoE":
        if self.top_k > self.experts:
            raise ValueError(f"top_k {self.top_k} exceeds experts {self.experts}")
        if self.shared_experts and not self.shared_ffn:
            raise ValueError("shared_experts > 0 needs shared_ffn (the width of one shared expert)")
        return self


class Model(BaseModel):
    """A decoder-only transformer: shapes, and the parameter and KV-cache counts they imply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    title: str
    family: str
    source: str = Field(min_length=3, description="paper and/or published config.json the shapes come from")
    confidence: Confidence
    note: str | None = None

    layers: int = Field(ge=1, le=10_000, strict=True)  # 10^4: far past any model; more would hang the planners
    hidden: int = Field(ge=1, le=10 ** 7, strict=True)
    vocab: int = Field(ge=1, le=10 ** 8, strict=True)
    heads: int = Field(ge=1, le=10 ** 5, strict=True)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1, description="query/key head dim (MLA: qk_nope + qk_rope)")
    attention: Literal["mha", "gqa", "mla"]
    mla: MLA | None = None
    activation: Literal["gelu", "relu", "swiglu"] = Field(description="gelu/relu: 2 matrices; swiglu: 3")
    ffn: int = Field(ge=1, description="dense FFN width (unused when every layer is MoE)")
    moe: MoE | None = None
    tied_embeddings: bool
    position: Literal["rope", "learned", "alibi"]
    max_positions: int | None = Field(default=None, ge=1, description="rows of a learned position embedding")
    qkv_bias: bool = False
    out_bias: bool = Field(default=False, description="bias on the attention output projection")
    mlp_bias: bool = False
    norm: Literal["layernorm", "rmsnorm"] = "rmsnorm"
    norms_per_layer: int = Field(default=2, ge=0, description="2 pre-norm; 4 for sandwich norm")
    qk_norm: bool = Field(default=False, description="per-head RMSNorm on q and k (Qwen3)")
    embedding_norm: bool = Field(default=False, description="a norm right after the embedding (BLOOM)")
    mtp_layers: int = Field(default=0, ge=0, description="DeepSeek multi-token-prediction modules")
    published_params: Count | None = None
    published_active_params: Count | None = None
    published_active_counts_embedding: bool = Field(
        default=False, description="the published active figure includes the input embedding"
    )
    sliding_window: int | None = Field(default=None, ge=1, description="tokens a sliding-window layer attends to")
    sliding_window_layers: tuple[int, ...] = Field(default=(), description="0-based ids of the sliding-window layers")
    attention_sinks: bool = Field(default=False, description="one learned sink logit per head per layer (gpt-oss)")
    attention_output_gate: bool = Field(
        default=False, description="q_proj also emits a sigmoid gate on the attention output (Qwen3.5 gated attention)"
    )
    qk_norm_per_layer: bool = Field(
        default=False, description="q/k norms span all heads (n_q*d, n_kv*d) instead of one head (MiniMax-M2)"
    )
    linear_attention: LinearAttention | None = None
    sparse_attention: SparseAttention | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Model":
        if self.attention == "mha" and self.kv_heads != self.heads:
            raise ValueError(f"mha needs kv_heads == heads, got {self.kv_heads} vs {self.heads}")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not divisible by kv_heads {self.kv_heads}")
        if self.attention == "mla":
            if self.mla is None:
                raise ValueError("attention 'mla' needs an [mla] table")
            if self.head_dim != self.mla.qk_nope_head_dim + self.mla.qk_rope_head_dim:
                raise ValueError("mla head_dim must equal qk_nope_head_dim + qk_rope_head_dim")
        elif self.mla is not None:
            raise ValueError(f"an [mla] table needs attention = 'mla', not {self.attention!r}")
        if self.position == "learned" and self.max_positions is None:
            raise ValueError("learned positions need max_positions")
        if self.moe is not None:
            bad = [i for i in self.moe.dense_layer_ids if not 0 <= i < self.layers]
            if bad:
                raise ValueError(f"moe.dense_layer_ids {bad} outside 0..{self.layers - 1}")
            if self.moe_layers == 0:
                raise ValueError("a [moe] table but no layer is MoE (check first_dense_layers, moe_every)")
        if (self.sliding_window is None) != (not self.sliding_window_layers):
            raise ValueError("sliding_window and sliding_window_layers go together")
        bad = [i for i in self.sliding_window_layers if not 0 <= i < self.layers]
        if bad:
            raise ValueError(f"sliding_window_layers {bad} outside 0..{self.layers - 1}")
        if self.qk_norm_per_layer and not self.qk_norm:
            raise ValueError("qk_norm_per_layer needs qk_norm = true")
        if self.linear_attention is not None:
            bad = [i for i in self.linear_attention.layers if not 0 <= i < self.layers]
            if bad:
                raise ValueError(f"linear_attention.layers {bad} outside 0..{self.layers - 1}")
        if self.sparse_attention is not None and (self.mla is None or not self.mla.q_lora_rank):
            raise ValueError("sparse_attention (dsa) needs MLA with a q_lora_rank (its indexer reads the query latent)")
        return self

    # ---- layer layout -------------------------------------------------------------------
    def is_moe_layer(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) has routed experts (see :class:`MoE`)."""
        m = self.moe
        if m is None:
            return False
        return i >= m.first_dense_layers and (i + 1) % m.moe_every == 0 and i not in m.dense_layer_ids

    @property
    def moe_layers(self) -> int:
        """Layers with routed experts (L_m)."""
        return sum(self.is_moe_layer(i) for i in range(self.layers))

    @property
    def linear_attention_layers(self) -> int:
        """Layers with linear attention instead of softmax attention (0 unless hybrid)."""
        la = self.linear_attention
        return sum(la.is_linear(i) for i in range(self.layers)) if la else 0

    @property
    def kv_cache_layers(self) -> int:
        """Layers that keep a per-token KV cache: all but the linear-attention layers (whose
        state is a fixed size per sequence). Sliding-window layers are counted: they cache
        at most ``sliding_window`` tokens per sequence, which a per-token figure cannot say."""
        return self.layers - self.linear_attention_layers

    @property
    def unmodelled_features(self) -> tuple[str, ...]:
        """Architecture features that the cost layer does not price (their parameters are
        counted all the same): one line each, empty for a plain dense/MoE transformer."""
        out, L = [], self.layers
        if self.sliding_window:
            out.append(
                f"sliding-window attention ({self.sliding_window} tokens) on {len(self.sliding_window_layers)} of "
                f"{L} layers: KV cache and attention are priced as full attention on every layer"
            )
        if self.attention_sinks:
            out.append("attention sinks (a learned logit per head): counted as parameters only")
        if self.attention_output_gate:
            out.append("attention output gate (q_proj's second half): counted as parameters, not priced as a GEMM")
        if self.linear_attention is not None:
            out.append(
                f"linear attention ({self.linear_attention.kind}) on {self.linear_attention_layers} of {L} layers: "
                "its recurrent state and kernels are not modelled"
            )
        return tuple(out)

    @property
    def dense_layers(self) -> int:
        """Layers with the dense FFN (L_d = L - L_m)."""
        return self.layers - self.moe_layers

    @property
    def experts(self) -> int:
        """Routed experts per MoE layer, 0 for a dense model."""
        return self.moe.experts if self.moe else 0

    # ---- per-unit parameter counts ------------------------------------------------------
    def _norm(self, width: int) -> int:
        return 2 * width if self.norm == "layernorm" else width

    def _mlp(self, width: int, bias: bool) -> int:
        """One FFN: SwiGLU 3·h·f (gate, up, down), GeLU/ReLU 2·h·f (sec. 1.2, 1.3)."""
        mats = 3 if self.activation == "swiglu" else 2
        return mats * self.hidden * width + (((mats - 1) * width + self.hidden) if bias else 0)

    def _attention(self) -> int:
        h, n = self.hidden, self.heads
        if self.mla is not None:  # formulas.md sec. 2.1 (wq_a, wq_b, wkv_a, wkv_b, wo + two norms)
            a = self.mla
            qk = a.qk_nope_head_dim + a.qk_rope_head_dim
            q = h * a.q_lora_rank + self._norm(a.q_lora_rank) + a.q_lora_rank * n * qk if a.q_lora_rank else h * n * qk
            kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + self._norm(a.kv_lora_rank)
            kv += a.kv_lora_rank * n * (a.qk_nope_head_dim + a.v_head_dim)
            p = q + kv + n * a.v_head_dim * h + (h if self.out_bias else 0)
            if self.sparse_attention is not None:  # the DSA indexer (SparseAttention)
                p += self.sparse_attention.params(h, a.q_lora_rank)
            return p + (n if self.attention_sinks else 0)
        hq, hkv = n * self.head_dim, self.kv_heads * self.head_dim
        p = h * (hq + 2 * hkv) + hq * h  # QKV + output projection (sec. 1.2)
        p += h * hq if self.attention_output_gate else 0  # q_proj's second half: the output gate
        p += (hq + 2 * hkv) if self.qkv_bias else 0
        p += h if self.out_bias else 0
        if self.qk_norm:
            p += self._norm(hq) + self._norm(hkv) if self.qk_norm_per_layer else 2 * self._norm(self.head_dim)
        return p + (n if self.attention_sinks else 0)

    def layer_params(self) -> dict[str, int]:
        """Parameters per unit: ``attention`` (one softmax-attention layer, with any DSA
        indexer, sinks and output gate), ``linear_attention`` (one linear-attention layer, 0
        without), ``dense_mlp`` (one dense FFN),
        ``expert`` (one routed expert), ``shared`` (all shared experts of one MoE layer),
        ``router`` (one MoE layer), ``norms`` (one layer), ``embedding`` (token + learned
        positions), ``lm_head`` (0 when tied). DeepSeek-V3: attention 187.1 M, expert
        44.04 M (formulas.md sec. 2.1, 2.5)."""
        h, m = self.hidden, self.moe
        la = self.linear_attention
        return {
            "attention": self._attention(),
            "linear_attention": la.params(h) if la else 0,
            "dense_mlp": self._mlp(self.ffn, self.mlp_bias),
            "expert": self._mlp(m.expert_ffn, self.mlp_bias) if m else 0,
            "shared": m.shared_experts * self._mlp(m.shared_ffn, self.mlp_bias) + (h if m.shared_expert_gate else 0)
            if m else 0,
            "router": (h * m.experts + (m.experts if m.router_bias else 0)) if m else 0,
            "norms": self.norms_per_layer * self._norm(h),
            "embedding": self.vocab * h + (self.max_positions * h if self.position == "learned" else 0),
            "lm_head": 0 if self.tied_embeddings else self.vocab * h,
        }

    def breakdown(self) -> dict[str, int]:
        """Total parameters by component over the whole model (MTP excluded); sums to
        :attr:`params`. ``norms`` includes the final norm and any embedding norm."""
        u, L, Lm = self.layer_params(), self.layers, self.moe_layers
        E = self.experts
        return {
            "embedding": u["embedding"],
            "attention": (L - self.linear_attention_layers) * u["attention"]
            + self.linear_attention_layers * u["linear_attention"],
            "dense_mlp": self.dense_layers * u["dense_mlp"],
            "routed_experts": Lm * E * u["expert"],
            "shared_experts": Lm * u["shared"],
            "router": Lm * u["router"],
            "norms": L * u["norms"] + self._norm(self.hidden) * (1 + self.embedding_norm),
            "lm_head": u["lm_head"],
        }

    # ---- totals -------------------------------------------------------------------------
    @property
    def params(self) -> int:
        """Total parameters as published: embeddings, all layers, all experts, LM head;
        MTP modules excluded (see :attr:`mtp_params`). GPT rows: formulas.md sec. 1.3 eq. 2
        (+ the final LayerNorm, 2h); DeepSeek-V3: sec. 2.5 (671.0 B)."""
        return sum(self.breakdown().values())

    @property
    def input_lookup_params(self) -> int:
        """Weights used only as a lookup (no FLOPs): the token embedding unless it is tied
        to the LM head, plus learned position embeddings."""
        pos = (self.max_positions or 0) * self.hidden if self.position == "learned" else 0
        return pos + (0 if self.tied_embeddings else self.vocab * self.hidden)

    @property
    def active_params(self) -> int:
        """Parameters a token multiplies with: all but the unselected routed experts and
        the input lookups (the module docstring states the convention). For a dense model,
        ``params - input_lookup_params``; DeepSeek-V3: 36.6 B (formulas.md sec. 2.5)."""
        idle = self.moe_layers * (self.experts - self.moe.top_k) * self.layer_params()["expert"] if self.moe else 0
        return self.params - idle - self.input_lookup_params

    @property
    def active_params_with_embedding(self) -> int:
        """:attr:`active_params` plus the input embedding (the Qwen / Kimi convention)."""
        return self.active_params + self.input_lookup_params

    @property
    def published_active_as_counted(self) -> int:
        """Our active count in the convention of :attr:`published_active_params`."""
        return self.active_params_with_embedding if self.published_active_counts_embedding else self.active_params

    @property
    def mtp_params(self) -> int:
        """Parameters of the MTP modules, embedding and head shared with the main model so
        not counted: per module one transformer layer (attention + the last layer's FFN),
        the 2h x h projection and three norms (formulas.md sec. 2.5: 11.6 B for V3)."""
        if not self.mtp_layers:
            return 0
        u, h = self.layer_params(), self.hidden
        last = self.layers - 1
        ffn = self.experts * u["expert"] + u["shared"] + u["router"] if self.is_moe_layer(last) else u["dense_mlp"]
        per = u["attention"] + ffn + u["norms"] + 2 * h * h + 3 * self._norm(h)
        return self.mtp_layers * per

    # ---- KV cache -----------------------------------------------------------------------
    @property
    def kv_elements_per_token_per_layer(self) -> int:
        """Cached elements per token per layer: MLA r_kv + d_rope (576 for V3, sec. 2.4);
        MHA/GQA 2 · n_kv · d_h."""
        if self.mla is not None:
            return self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        return 2 * self.kv_heads * self.head_dim

    def kv_heads_per_rank(self, tp):
        """KV heads one TP rank holds (array over ``tp``): ``max(1, ceil(n_kv / t))``; with
        t > n_kv each rank keeps a replica of one KV head (formulas.md sec. 4.5)."""
        return np.maximum(1.0, np.ceil(self.kv_heads / np.asarray(tp, dtype=float)))

    def kv_bytes_per_token(self, dtype_bytes: float = 2) -> float:
        """KV-cache bytes per token over all layers (V3 at 2 bytes: 70,272 B, sec. 2.4)."""
        return self.layers * self.kv_elements_per_token_per_layer * dtype_bytes

    def summary(self) -> dict[str, object]:
        """One flat record for tables."""
        return {
            "name": self.name,
            "params": self.params,
            "active_params": self.active_params,
            "layers": self.layers,
            "hidden": self.hidden,
            "attention": self.attention,
            "experts": self.experts,
            "source": self.source,
        }
