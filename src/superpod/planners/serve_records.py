"""The objects of a serving record that :func:`superpod.planners.serve_estimate.serve` (and the
sweep's fast path, :mod:`superpod.planners.sweep.fast`) build from a chosen plan and its priced
values: a phase's breakdown, the ``decode`` object (with what MTP buys), the ``plan`` object and the
closed-loop fields of a fixed-concurrency co-located run (the server as launched)."""

from __future__ import annotations

from typing import Any

import numpy as np

from superpod.serving.closed_loop import closed_loop
from superpod.serving.context import Ctx
from superpod.serving.decode import decode
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.scheduling import launched_scheduler


def _breakdown(values: dict[str, float], keys, total_key: str = "step_s") -> dict[str, Any]:
    total = values[total_key]
    parts = {k: values[k] for k in keys if k in values}
    return {"step_s": total, "parts_s": parts, "share": {k: v / total for k, v in parts.items()},
            "hidden_comm_s": values.get("hidden_comm_s", 0.0), "imbalance": values.get("imbalance", 1.0)}


def _tflops(c: Ctx) -> float:
    return c.hw.peak(c.quant) / 1e12


def _closed_loop_fields(c: Ctx, row: dict, wl: Workload, per_chip: float,
                        launched: dict[str, int | None] | None = None, length_ratio: float = 1.0) -> dict[str, Any]:
    """``--concurrency N`` co-located: the closed loop of a benchmark at N requests in flight
    (:func:`superpod.serving.closed_loop.closed_loop`): TTFT/TPOT as the benchmark reports them,
    the steady state, the running batch and the queue the KV cache leaves. ``launched``: scheduler
    settings the user gave (:func:`superpod.serving.scheduling.launched_scheduler`); ``length_ratio``: the
    benchmark's random length draw (``--random-range-ratio``)."""
    r = closed_loop(c, ServePlan.one(**(row | {"batch": per_chip})), wl, sched=launched_scheduler(c.fw.name, launched),
                    length_ratio=length_ratio)
    tp_c = max(row["tp"] / c.dev, 1.0)
    tput = r["output_tokens_per_s_per_chip"]
    return {"ttft_s": r["ttft_s"], "tpot_s": r["tpot_s"], "steady_ttft_s": r["steady_ttft_s"],
            "steady_tpot_s": r["steady_tpot_s"], "first_wave_ttft_s": r["first_wave_ttft_s"],
            "output_tokens_per_s_per_chip": tput, "input_tokens_per_s_per_chip": tput * wl.input_len / max(wl.output_len, 1.0),
            "running_batch_per_chip": r["running_batch"] / tp_c, "queued_per_chip": r["queued"] / tp_c,
            "scheduler_policy": r["policy"], "token_budget": r["token_budget"], "recv_interval": r["recv_interval"],
            "max_running": r["max_running"], "hold": r["hold"],
            "benchmark_requests_per_client": r["requests"] / max(r["concurrency"], 1.0),
            "kv_bytes_per_chip": r["kv_bytes_per_chip"]}


def decode_record(c: Ctx, v: dict[str, float], row: dict[str, Any], wl: Workload, chips: float) -> dict[str, Any]:
    """The record's ``decode`` object from the chosen plan ``row`` and its priced values ``v``
    (with MTP, ``mtp_speedup``: TPOT without drafts / with them at the same plan and batch)."""
    out = {
        "tokens_per_s_per_chip": v["tokens_per_s_per_chip"],
        "tokens_per_s_per_tflops": v["tokens_per_s_per_chip"] / _tflops(c),
        "tpot_s": v["tpot_s"], "step_s": v["step_s"], "batch_per_chip": v["batch_per_chip"] if "batch_per_chip" in v else row["batch"],
        "tokens_per_step": v["tokens_per_step"], "kv_bytes_per_chip": v["kv_bytes_per_chip"],
        "weight_bytes_per_chip": v["weight_bytes"], "max_batch_per_chip": v["max_batch"],
        "kv_len": wl.decode_context, "chips": chips,
    }
    if row.get("mtp_k"):  # what the drafts buy at this plan and batch (serve --explain says when they cost more)
        t0 = decode(c, ServePlan.one(**(row | {"mtp_k": 0, "mtp_accept": 0.0, "batch": out["batch_per_chip"]})),
                    wl.decode_context)["tpot_s"]
        out["mtp_speedup"] = float(np.ravel(t0)[0]) / v["tpot_s"]
    return out


def plan_record(c: Ctx, first: dict[str, Any], k: int, acc: float, eplb: str, wl: Workload, rows: dict[str, dict],
                picked: set[str], assumed: list[str]) -> dict[str, Any]:
    """The record's ``plan`` object: formats, the first phase's parallel layout (ranks), MTP, workload."""
    return {
        "quant": c.quant, "kv_dtype": c.kv_dtype, "framework": c.fw.name,
        "tp": first["tp"], "ep": first["ep"], "dp": max(first["ep"] * first["moe_tp"] // first["tp"], 1) if c.model.moe else 1,
        "moe_tp": first["moe_tp"], "moe_ep": first["ep"],
        "mtp_k": k, "mtp_accept": acc, "eplb": eplb, "overlap": first["overlap"],
        "input_len": wl.input_len, "output_len": wl.output_len, "kv_len": wl.decode_context, "cache_hit": wl.cache_hit,
        "per_phase": rows, "picked": sorted(picked), "assumed": assumed,
    }
