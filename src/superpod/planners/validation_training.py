"""Predictor for the ``training`` validation group (``catalog/validation/training.toml``).

Each case pins the published plan; what the paper does not state (micro-batch size,
virtual stages, ...) is searched. The metric is computed the way the paper counts it:

* ``tflops_per_chip_eq3``: Narayanan et al. eq. 3, ``96 B s l h^2 (1 + s/6h + V/16lh)``
  (full recompute counted) per step per GPU;
* ``mfu_korthikanti``: eq. 7 model FLOPs ``72 B L s h^2 (1 + s/6h + V/12hL)`` over 312 TF;
* ``tflops_per_chip_palm`` / ``mfu_palm``: PaLM's ``6N + 12 L a d_h s`` per token;
* ``step_s``: the iteration time itself;
* ``tflops_per_chip_model``: superpod's model FLOPs (6 N_active + 3 x causal attention per
  token, no recompute; the terms Megatron-Core's ``num_floating_point_operations`` counts)
  per step per GPU;
* ``tokens_per_s_per_chip``: tokens per second per GPU (TorchTitan's TPS/GPU).

A case's ``precision`` (default bf16) selects the GEMM recipe; its ``subgroup`` (dense,
moe, fsdp, ascend) is the group its error is reported in.
"""

from __future__ import annotations

from typing import Any

from superpod.cost.hardware import Hardware
from superpod.planners.train_estimate import compare_plans
from superpod.planners.train_search import search
from superpod.spec.catalog import load_model, load_system


def _eq3(model, B, s) -> float:
    h, l, V = model.hidden, model.layers, model.vocab
    return 96.0 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))


def _eq7(model, B, s) -> float:
    h, L, V = model.hidden, model.layers, model.vocab
    return 72.0 * B * L * s * h * h * (1 + s / (6 * h) + V / (12 * h * L))


def _palm(model, B, s) -> float:
    return (6.0 * model.params + 12.0 * model.layers * model.heads * model.head_dim * s) * B * s


def predict(case: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    model = load_model(case["model"])
    sized = load_system(case["system"]).at(case["chips"])
    hw = Hardware.of(sized)
    s, B, n = case["seq_len"], case["global_batch"], case["chips"]
    prec = case.get("precision", "bf16")
    fw = case.get("framework", "megatron")
    # default: the chip's tdp_w, the framework's dispatcher
    run = {"power_limit_w": case.get("power_limit_w"), "chip": sized.system.chip, "dispatcher": case.get("dispatcher")}
    res = search(model, hw, s, B, dict(case.get("plan", {})), top=1, framework=fw, precision=prec,
                 recompute_modules=case.get("recompute_modules"), cuda_graph_scope=case.get("cuda_graph_scope"), **run)
    best = res.plans[0]
    t = best["step_s"]
    peak = hw.peak("bf16")
    metric = case["metric"]
    value = {
        "step_s": lambda: t,
        "tflops_per_chip_eq3": lambda: _eq3(model, B, s) / t / n / 1e12,
        "mfu_korthikanti": lambda: _eq7(model, B, s) / t / n / peak,
        "tflops_per_chip_palm": lambda: _palm(model, B, s) / t / n / 1e12,
        "mfu_palm": lambda: _palm(model, B, s) / t / n / peak,
        "tflops_per_chip_model": lambda: best["tflops_per_chip"],
        "tokens_per_s_per_chip": lambda: best["tokens_per_s_per_chip"],
    }[metric]()
    # the search given only model, system and batch must find a plan at least as fast
    free = search(model, hw, s, B, {}, top=1, framework=fw, precision=prec, **run).plans[0]
    why = compare_plans(best, free)["why"] if t > free["step_s"] * 1.15 else []
    return value, {"plan": best["plan"], "step_s": t, "mfu": best["mfu"], "breakdown": best["breakdown"],
                   "searched_plan": free["plan"], "searched_step_s": free["step_s"], "why": why}
