"""Fine-grained recompute: the modules Megatron-Core re-runs in the backward (``--recompute-modules``).

``--recompute-granularity selective --recompute-modules M ...`` (Megatron-Core v0.13+, the
DeepSeek-V3-on-GB200 article's sec. 2.2.2: "recomputing some modules with smaller computational
workload but larger memory occupation") re-runs the forward of each named module of every layer
just before its backward. Priced per layer per micro-batch from the layer's own parts:

* ``core_attn``: the attention core (Megatron's default; superpod's ``selective``);
* ``mla_up_proj``: MLA's up-projections (``q_b``, ``kv_b``), ``mlp``: a dense layer's MLP,
  ``shared_experts``: the shared experts: each the FLOP share of the named GEMMs in the layer's
  GEMM time, and their inputs' quantisation again under an FP8 recipe (the same share);
* ``moe``: the routed experts and shared experts (the dispatch is not re-sent: superpod's count);
* ``moe_act``: the experts' activation (read gate and up, write the product, BF16);
* ``layernorm``: the two RMSNorms (read and write the hidden state, BF16).

The host re-launches the recomputed linears too (:mod:`superpod.training.host`). The memory they
save is the modules' outputs the backward no longer keeps
(:func:`superpod.cost.memory_train.discarded_elements`).
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.compute import stream_s
from superpod.cost.hardware import BYTES, Hardware
from superpod.cost.layers import gemms
from superpod.errors import InvalidOptionError
from superpod.spec.model import Model

MODULES = ("core_attn", "mla_up_proj", "mlp", "shared_experts", "moe", "moe_act", "layernorm")
_GEMMS = {"mla_up_proj": ("q_b", "kv_b"), "mlp": ("mlp_up", "mlp_down"), "shared_experts": ("shared_up", "shared_down")}


def parse_modules(spec, model: Model) -> tuple[str, ...]:
    """``"mlp mla_up_proj"`` (spaces or commas) or a list, checked against the model."""
    names = spec.replace(",", " ").split() if isinstance(spec, str) else list(spec)
    if not names:
        raise InvalidOptionError("--recompute-modules needs at least one module: " + ", ".join(MODULES))
    for n in names:
        if n not in MODULES:
            raise InvalidOptionError(f"--recompute-modules: unknown module {n!r}; Megatron-Core's: {', '.join(MODULES)}")
        if n == "mla_up_proj" and model.mla is None:
            raise InvalidOptionError(f"--recompute-modules mla_up_proj needs an MLA model: {model.name} has none")
        if n in ("moe", "moe_act", "shared_experts") and model.moe is None:
            raise InvalidOptionError(f"--recompute-modules {n} needs an MoE model: {model.name} is dense")
    return tuple(dict.fromkeys(names))


def _share(model: Model, moe_layer: bool, names, tokens, tp) -> tuple[np.ndarray, np.ndarray, float]:
    """(FLOP share, quantised-element share, count) of the named GEMMs among the layer's."""
    T, t = floats(tokens), floats(tp)
    flops = quant = picked_f = picked_q = 0.0 * T
    count = 0.0
    for g in gemms(model, moe_layer):
        k = g.k / t if g.shard == "row" else g.k + 0 * t
        n = g.n / t if g.shard == "col" else g.n + 0 * t
        rows = T / t if g.name.startswith("shared") else T
        flops, quant = flops + rows * k * n, quant + (0.0 if g.name == "router" else rows * (k + n))
        if g.name in names:
            picked_f, picked_q, count = picked_f + rows * k * n, picked_q + rows * (k + n), count + 1
    return picked_f / np.maximum(flops, 1e-30), picked_q / np.maximum(quant, 1e-30), count


def _names(modules: tuple[str, ...]) -> set[str]:
    """The dense GEMMs the modules re-run (``moe`` includes the shared experts)."""
    out = {g for m in modules if m in _GEMMS for g in _GEMMS[m]}
    return out | set(_GEMMS["shared_experts"]) if "moe" in modules else out


def modules_s(model: Model, moe_layer: bool, modules: tuple[str, ...], part, attention_s, quant_s, tokens, tp, ep,
              etp, hw: Hardware) -> tuple[np.ndarray, np.ndarray]:
    """Seconds one layer's recomputed modules take for one micro-batch, and the linears re-launched.

    ``part(name)``: the layer's forward parts (``gemm_s``, ``experts_s``) in the plan's precision;
    ``attention_s`` its attention core, ``quant_s`` its quantisation passes (forward + backward)."""
    T = floats(tokens)
    # GEMM modules (an MoE layer has no mlp module: Megatron's mlp is the dense layers')
    f, q, c = _share(model, moe_layer, _names(modules), T, tp)
    out, linears = f * part("gemm_s") + q * quant_s / 2, c + 0.0 * T
    for mod in modules:
        if mod == "core_attn":
            out = out + attention_s
        elif mod == "moe" and moe_layer:
            local = np.maximum(model.moe.experts / (floats(ep) * floats(etp)), 1.0) * floats(etp)
            out, linears = out + part("experts_s"), linears + 2.0 * local
        elif mod == "moe_act" and moe_layer:
            rows = T / floats(tp) * model.moe.top_k
            out = out + stream_s(rows * 3.0 * model.moe.expert_ffn / floats(etp) * BYTES["bf16"], hw)
        elif mod == "layernorm":
            out = out + stream_s(2.0 * 2.0 * T * model.hidden * BYTES["bf16"], hw)
    return out, linears


def modules_flops_per_token(model: Model, modules: tuple[str, ...], attention_fwd_per_token: float) -> float:
    """Forward FLOPs per token per layer (averaged over the model's layers) the modules add (HFU)."""
    total = 0.0
    for moe_layer, n in ((False, model.dense_layers), (True, model.moe_layers)):
        if not n:
            continue
        per = sum(2.0 * g.k * g.n for g in gemms(model, moe_layer) if g.name in _names(modules))
        if moe_layer and "moe" in modules:
            mats = 2 if model.activation == "swiglu" else 1
            per += 2.0 * model.moe.top_k * (mats + 1) * model.hidden * model.moe.expert_ffn
        if "core_attn" in modules:
            per += attention_fwd_per_token
        total += n * per
    return total / model.layers
