"""The microbenchmarks behind the calibration, re-predicted through the cost functions, and the
measured kernel tables priced by the fitted kernel models (:mod:`superpod.planners.kernel_tables`).

``catalog/calibration/anchors/`` lists each measurement (DeepGEMM, FlashMLA, DeepEP,
CloudMatrix operator tables, NCCL). :func:`anchor_rows` predicts each one with the same
functions the estimators use, so a calibration that drifts from its own microbenchmarks
shows up in the tests and in ``superpod calibration``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from superpod.spec.calibration import calibration_folder
from superpod.spec.catalog import load_chip, load_model, load_system
from superpod.cost.comm import collective_s, moe_a2a_s
from superpod.cost.compute import attention_s, gemm_s
from superpod.cost.hardware import BYTES, Hardware
from superpod.cost.layers import layer_train_s
from superpod.planners import kernel_tables as kt


@lru_cache(maxsize=1)
def anchors() -> tuple[dict[str, Any], ...]:
    return tuple(a for data, _ in calibration_folder("anchors") for a in data["anchors"])


def _mla(a: dict, hw: Hardware) -> tuple[float, float, float]:
    """FLOPs, bytes and time of one MLA decode of the anchor's model (absorbed form: keys of
    d_k = r_kv + d_rope, values of d_v = r_kv elements, BF16 KV; 576 and 512 for DeepSeek-V3)."""
    mla = load_model(a["model"]).mla
    d_k, d_v = mla.kv_lora_rank + mla.qk_rope_head_dim, mla.kv_lora_rank
    flops = 2.0 * a["batch"] * a["heads"] * a["q_len"] * a["kv_len"] * (d_k + d_v)
    nbytes = BYTES["bf16"] * a["batch"] * a["kv_len"] * d_k
    return flops, nbytes, float(attention_s(flops, nbytes, hw, "decode").total_s)


def predict(a: dict) -> float:
    """The anchor's quantity as superpod predicts it, in the anchor's unit."""
    kind = a["kind"]
    if kind == "gemm":
        hw = Hardware.of_chip(load_chip(a["chip"]))
        t = float(gemm_s(a["m"], a["n"], a["k"], hw, a["precision"], a["groups"], a["layout"]).total_s)
        flops = 2.0 * a["m"] * a["n"] * a["k"] * a["groups"]
        if a["unit"] == "TFLOPS":
            return flops / t / 1e12
        return 100 * flops / t / hw.peak(a["precision"])
    if kind == "mla_decode":
        hw = Hardware.of_chip(load_chip(a["chip"]))
        flops, nbytes, t = _mla(a, hw)
        return {
            "TFLOPS": flops / t / 1e12,
            "GB/s": nbytes / t / 1e9,
            "% of BF16 peak": 100 * flops / t / hw.peak("bf16"),
            "% of HBM bandwidth": 100 * nbytes / t / hw.hbm_Bps,
        }[a["unit"]]
    if kind == "moe_a2a":
        hw = Hardware.of(load_system(a["system"]).at())
        per_chip = hw.ranks_per_chip if a.get("devices") else 1.0
        ep = a["ep"] / per_chip
        tokens = a["tokens"] * per_chip
        t = moe_a2a_s(tokens, a["top_k"], a["token_bytes"], ep, hw, a["phase"], a["mode"])["total_s"]
        return float(t) * 1e6
    if kind == "megatron_layer":
        model = load_model(a["model"])
        hw = Hardware.of(load_system(a["system"]).at(a["tp"]))
        tokens = a["micro_batch"] * a["seq_len"]
        f = layer_train_s(model, False, tokens, a["seq_len"] / 2, a["tp"], 1, hw, "bf16", "materialized", a["sp"])
        t = f["fwd_s"] + f["tp_fwd_s"] if a["pass"] == "fwd" else f["bwd_s"] + f["tp_bwd_s"]
        return float(t) * 1e3
    if kind == "collective":
        hw = Hardware.of(load_system(a["system"]).at())
        t = float(collective_s(a["op"], a["size_bytes"], a["n"], hw)["total_s"])
        return a["size_bytes"] / t / 1e9
    raise ValueError(f"unknown anchor kind {kind!r}")


def anchor_rows() -> list[dict[str, Any]]:
    """Every anchor with its prediction and relative error."""
    rows = []
    for a in anchors():
        p = predict(a)
        rows.append({"id": a["id"], "kind": a["kind"], "measured": a["measured"], "predicted": p,
                     "unit": a["unit"], "error": p / a["measured"] - 1, "source": a["source"],
                     "low": a.get("low"), "high": a.get("high")})
    return rows


def kernel_tables(holdout: str | None = None, worst: int = 3, refit: bool = False) -> dict[str, Any]:
    """The measured kernel tables (``tables``), each priced on its shipped sample with the shipped
    parameters, the basis of those figures, and with ``holdout`` the leave-one-GPU-out record (recorded
    by the fits; with ``refit`` also refitted on the samples without that GPU)."""
    out: dict[str, Any] = {
        "tables_basis": ("shipped samples (catalog/calibration/silicon/samples, stratified rows of "
                         "AIConfigurator's perf database) priced with the shipped parameters "
                         "(catalog/calibration/silicon/*.toml); holdout: errors recorded by the fits on the full tables"),
        "tables": kt.table_rows(worst),
    }
    if holdout is not None:
        out["holdout"] = kt.holdout(holdout, worst)
        if refit:
            from superpod.planners.kernel_refit import refit_holdout

            r = refit_holdout(holdout)
            out["holdout"].update(refit=True, refit_seconds=r["seconds"], refit_log=r["log"])
            for t, rt in zip(out["holdout"]["tables"], r["tables"]):
                t["refit_on_samples"] = {k: v for k, v in rt.items() if k != "table"}
    return out
