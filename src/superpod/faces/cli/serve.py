"""``superpod serve`` and ``superpod simulate``: serving estimates and request-level simulation.

Registered on the main app by :mod:`superpod.faces.cli`; model logic lives in :mod:`superpod.serving`.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from superpod.faces.cli.app import JSON, command

PHASE_HELP = ("prefill | decode: one pool of a disaggregated deployment; both: co-located (continuous batching, "
              "chunked prefill); pd: both pools of a disaggregated deployment sized for the request mix.")

SERVE_HELP = """Serving throughput per chip and latency of MODEL on SYSTEM (several systems: side by side).

Metrics (JSON keys, SI units): prefill.tokens_per_s_per_chip = INPUT tokens/s per chip of the prefill pool
(cache hits included; computed_tokens_per_s_per_chip without them), prefill.ttft_s, prefill.batch_tokens_per_chip;
decode.tokens_per_s_per_chip = OUTPUT tokens/s per chip of the decode pool (= batch_per_chip / tpot_s, Little's law),
decode.tpot_s (time per output token seen by one user; with MTP = step / E[tokens per step]), decode.batch_per_chip
(sequences in flight per chip), decode.kv_bytes_per_chip; both.output_tokens_per_s_per_chip = OUTPUT tokens/s per
chip of a co-located deployment (first token included), both.ttft_s, both.tpot_s, both.concurrency (requests in
flight on the chips); *.tokens_per_s_per_tflops = per chip / dense peak at the GEMM precision (CloudMatrix's metric).
plan = the plan priced (picked: the parameters superpod chose); breakdown = where a step's time goes.
With no batch, concurrency or SLO: the maximum-throughput point that fits in memory.
Parallel degrees count ranks: a GPU is one, an Ascend 910C package two (EP320 = 160 NPUs).
"""


def _f(x: Optional[float], scale: float = 1.0) -> Optional[float]:
    return None if x is None else x * scale


def _human_record(rec: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if "prefill" in rec:
        p = rec["prefill"]
        rows += [("prefill input tok/s per chip", f"{p['tokens_per_s_per_chip']:,.0f}"),
                 ("prefill tok/s per TFLOPS", f"{p['tokens_per_s_per_tflops']:.2f}"),
                 ("prefill TTFT", f"{p['ttft_s'] * 1e3:,.0f} ms"),
                 ("prefill batch tokens per chip", f"{p['batch_tokens_per_chip']:,.0f}"),
                 ("prefill instance chips", f"{p['chips']:,.0f}")]
    if "decode" in rec:
        d = rec["decode"]
        rows += [("decode output tok/s per chip", f"{d['tokens_per_s_per_chip']:,.0f}"),
                 ("decode tok/s per TFLOPS", f"{d['tokens_per_s_per_tflops']:.2f}"),
                 ("decode TPOT", f"{d['tpot_s'] * 1e3:,.1f} ms"),
                 ("decode batch per chip", f"{d['batch_per_chip']:,.0f} (memory holds {d['max_batch_per_chip']:,.0f})"),
                 ("decode KV per chip", f"{d['kv_bytes_per_chip'] / 1e9:,.1f} GB"),
                 ("decode weights per chip", f"{d['weight_bytes_per_chip'] / 1e9:,.1f} GB"),
                 ("decode instance chips", f"{d['chips']:,.0f}")]
    if "both" in rec:
        b = rec["both"]
        rows += [("co-located output tok/s per chip", f"{b['output_tokens_per_s_per_chip']:,.0f}"),
                 ("co-located TTFT", f"{b['ttft_s'] * 1e3:,.0f} ms"), ("co-located TPOT", f"{b['tpot_s'] * 1e3:,.1f} ms"),
                 ("concurrency", f"{b['concurrency']:,.0f} on {b['chips']:,.0f} chips")]
    if "pd" in rec:
        d = rec["pd"]
        rows += [("PD output tok/s per chip (both pools)", f"{d['output_tokens_per_s_per_chip']:,.0f}"),
                 ("PD prefill : decode chips", f"{d['prefill_to_decode_chips']:.2f}"),
                 ("PD end-to-end TTFT", f"{d['ttft_s'] * 1e3:,.0f} ms"),
                 ("PD KV transfer (exposed)", f"{d['kv_transfer_s'] * 1e3:,.1f} ms ({d['kv_transfer_exposed_s'] * 1e3:,.2f} ms)")]
    for phase, label in (("prefill", "prefill input"), ("decode", "decode output"), ("both", "co-located output"), ("pd", "PD output")):
        if phase in rec and "tokens_per_s_per_system" in rec[phase]:
            x = rec[phase]
            rows += [(f"{label} tok/s, whole system", f"{x['tokens_per_s_per_system']:,.0f} ({rec['system_chips']:,} chips)"),
                     (f"{label} tok/s per kW (all-in power)", f"{x['tokens_per_s_per_kw']:,.0f}"),
                     (f"{label} energy per token", f"{x['energy_j_per_token']:.3g} J")]
    pl = rec["plan"]
    rows.append(("plan", f"{pl['quant']} weights, {pl['kv_dtype']} KV, TP {pl['tp']}, EP {pl['ep']}, MTP {pl['mtp_k']}"
                         f"@{pl['mtp_accept']:g}, EPLB {pl['eplb']}, overlap {'on' if pl['overlap'] else 'off'}, "
                         f"{pl['framework']}"))
    rows.append(("picked by superpod", ", ".join(pl["picked"]) or "-"))
    return rows


def _explain(c, rec: dict[str, Any]) -> None:
    from superpod.faces.report.output import table

    for phase, b in rec["breakdown"].items():
        rows = [[k.replace("_s", ""), f"{v * 1e3:,.2f}", f"{b['share'][k] * 100:.1f}%"] for k, v in b["parts_s"].items()]
        rows.append(["(step)", f"{b['step_s'] * 1e3:,.2f}", "100%"])
        c.print(f"{rec['system']} {phase}: time per step (ms)", markup=False)
        c.print(table(None, ["part", "ms", "share"], rows))
        c.print(f"communication hidden under compute: {b['hidden_comm_s'] * 1e3:,.2f} ms; "
                f"busiest EP rank's MoE load / mean: {b['imbalance']:.3f}", markup=False)


@command(help=SERVE_HELP)
def serve(
    model: str = typer.Argument(..., help="Catalog model name or a config file."),
    systems: list[str] = typer.Argument(..., metavar="SYSTEM...", help="One or more systems (several: compared side by side)."),
    chips: Optional[int] = typer.Option(None, "--chips", help="Chips of the pool (prefill/decode) or deployment (both); default: the system's size."),
    phase: str = typer.Option("decode", "--phase", help=PHASE_HELP),
    input_len: float = typer.Option(4096, "--input-len", help="Prompt tokens per request."),
    output_len: float = typer.Option(1024, "--output-len", help="Output tokens per request."),
    kv_len: Optional[float] = typer.Option(None, "--kv-len", help="Mean context per decode step (default input + output/2)."),
    cache_hit: float = typer.Option(0.0, "--cache-hit", help="Share of prompt tokens served from the prefix cache."),
    batch_per_chip: Optional[float] = typer.Option(None, "--batch-per-chip", help="Decode: sequences per chip; prefill: tokens per chip per step."),
    concurrency: Optional[float] = typer.Option(None, "--concurrency", help="Requests in flight on the --chips chips."),
    tpot_slo_ms: Optional[float] = typer.Option(None, "--tpot-slo-ms", help="TPOT target: the largest decode batch meeting it."),
    ttft_slo_ms: Optional[float] = typer.Option(None, "--ttft-slo-ms", help="TTFT target (prefill and co-located)."),
    quant: Optional[str] = typer.Option(None, "--quant", help="bf16 | fp8 | int8 | fp4 (default: the lowest precision the chip supports)."),
    kv_dtype: str = typer.Option("bf16", "--kv-dtype", help="bf16 | fp8 | int8."),
    tp: Optional[int] = typer.Option(None, "--tp", help="Tensor parallelism of attention/dense layers (ranks)."),
    ep: Optional[int] = typer.Option(None, "--ep", help="Expert parallelism (ranks)."),
    dp_attention: Optional[int] = typer.Option(None, "--dp-attention", help="Data-parallel attention ranks per instance (EP = TP x this)."),
    mtp: Optional[int] = typer.Option(None, "--mtp", help="MTP / speculative draft tokens per step."),
    mtp_accept: Optional[float] = typer.Option(None, "--mtp-accept", help="Per-token acceptance of the draft tokens."),
    eplb: str = typer.Option("balanced", "--eplb", help="perfect (idealised balance) | balanced (real routing, EPLB) | none."),
    overlap: Optional[bool] = typer.Option(None, "--overlap/--no-overlap", help="Two-micro-batch overlap of MoE communication (default: searched)."),
    framework: Optional[str] = typer.Option(None, "--framework", help="Serving framework factors (cloudmatrix-infer, sglang, deepseek, tensorrt-llm; default per chip)."),
    rate: Optional[float] = typer.Option(None, "--rate", help="With --phase pd: requests/s to size the pools for."),
    explain: bool = typer.Option(False, "--explain", help="Print where each step's time goes."),
    as_json: bool = JSON,
) -> None:
    from superpod.errors import InfeasiblePlanError, SuperpodError
    from superpod.faces.report.output import console, emit_json, table
    from superpod.planners.serve_estimate import serve as run

    given = [x is not None for x in (batch_per_chip, concurrency)]
    if sum(given) > 1:
        raise InfeasiblePlanError("give at most one of --batch-per-chip and --concurrency")
    kwargs = dict(chips=chips, phase=phase, input_len=input_len, output_len=output_len, kv_len=kv_len, cache_hit=cache_hit,
                  batch_per_chip=batch_per_chip, concurrency=concurrency, tpot_slo_s=_f(tpot_slo_ms, 1e-3),
                  ttft_slo_s=_f(ttft_slo_ms, 1e-3), quant=quant, kv_dtype=kv_dtype, tp=tp, ep=ep, dp=dp_attention,
                  mtp=mtp, mtp_accept=mtp_accept, eplb=eplb, overlap=overlap, framework=framework, rate=rate)
    if len(systems) == 1:
        rec = run(model, systems[0], **kwargs)
        if as_json:
            return emit_json(rec)
        c = console()
        c.print(table(f"{rec['model']} on {rec['system']} ({rec['chip']}), phase {phase}", ["metric", "value"],
                      [list(r) for r in _human_record(rec)]))
        if explain:
            _explain(c, rec)
        return None
    recs = []
    for s in systems:
        try:
            recs.append(run(model, s, **kwargs))
        except SuperpodError as e:
            recs.append({"system": s, "error": str(e)})
    if all("error" in r for r in recs):
        raise SuperpodError("; ".join(f"{r['system']}: {r['error']}" for r in recs))
    if as_json:
        return emit_json({"systems": recs})
    c = console()
    labels: list[str] = []
    per: list[dict[str, str]] = []
    for r in recs:
        d = {} if "error" in r else dict(_human_record(r))
        per.append(d)
        labels += [k for k in d if k not in labels]
    body = [[lab] + [p.get(lab, "-") for p in per] for lab in labels]
    c.print(table(f"{model} serving, phase {phase}", ["metric"] + [r["system"] for r in recs], body))
    for r in recs:
        if "error" in r:
            c.print(f"{r['system']}: {r['error']}", markup=False)
    if explain:
        for r in recs:
            if "error" not in r:
                _explain(c, r)


@command()
def simulate(
    model: str = typer.Argument(..., help="Catalog model name or a config file."),
    system: str = typer.Argument(..., help="System to serve on."),
    rate: float = typer.Option(..., "--rate", help="Mean request arrivals per second (Poisson)."),
    requests: int = typer.Option(..., "--requests", help="Requests to simulate."),
    input_dist: Optional[str] = typer.Option(None, "--input-dist", help="Prompt lengths: fixed:L, uniform:LO,HI, normal:MEAN,STD, exp:MEAN, lognormal:MEAN,SIGMA (default fixed:--input-len)."),
    output_dist: Optional[str] = typer.Option(None, "--output-dist", help="Output lengths, same forms (default fixed:--output-len)."),
    input_len: float = typer.Option(4096, "--input-len", help="Mean prompt length the plan is sized for."),
    output_len: float = typer.Option(1024, "--output-len", help="Mean output length the plan is sized for."),
    mode: Optional[str] = typer.Option(None, "--mode", help="pd (disaggregated pools) | colocated (default: pd for MoE models, colocated otherwise)."),
    chips: Optional[int] = typer.Option(None, "--chips", help="Chips of the whole deployment (default: the system's size)."),
    quant: Optional[str] = typer.Option(None, "--quant", help="bf16 | fp8 | int8 | fp4."),
    kv_dtype: str = typer.Option("bf16", "--kv-dtype", help="bf16 | fp8 | int8."),
    mtp: Optional[int] = typer.Option(None, "--mtp", help="MTP draft tokens."),
    mtp_accept: Optional[float] = typer.Option(None, "--mtp-accept", help="Draft acceptance."),
    tpot_slo_ms: Optional[float] = typer.Option(None, "--tpot-slo-ms", help="TPOT SLO: sizes the decode batch cap and counts goodput."),
    ttft_slo_ms: Optional[float] = typer.Option(None, "--ttft-slo-ms", help="TTFT SLO for goodput."),
    framework: Optional[str] = typer.Option(None, "--framework", help="Serving framework factors."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (stderr)."),
    as_json: bool = JSON,
) -> None:
    """Request-level simulation: continuous batching, queueing, prefill/decode pools; TTFT/TPOT p50/p90/p99 and goodput.

    JSON keys: ttft_s / tpot_s / e2e_s {p50, p90, p99, mean}; throughput_output_tokens_per_s (whole deployment);
    goodput_requests_per_s and goodput_fraction (requests meeting both SLOs); deployment (instances, batch caps).
    """
    from superpod.errors import InfeasiblePlanError
    from superpod.faces.report.output import console, emit_json, table
    from superpod.planners.serve_deployment import build_pools
    from superpod.serving.simulate import parse_dist, simulate as run
    from superpod.spec.catalog import load_model

    m = load_model(model)
    mode = mode or ("pd" if m.moe is not None else "colocated")
    if mode not in ("pd", "colocated"):
        raise InfeasiblePlanError(f"--mode must be pd or colocated, not {mode!r}")
    idist, odist = parse_dist(input_dist, input_len), parse_dist(output_dist, output_len)
    pools, info = build_pools(model, system, mode, input_len, output_len, chips=chips, quant=quant, kv_dtype=kv_dtype,
                              mtp=mtp, mtp_accept=mtp_accept, tpot_slo_s=_f(tpot_slo_ms, 1e-3), framework=framework)
    slo = dict(ttft_slo_s=_f(ttft_slo_ms, 1e-3), tpot_slo_s=_f(tpot_slo_ms, 1e-3))
    if progress and not as_json:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} requests"),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("sim", total=requests)
            out = run(pools, rate, requests, idist, odist, seed, progress=lambda d, n: bar.update(task, completed=d), **slo)
    else:
        out = run(pools, rate, requests, idist, odist, seed, **slo)
    out["mode"] = mode
    out["deployment"] = {k: v for k, v in info.items() if k != "estimate"}
    out["plan"] = info["estimate"]["plan"]
    if as_json:
        return emit_json(out)
    rows = [[name, *(f"{out[key][q] * 1e3:,.1f}" for q in ("p50", "p90", "p99", "mean"))]
            for name, key in (("TTFT (ms)", "ttft_s"), ("TPOT (ms)", "tpot_s"), ("end to end (ms)", "e2e_s"))]
    c = console()
    c.print(table(f"{model} on {system}: {requests:,} requests at {rate:g}/s ({mode})", ["latency", "p50", "p90", "p99", "mean"], rows))
    c.print(f"throughput {out['throughput_output_tokens_per_s']:,.0f} output tok/s, {out['throughput_requests_per_s']:,.2f} req/s; "
            f"goodput {out['goodput_requests_per_s']:,.2f} req/s ({out['goodput_fraction'] * 100:.1f}% within SLOs)", markup=False)
    c.print(f"deployment: {out['deployment']}", markup=False)
