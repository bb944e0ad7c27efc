"""Hugging Face ``config.json`` -> :class:`~superpod.spec.model.Model`, offline.

Supported ``architectures``: Llama (``LlamaForCausalLM``, also Mistral), Qwen2, Qwen2-MoE,
Qwen3, Qwen3-MoE, DeepSeek-V2/V3 (``DeepseekV3ForCausalLM``, also Kimi K2's config and
Kimi K2.5's ``text_config``), DeepSeek-V3.2 and GLM-5 (MLA with DeepSeek sparse attention),
gpt-oss (sliding-window layers, attention sinks), MiniMax-M2, Qwen3-Next and Qwen3.5-MoE
(Gated DeltaNet linear-attention layers) and openPangu Ultra MoE. A multimodal wrapper's
``text_config`` is read and its vision tower left out. The model is named after
``_name_or_path`` (its last part) when the file has one, else after the directory holding
the file; its ``source`` is the file path.

>>> from superpod.spec.catalog import load_model
>>> load_model("tests/data/llama3-8b/config.json").kv_elements_per_token_per_layer  # doctest: +SKIP
2048
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

from superpod.errors import SpecError, UnsupportedFeatureError
from superpod.spec.files import build, read_text
from superpod.spec.model import Model

_MISSING = object()


#: the counts every family reads: numbers (not booleans) >= 1; others are checked by the Model schema
_COUNTS = {"num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
           "vocab_size", "max_position_embeddings", "head_dim", "moe_intermediate_size", "num_experts_per_tok",
           "n_routed_experts", "num_local_experts", "num_experts"}
MAX_LAYERS = 10_000  # no model has this many layers: a bigger count is a typo (and would hang the planners)
MAX_COUNT = 1e9  # widths, vocabularies, head and expert counts


class _Config:
    """A config dict whose missing keys raise a one-line SpecError naming file and key."""

    def __init__(self, data: dict[str, Any], path: Path, arch: str):
        self.data, self.path, self.arch = data, path, arch

    def __call__(self, key: str, default: Any = _MISSING) -> Any:
        v = self.data.get(key)
        if v is None:
            if default is _MISSING:
                raise SpecError(f"{self.path}: missing key {key!r} (needed for {self.arch})")
            return default
        if key in _COUNTS:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise SpecError(f"{self.path}: {key} must be a number, got {v!r}")
            hi = MAX_LAYERS if "layers" in key else MAX_COUNT
            if not 1 <= v <= hi:
                raise SpecError(f"{self.path}: {key} must be in [1, {hi:g}], got {v!r}")
        return v


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-._")
    return s or "model"


def _name(data: dict[str, Any], path: Path) -> str:
    ref = data.get("_name_or_path")
    if isinstance(ref, str) and ref.strip().strip("/"):
        return _slug(ref.strip().rstrip("/").split("/")[-1])
    return _slug(path.resolve().parent.name)


def _common(c: _Config) -> dict[str, Any]:
    """The Llama-style keys every supported family shares."""
    heads = c("num_attention_heads")
    kv = c("num_key_value_heads", heads)
    hidden = c("hidden_size")
    act = c("hidden_act", "silu")
    if act not in ("silu", "swish", "swiglu"):
        raise UnsupportedFeatureError(f"{c.path}: hidden_act {act!r} is not supported for {c.arch} (expected silu)")
    return {
        "layers": c("num_hidden_layers"),
        "hidden": hidden,
        "vocab": c("vocab_size"),
        "heads": heads,
        "kv_heads": kv,
        "head_dim": c("head_dim", hidden // heads),
        "attention": "mha" if kv == heads else "gqa",
        "activation": "swiglu",
        "ffn": c("intermediate_size"),
        "tied_embeddings": bool(c("tie_word_embeddings", False)),
        "position": "rope",
        "norm": "rmsnorm",
    }


def _llama(c: _Config) -> dict[str, Any]:
    d = _common(c)
    bias = bool(c("attention_bias", False))
    d.update(family="llama", qkv_bias=bias, out_bias=bias, mlp_bias=bool(c("mlp_bias", False)))
    return d


def _qwen2(c: _Config) -> dict[str, Any]:
    d = _common(c)
    d.update(family="qwen", qkv_bias=True)
    if c.arch == "Qwen2MoeForCausalLM":
        d["moe"] = _qwen_moe(c)
        shared = c("shared_expert_intermediate_size", 0)
        if shared:
            d["moe"].update(shared_experts=1, shared_ffn=shared)
    return d


def _qwen3(c: _Config) -> dict[str, Any]:
    d = _common(c)
    bias = bool(c("attention_bias", False))
    d.update(family="qwen", qk_norm=True, qkv_bias=bias, out_bias=bias)
    if c.arch == "Qwen3MoeForCausalLM":
        d["moe"] = _qwen_moe(c)
    return d


def _qwen_moe(c: _Config) -> dict[str, Any]:
    return {
        "experts": c("num_experts"),
        "top_k": c("num_experts_per_tok"),
        "expert_ffn": c("moe_intermediate_size"),
        "moe_every": c("decoder_sparse_step", 1),
        "dense_layer_ids": tuple(c("mlp_only_layers", [])),
    }


def _deepseek_moe(c: _Config, layers: int, first_dense: int, freq: int) -> dict[str, Any]:
    # DeepSeek: layer i is MoE when i >= first_k_dense_replace and i % moe_layer_freq == 0
    dense = tuple(i for i in range(first_dense, layers) if i % freq) if freq > 1 else ()
    return {"first_dense_layers": first_dense, "dense_layer_ids": dense}


def _deepseek(c: _Config) -> dict[str, Any]:
    d = _common(c)
    nope, rope, v = c("qk_nope_head_dim"), c("qk_rope_head_dim"), c("v_head_dim")
    d.update(
        family="kimi" if str(c("model_type", "")).startswith("kimi") else "deepseek",
        kv_heads=d["heads"],
        head_dim=nope + rope,
        attention="mla",
        mla={
            "q_lora_rank": c("q_lora_rank", None),
            "kv_lora_rank": c("kv_lora_rank"),
            "qk_nope_head_dim": nope,
            "qk_rope_head_dim": rope,
            "v_head_dim": v,
        },
        mtp_layers=c("num_nextn_predict_layers", 0),
    )
    experts = c("n_routed_experts", 0)
    if experts:
        moe = {
            "experts": experts,
            "top_k": c("num_experts_per_tok"),
            "expert_ffn": c("moe_intermediate_size"),
            "shared_experts": c("n_shared_experts", 0),
            "shared_ffn": c("moe_intermediate_size") if c("n_shared_experts", 0) else 0,
            "router_bias": c("topk_method", "") == "noaux_tc",
        }
        moe.update(_deepseek_moe(c, d["layers"], c("first_k_dense_replace", 0), c("moe_layer_freq", 1)))
        d["moe"] = moe
    return d


def _deepseek_dsa(c: _Config) -> dict[str, Any]:
    """DeepSeek-V3.2 and GLM-5: the V3 layout plus a DSA lightning indexer on every layer."""
    if "shared" in (c("indexer_types", None) or []):
        raise SpecError(f"{c.path}: shared indexers (indexer_types 'shared') are not supported for {c.arch}")
    d = _deepseek(c)
    d["sparse_attention"] = {
        "kind": "dsa",
        "index_heads": c("index_n_heads"),
        "index_head_dim": c("index_head_dim"),
        "index_topk": c("index_topk"),
    }
    if str(c("model_type", "")).startswith("glm"):
        d["family"] = "glm"
    return d


def _gpt_oss(c: _Config) -> dict[str, Any]:
    """gpt-oss: GQA with q/k/v/o biases and per-head sinks, MoE with expert biases on every
    layer, ``sliding_window`` on the layers ``layer_types`` marks ``sliding_attention``."""
    d = _common(c)
    bias = bool(c("attention_bias", True))
    types = c("layer_types", None) or []
    sliding = tuple(i for i, t in enumerate(types) if t == "sliding_attention")
    d.update(
        family="gpt-oss", qkv_bias=bias, out_bias=bias, mlp_bias=True, attention_sinks=True,
        moe={
            "experts": c("num_local_experts"),
            "top_k": c("num_experts_per_tok", None) or c("experts_per_token"),
            "expert_ffn": c("intermediate_size"),
            "router_bias": True,
        },
    )
    if sliding:
        d.update(sliding_window=c("sliding_window"), sliding_window_layers=sliding)
    return d


def _minimax_m2(c: _Config) -> dict[str, Any]:
    """MiniMax-M2: GQA with q/k RMSNorm (``per_layer``: over all heads), MoE on every layer.
    config.json may declare MTP modules (``num_mtp_modules``) that the release does not ship;
    they are not counted."""
    if any(t != 1 for t in c("attn_type_list", None) or []):
        raise SpecError(f"{c.path}: linear-attention layers (attn_type_list 0) are not supported for {c.arch}")
    d = _common(c)
    qk = bool(c("use_qk_norm", False))
    shared = c("shared_intermediate_size", 0)
    d.update(
        family="minimax", qk_norm=qk, qk_norm_per_layer=qk and c("qk_norm_type", "per_layer") == "per_layer",
        moe={
            "experts": c("num_local_experts"),
            "top_k": c("num_experts_per_tok"),
            "expert_ffn": c("intermediate_size"),
            "shared_experts": 1 if shared else 0,
            "shared_ffn": shared,
            "router_bias": bool(c("use_routing_bias", False)),
        },
    )
    return d


def _qwen3_next(c: _Config) -> dict[str, Any]:
    """Qwen3-Next and Qwen3.5-MoE: Gated DeltaNet layers (``layer_types`` ``linear_attention``)
    between gated GQA layers, MoE with a gated shared expert, MTP layers."""
    if c("intermediate_size", None) is None:  # every layer is MoE: no dense width in the file
        c = _Config({**c.data, "intermediate_size": c("moe_intermediate_size")}, c.path, c.arch)
    d = _common(c)
    types = c("layer_types", None) or []
    layout = (
        {"layers": tuple(i for i, t in enumerate(types) if t == "linear_attention")}
        if types else {"full_attention_interval": c("full_attention_interval")}
    )
    shared = c("shared_expert_intermediate_size", 0)
    d.update(
        family="qwen", qk_norm=True, attention_output_gate=bool(c("attn_output_gate", True)),
        mtp_layers=c("mtp_num_hidden_layers", 0) or c("num_nextn_predict_layers", 0),
        linear_attention={
            "kind": "gated_deltanet",
            **layout,
            "key_heads": c("linear_num_key_heads"),
            "value_heads": c("linear_num_value_heads"),
            "key_head_dim": c("linear_key_head_dim"),
            "value_head_dim": c("linear_value_head_dim"),
            "conv_kernel": c("linear_conv_kernel_dim", 4),
        },
    )
    d["moe"] = _qwen_moe(c)
    if shared:
        d["moe"].update(shared_experts=1, shared_ffn=shared, shared_expert_gate=True)
    return d


def _pangu_moe(c: _Config) -> dict[str, Any]:
    d = _common(c)
    nope, rope = c("attention_qk_dim"), c("attention_qk_rope_dim")
    d.update(
        family="pangu",
        kv_heads=d["heads"],
        head_dim=nope + rope,
        attention="mla",
        norms_per_layer=4,  # depth-scaled sandwich norm
        mla={
            "q_lora_rank": c("attention_q_lora_dim", None),
            "kv_lora_rank": c("attention_kv_lora_dim"),
            "qk_nope_head_dim": nope,
            "qk_rope_head_dim": rope,
            "v_head_dim": c("attention_v_dim"),
        },
        mtp_layers=c("num_mtp_layers", 0),
        moe={
            "experts": c("num_routed_experts"),
            "top_k": c("num_experts_per_tok"),
            "expert_ffn": c("moe_intermediate_size"),
            "shared_experts": c("num_shared_experts", 0),
            "shared_ffn": c("moe_intermediate_size") if c("num_shared_experts", 0) else 0,
            "first_dense_layers": c("num_dense_layers", 0),
        },
    )
    return d


ARCHITECTURES: dict[str, Callable[[_Config], dict[str, Any]]] = {
    "LlamaForCausalLM": _llama,
    "MistralForCausalLM": _llama,
    "Qwen2ForCausalLM": _qwen2,
    "Qwen2MoeForCausalLM": _qwen2,
    "Qwen3ForCausalLM": _qwen3,
    "Qwen3MoeForCausalLM": _qwen3,
    "DeepseekV2ForCausalLM": _deepseek,
    "DeepseekV3ForCausalLM": _deepseek,
    "KimiK2ForCausalLM": _deepseek,
    "KimiK25ForConditionalGeneration": _deepseek,
    "DeepseekV32ForCausalLM": _deepseek_dsa,
    "GlmMoeDsaForCausalLM": _deepseek_dsa,
    "GptOssForCausalLM": _gpt_oss,
    "MiniMaxM2ForCausalLM": _minimax_m2,
    "Qwen3NextForCausalLM": _qwen3_next,
    "Qwen3_5MoeForConditionalGeneration": _qwen3_next,
    "Qwen3_5MoeForCausalLM": _qwen3_next,
    "PanguUltraMoEForCausalLM": _pangu_moe,
}


def config_path(ref: str | Path) -> Path:
    """The ``config.json`` behind a file or directory path."""
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise SpecError(f"{ref}: no such file" + (" (no config.json in that directory)" if Path(ref).is_dir() else ""))
    return path


def _no_constant(c: str):
    raise ValueError(f"{c} is not a valid number")


def read_config(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: malformed JSON: {e}") from None
    except RecursionError:
        raise SpecError(f"{path}: malformed JSON: nested too deeply") from None
    except ValueError as e:  # NaN / Infinity, or an integer of too many digits
        raise SpecError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object")
    if "text_config" in data and "hidden_size" not in data and isinstance(data["text_config"], dict):
        data = {**data, **data["text_config"]}  # multimodal wrappers keep the LLM here
    return data


def model_from_hf(ref: str | Path) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json`` (file or directory)."""
    path = config_path(ref)
    data = read_config(path)
    archs = data.get("architectures") or []
    archs = [a for a in archs if isinstance(a, str)] if isinstance(archs, list) else [str(archs)]  # 1e9 or "X"
    arch = next((a for a in archs if a in ARCHITECTURES), None)
    if arch is None:
        got = ", ".join(map(str, archs)) or "none given"
        raise UnsupportedFeatureError(
            f"{path}: unsupported architecture ({got}); supported: {', '.join(ARCHITECTURES)}"
        )
    fields = ARCHITECTURES[arch](_Config(data, path, arch))
    name = _name(data, path)
    fields.update(name=name, title=f"{name} (from config.json)", source=str(path), confidence="A")
    return build(Model, fields, str(path))
