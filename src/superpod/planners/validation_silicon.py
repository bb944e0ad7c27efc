"""Validation group ``silicon``: measured end-to-end serving runs priced with exactly their settings.

Rows are in AIConfigurator's ``silicon_sample.csv`` format (the public file ships as
``catalog/validation/silicon/serving_measured.csv``; any user file in the same format works). Each
row is one benchmark run at fixed concurrency with fixed input/output lengths; superpod prices it
with the row's own deployment (no search) and compares the mean TTFT and TPOT:

* aggregated rows (``mode = agg``): one worker of ``tp x pp x attention_dp`` GPUs whose
  ``batch_size x attention_dp`` clients run the closed-loop benchmark (all start together, each
  sends its next request when one finishes), iteration by iteration under the framework's
  scheduler and token budget (:func:`superpod.serving.closed_loop.closed_loop`), with the row's
  benchmark harness (``catalog/validation/silicon/harness.toml``: requests per client, random or
  fixed lengths, matched on ``silicon_data_source``);
* disaggregated rows (``mode = disagg``): the stated prefill and decode pools at the run's
  concurrency (``silicon_concurrency`` in ``silicon_data_source``): prefill queueing, the KV
  transfer between the workers, the decode workers' load
  (:func:`superpod.serving.disaggregated.disaggregated`).

Expert layouts are the rows' own (``moe_tp`` x ``moe_ep``, :class:`~superpod.serving.plan.ServePlan`);
the KV cache is the framework's default for the GEMM format, unless the co-located row is one of
InferenceMAX's whose launch script states it: then its KV format, token budget, cap on running
requests, memory fraction and (SGLang) receive interval are the script's
(``catalog/validation/silicon/servers.toml``, :func:`apply_server`); runs that used MTP their row does not
state are priced with it (``catalog/validation/silicon/speculative.toml``,
:func:`superpod.planners.silicon_rows.speculative`); no two-micro-batch overlap (off by
default in all three: SGLang ``--enable-two-batch-overlap``, vLLM ``--enable-dbo``, TensorRT-LLM); weight-only formats (``int4_wo``, FP4
experts on Hopper) store the experts in 4 bits and run BF16 GEMMs.
A row superpod cannot express (a model or number format it lacks,
pipeline parallelism in serving, a framework without catalog factors) is ``unsupported`` with
the reason; a row whose deployment does not fit is ``infeasible`` with the reason; a
disaggregated row that states neither its decode batch nor its worker counts does not determine
its deployment (``UNDETERMINED``) and is left out of the gate's denominator, which the summary
states. No row is dropped. Rows that share model, system, framework and formats are priced in one vectorised call.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from superpod.errors import DoesNotFitError, SuperpodError
from superpod.planners.silicon_rows import (
    Row,
    default_file,
    harness,
    mark_unsupported,
    read_rows,
    row_settings,
)
from superpod.planners import silicon_servers
from superpod.serving.closed_loop import closed_loop, max_sequences, scheduler
from superpod.serving.context import make_ctx
from superpod.serving.disaggregated import disaggregated
from superpod.serving.plan import ServePlan, Workload

#: the partition keys of the report
PARTITION = ("framework", "gpu", "model", "mode", "precision")
#: the accuracy gate over the public file (as NVIDIA's AIConfigurator gates itself against its silicon runs)
GATE = {"tpot_mape": 0.12, "ttft_mape": 0.25, "answered_share": 0.95}


def _moe(c, tp: int, dp: int, moe_tp: int, moe_ep: int) -> tuple[int, int] | str:
    """superpod's ``(moe_tp, ep)`` for a pool's expert layout, or why it cannot be expressed."""
    if c.model.moe is None:
        return 1, 1
    if moe_tp * moe_ep != tp * dp:
        return f"moe_tp {moe_tp} x moe_ep {moe_ep} is not tp {tp} x attention dp {dp}"
    return moe_tp, moe_ep


def _run_concurrency(row: Row, default: float) -> float:
    """Requests in flight of the run (``silicon_concurrency=N`` in ``silicon_data_source``)."""
    m = re.search(r"silicon_concurrency=(\d+)", row.raw.get("silicon_data_source", ""))
    return float(m.group(1)) if m else float(default)


def _price_group(rows: list[Row]) -> None:
    s = rows[0].settings
    try:
        c = make_ctx(s["model"], s["system"], None, s["quant"], s["kv"], s["framework"], s["experts"], s["fp8_blocks"])
    except SuperpodError as e:
        for r in rows:
            r.status, r.reason = "unsupported", str(e)
        return
    for r in rows:
        st = r.settings
        moe = _moe(c, st["tp"], st["dp"], st["moe_tp"], st["moe_ep"])
        if isinstance(moe, str):
            mark_unsupported(r, moe)
            continue
        mtp, ep = moe
        wl = Workload(st["isl"], st["osl"])
        gpus = st["tp"] * st["dp"]
        try:
            plan = ServePlan.one(tp=st["tp"], ep=ep, moe_tp=mtp, dp=st["dp"], batch=st["batch"] * st["dp"] / gpus,
                                 overlap=0, mtp_k=st.get("mtp_k", 0), mtp_accept=st.get("mtp_accept", 0.0))
            if st["mode"] == "agg":
                sched = scheduler(c.fw.name).model_copy(update=st["sched"]) if st.get("sched") else None
                ttft, tpot = _price_agg(c, plan, wl, *harness(r.raw), sched=sched)
            else:
                pmoe = _moe(c, st["p_tp"], st["p_dp"], st["p_moe_tp"], st["p_moe_ep"])
                if isinstance(pmoe, str):
                    mark_unsupported(r, "prefill pool: " + pmoe)
                    continue
                pplan = ServePlan.one(tp=st["p_tp"], ep=pmoe[1], moe_tp=pmoe[0], dp=st["p_dp"], batch=1.0, overlap=0)
                ttft, tpot = _price_disagg(c, r, plan, pplan, wl)
        except SuperpodError as e:
            r.status, r.reason = "infeasible", str(e)
            continue
        if not (math.isfinite(ttft) and math.isfinite(tpot)):
            r.status, r.reason = "infeasible", "no finite estimate"
            continue
        r.predicted_ttft_ms, r.predicted_tpot_ms = ttft * 1e3, tpot * 1e3


def _price_agg(c, plan: ServePlan, wl: Workload, rounds: int | None = None,
               length_ratio: float = 1.0, sched=None) -> tuple[float, float]:
    """One co-located worker (``plan.batch``: its clients per chip) as the closed-loop benchmark
    runs it (with the row's harness: requests per client, random or fixed lengths); a run at a
    concurrency above batch x dp spreads it over that many workers, each at its batch. The KV
    cache runs what fits and queues (or, paged, preempts) the rest; above the framework's cap on
    running requests the rest queue. ``sched``: the framework's scheduler with the row's launch
    settings (:func:`apply_server`), or None for the framework's own."""
    out = closed_loop(c, plan, wl, rounds_per_client=rounds, length_ratio=length_ratio, sched=sched)
    return out["ttft_s"], out["tpot_s"]


def _price_disagg(c, r: Row, plan: ServePlan, pplan: ServePlan, wl: Workload) -> tuple[float, float]:
    """Explicit pools: ``plan`` one decode worker at its batch, ``pplan`` one prefill worker, as many
    of each as the row states, at the run's concurrency. A row that does not state its decode
    pool: one decode worker's ranks hold the concurrency, in as many workers as their KV cache
    needs; prefill workers enough to keep up (:func:`superpod.serving.disaggregated.disaggregated`)."""
    tp, dp = float(np.ravel(plan.tp)[0]), float(np.ravel(plan.dp)[0])
    gpus = tp * dp
    stated = r.num("decode_num_workers") is not None and r.num("decode_batch_size") is not None
    d_workers = int(r.num("decode_num_workers", 1))
    per_rank = float(np.ravel(plan.batch)[0]) * gpus / dp
    conc = _run_concurrency(r, per_rank * dp * d_workers)
    if not stated:
        per_rank = conc / dp
        fits = max_sequences(c, plan, wl.input_len + wl.output_len) / dp
        if fits >= 1:
            d_workers = math.ceil(per_rank / fits)
            per_rank = per_rank / d_workers
        plan = ServePlan.one(**(plan.row(0) | {"batch": per_rank * dp / gpus}))
    p_workers = r.num("prefill_num_workers")
    out = disaggregated(c, pplan, plan, wl.input_len, wl.output_len, conc,
                        prefill_workers=int(p_workers) if p_workers is not None else None,
                        decode_workers=d_workers, prefill_batch=float(r.num("prefill_batch_size", 1)),
                        rounds_per_client=harness(r.raw)[0])
    if out["prefill_free_bytes"] < 0:
        raise DoesNotFitError(f"the prefill worker's weights and batch exceed the memory by "
                              f"{-out['prefill_free_bytes'] / 1e9:.1f} GB per GPU")
    return out["ttft_s"], out["tpot_s"]


def apply_server(row: Row) -> None:
    """Put the launch settings InferenceMAX's scripts give the row's group
    (``catalog/validation/silicon/servers.toml``, :mod:`superpod.planners.silicon_servers`) into its
    settings: the KV-cache format (``kv``) and the scheduler fields to replace (``sched``); a row
    no entry matches is left as it is."""
    s = row.settings
    names = {"isl": float(row.raw["isl"]), "osl": float(row.raw["osl"]),
             "conc": _run_concurrency(row, s["batch"] * s["dp"]), "tp": s["tp"], "dp": s["dp"],
             "gpus": s["tp"] * s["dp"]}
    srv = silicon_servers.server(row.raw, s["framework"], names)
    if srv is None:
        return
    if srv.kv_dtype is not None:
        s["kv"] = srv.kv_dtype
    s["sched"], s["server"] = srv.update, srv.name


def _mape(pairs: list[tuple[float, float]]) -> float | None:
    return float(np.mean([abs(p - m) / m for p, m in pairs])) if pairs else None


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows, answered rows, and TTFT/TPOT MAPE over the answered ones."""
    ok = [r for r in records if r["status"] == "ok"]
    ttft = [(r["predicted_ttft_ms"], r["measured_ttft_ms"]) for r in ok]
    tpot = [(r["predicted_tpot_ms"], r["measured_tpot_ms"]) for r in ok]
    return {"rows": len(records), "answered": len(ok), "ttft_mape": _mape(ttft), "tpot_mape": _mape(tpot)}


def gate(summary: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary with the answered share and the gate verdict. The share's denominator is the rows
    of supported models that state their deployment: a disaggregated row without its decode pool
    (``UNDETERMINED``) cannot be priced by any model, so it is counted and named, not gated."""
    supported = sum(r["model_supported"] for r in records)
    undetermined = sum(r["model_supported"] and not r.get("deployment_stated", True) for r in records)
    denominator = supported - undetermined
    share = summary["answered"] / denominator if denominator else 0.0
    within = (share >= GATE["answered_share"] and summary["tpot_mape"] is not None
              and summary["tpot_mape"] <= GATE["tpot_mape"] and summary["ttft_mape"] <= GATE["ttft_mape"])
    return summary | {"supported_model_rows": supported, "undetermined_deployment_rows": undetermined,
                      "gate_rows": denominator,
                      "gate_denominator": (f"{denominator:,} rows of supported models that state their deployment "
                                           f"({supported:,} rows of supported models less {undetermined:,} "
                                           f"disaggregated rows without their decode pool)"),
                      "answered_share": share, "gate": dict(GATE), "within_gate": bool(within)}


def worst(records: list[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` answered rows with the largest TPOT or TTFT error."""
    def err(r):
        return max(abs(r["predicted_tpot_ms"] / r["measured_tpot_ms"] - 1), abs(r["predicted_ttft_ms"] / r["measured_ttft_ms"] - 1))
    ok = [r for r in records if r["status"] == "ok"]
    return sorted(ok, key=err, reverse=True)[:n]


def validate_silicon(path: str | Path | None = None) -> dict[str, Any]:
    """Price every row of ``path`` (default: the public file) and report errors per row and partition."""
    p = Path(path) if path is not None else default_file()
    rows = read_rows(p)
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        row_settings(r)
        if r.status == "ok":
            apply_server(r)
            s = r.settings
            groups[(s["model"], s["system"], s["framework"], s["quant"], s["kv"], s["experts"], s["fp8_blocks"])].append(r)
    for g in groups.values():
        _price_group(g)
    records = [r.record() for r in rows]
    parts: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        parts[tuple(rec[k] for k in PARTITION)].append(rec)
    partitions = [dict(zip(PARTITION, key)) | summarise(recs) for key, recs in sorted(parts.items())]
    shown = str(p) if path is not None else "catalog/validation/silicon/serving_measured.csv (public)"
    return {"file": shown, "rows": records, "partitions": partitions,
            "summary": gate(summarise(records), records), "worst": [r["id"] for r in worst(records)]}
