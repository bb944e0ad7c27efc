"""Predictor of the ``serving`` validation group (``catalog/validation/serving.toml``).

Each case states its exact settings (model, system, phase, number formats, TP/EP,
batch per chip, lengths, MTP, EPLB, overlap, framework); the prediction is priced at
exactly those settings, with no search, and compared in the case's per-chip unit:

* ``metric = "prefill_tokens_per_s_per_chip"``: input tokens/s per chip of the prefill pool;
* ``metric = "decode_tokens_per_s_per_chip"``: output tokens/s per chip of the decode pool;
* ``metric = "output_tokens_per_s_per_chip"``: co-located serving, output tokens/s per chip
  (``batch = "max"``: the largest concurrency the KV memory holds, an offline
  maximum-throughput run).
"""

from __future__ import annotations

from typing import Any

from superpod.serving.colocated import colocated
from superpod.serving.context import make_ctx
from superpod.serving.decode import decode
from superpod.serving.context import Ctx
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.prefill import prefill


def case_ctx(case: dict[str, Any]) -> Ctx:
    return make_ctx(case["model"], case["system"], case.get("chips"), case["quant"], case.get("kv_dtype", "bf16"),
                    case.get("framework"))


def evaluate(c: Ctx, case: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The case's metric under context ``c`` (the fit script passes modified contexts)."""
    plan_args = dict(tp=case.get("tp", 1), ep=case.get("ep", 1), mtp_k=case.get("mtp_k", 0),
                     mtp_accept=case.get("mtp_accept", 0.0), eplb=case.get("eplb", "balanced"),
                     overlap=case.get("overlap", True))
    metric = case["metric"]
    if metric == "prefill_tokens_per_s_per_chip":
        r = prefill(c, ServePlan.one(batch=case["batch"], **plan_args), case["input_len"], case.get("cache_hit", 0.0))
        details = {"step_s": r["step_s"], "ttft_s": r["ttft_s"], "imbalance": r["imbalance"]}
        value = r["tokens_per_s_per_chip"]
    elif metric == "decode_tokens_per_s_per_chip":
        r = decode(c, ServePlan.one(batch=case["batch"], **plan_args), case["kv_len"])
        details = {"step_s": r["step_s"], "tpot_s": r["tpot_s"], "tokens_per_step": r["tokens_per_step"],
                   "free_bytes": r["free_bytes"], "imbalance": r["imbalance"]}
        value = r["tokens_per_s_per_chip"]
    elif metric == "output_tokens_per_s_per_chip":
        wl = Workload(case["input_len"], case["output_len"], case.get("kv_len"), case.get("cache_hit", 0.0))
        batch = case["batch"]
        if batch == "max":
            probe = colocated(c, ServePlan.one(batch=1, **plan_args), wl)
            batch = float(probe["max_batch"][0])
        r = colocated(c, ServePlan.one(batch=batch, **plan_args), wl)
        details = {"concurrency_per_chip": batch, "step_s": r["step_s"], "tpot_s": r["tpot_s"], "ttft_s": r["ttft_s"]}
        value = r["output_tokens_per_s_per_chip"]
    else:
        raise ValueError(f"unknown serving metric {metric!r}")
    return float(value[0]), {k: float(v[0]) if hasattr(v, "__len__") else float(v) for k, v in details.items()}


def predict(case: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """``(predicted value, details)`` for one case of ``serving.toml``."""
    return evaluate(case_ctx(case), case)
