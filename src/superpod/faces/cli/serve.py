"""``superpod serve`` and ``superpod simulate``: serving estimates and request-level simulation.

Registered on the main app by :mod:`superpod.faces.cli`; the work is :func:`superpod.api.serve` and
:func:`superpod.api.simulate`, the flags are :class:`~superpod.api.options.ServeOptions` and
:class:`~superpod.api.options.SimulateOptions`.
"""

from __future__ import annotations

from typing import Any

import typer

from superpod.api.options import ServeOptions, SimulateOptions
from superpod.faces.cli.app import JSON
from superpod.faces.cli.options import options_command
from superpod.planners.serve_cache import table_rows

SERVE_HELP = """Serving throughput per chip and latency of MODEL on SYSTEM (several systems: side by side).

Metrics (JSON keys, SI units): prefill.tokens_per_s_per_chip = INPUT tokens/s per chip of the prefill pool
(cache hits included; computed_tokens_per_s_per_chip without them), prefill.ttft_s, prefill.batch_tokens_per_chip;
decode.tokens_per_s_per_chip = OUTPUT tokens/s per chip of the decode pool (= batch_per_chip / tpot_s, Little's law),
decode.tpot_s (time per output token seen by one user; with MTP = step / E[tokens per step]), decode.batch_per_chip
(sequences in flight per chip), decode.kv_bytes_per_chip; both.output_tokens_per_s_per_chip = OUTPUT tokens/s per
chip of a co-located deployment (first token included), both.ttft_s, both.tpot_s, both.concurrency (requests in
flight on the chips); *.tokens_per_s_per_tflops = per chip / dense peak at the GEMM precision (CloudMatrix's metric).
plan = the plan priced (picked: the parameters superpod chose); breakdown = where a step's time goes.
cache = the caching tier (host-memory pool: served hit rate, fetch vs recompute, TTFT/prefill chips/cost saved, weight load).
With no batch, concurrency or SLO: the maximum-throughput point that fits in memory.
Parallel degrees count ranks: a GPU is one, an Ascend 910C package two (EP320 = 160 NPUs).
"""


def _chips(x: dict[str, Any]) -> str:
    """``80`` or, where a package holds several ranks, ``80 (160 ranks)``."""
    ranks = x.get("ranks", x["chips"])
    return f"{x['chips']:,.0f}" + (f" ({ranks:,.0f} ranks)" if ranks != x["chips"] else "")


def _human_record(rec: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if "prefill" in rec:
        p = rec["prefill"]
        rows += [("prefill input tok/s per chip", f"{p['tokens_per_s_per_chip']:,.0f}"),
                 ("prefill tok/s per TFLOPS", f"{p['tokens_per_s_per_tflops']:.2f}"),
                 ("prefill TTFT", f"{p['ttft_s'] * 1e3:,.0f} ms"),
                 ("prefill batch tokens per chip", f"{p['batch_tokens_per_chip']:,.0f}"),
                 ("prefill instance chips", _chips(p))]
    if "decode" in rec:
        d = rec["decode"]
        rows += [("decode output tok/s per chip", f"{d['tokens_per_s_per_chip']:,.0f}"),
                 ("decode tok/s per TFLOPS", f"{d['tokens_per_s_per_tflops']:.2f}"),
                 ("decode TPOT", f"{d['tpot_s'] * 1e3:,.1f} ms"),
                 ("decode batch per chip", f"{d['batch_per_chip']:,.0f} (memory holds {d['max_batch_per_chip']:,.0f})"),
                 ("decode KV per chip", f"{d['kv_bytes_per_chip'] / 1e9:,.1f} GB"),
                 ("decode weights per chip", f"{d['weight_bytes_per_chip'] / 1e9:,.1f} GB"),
                 ("decode instance chips", _chips(d))]
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
    rows += table_rows(rec.get("cache"))  # the caching tier, when a prefix is cached (issue 16)
    for phase, label in (("prefill", "prefill input"), ("decode", "decode output"), ("both", "co-located output"), ("pd", "PD output")):
        if phase in rec and "tokens_per_s_per_system" in rec[phase]:
            x = rec[phase]
            rows += [(f"{label} tok/s, whole system", f"{x['tokens_per_s_per_system']:,.0f} ({rec['system_chips']:,} chips)"),
                     (f"{label} tok/s per kW (IT power, nameplate)", f"{x['tokens_per_s_per_kw']:,.0f}"),
                     (f"{label} energy per token", f"{x['energy_j_per_token']:.3g} J")]
    pl = rec["plan"]
    rows.append(("plan", f"{pl['quant']} weights, {pl['kv_dtype']} KV, TP {pl['tp']}, EP {pl['ep']}, MoE TP {pl.get('moe_tp', 1)}, MTP {pl['mtp_k']}"
                         f"@{pl['mtp_accept']:g}, EPLB {pl['eplb']}, overlap {'on' if pl['overlap'] else 'off'}, "
                         f"{pl['framework']}"))
    rows.append(("picked by superpod", ", ".join(pl["picked"]) or "-"))
    return rows


@options_command(ServeOptions, help=SERVE_HELP)
def serve(o: ServeOptions, explain: bool = typer.Option(False, "--explain", help="Print where each step's time goes."),
          as_json: bool = JSON) -> None:
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    res = api.serve(o.model, o.systems[0] if len(o.systems) == 1 else o.systems, **o.kwargs())
    if as_json:
        return emit_json(res)
    c = console()
    if isinstance(res, api.ServeResult):
        c.print(table(f"{res.model} on {res.system} ({res.chip}), phase {o.phase}", ["metric", "value"],
                      [list(r) for r in _human_record(res.record)]))
        if explain:
            c.print(res.explain(), markup=False, highlight=False)
        return None
    labels: list[str] = []
    per: list[dict[str, str]] = []
    for r in res:
        d = {} if isinstance(r, api.ServeFailure) else dict(_human_record(r.record))
        per.append(d)
        labels += [k for k in d if k not in labels]
    body = [[lab] + [p.get(lab, "-") for p in per] for lab in labels]
    c.print(table(f"{o.model} serving, phase {o.phase}", ["metric"] + [r.system for r in res], body))
    for r in res:
        if isinstance(r, api.ServeFailure):
            c.print(r.explain(), markup=False)
    if explain:
        for r in res:
            if isinstance(r, api.ServeResult):
                c.print(r.explain(), markup=False, highlight=False)


@options_command(SimulateOptions)
def simulate(o: SimulateOptions,
             progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (stderr)."),
             as_json: bool = JSON) -> None:
    """Request-level simulation: continuous batching, queueing, prefill/decode pools; TTFT/TPOT p50/p90/p99 and goodput.

    JSON keys: ttft_s / tpot_s / e2e_s {p50, p90, p99, mean}; throughput_output_tokens_per_s (whole deployment);
    goodput_requests_per_s and goodput_fraction (requests meeting both SLOs); deployment (instances, batch caps).
    """
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    if progress and not as_json:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} requests"),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("sim", total=o.requests)
            res = api.simulate(o.model, o.system, progress=lambda d, n: bar.update(task, completed=d), **o.kwargs())
    else:
        res = api.simulate(o.model, o.system, **o.kwargs())
    if o.trace is not None:
        from superpod.faces.report import trace

        trace.write(trace.simulate_trace(res.record), o.trace)
    if as_json:
        return emit_json(res)
    out = res.record
    rows = [[name, *(f"{out[key][q] * 1e3:,.1f}" for q in ("p50", "p90", "p99", "mean"))]
            for name, key in (("TTFT (ms)", "ttft_s"), ("TPOT (ms)", "tpot_s"), ("end to end (ms)", "e2e_s"))]
    c = console()
    c.print(table(f"{o.model} on {o.system}: {o.requests:,} requests at {o.rate:g}/s ({res.mode})",
                  ["latency", "p50", "p90", "p99", "mean"], rows))
    c.print(f"throughput {out['throughput_output_tokens_per_s']:,.0f} output tok/s, {out['throughput_requests_per_s']:,.2f} req/s; "
            f"goodput {out['goodput_requests_per_s']:,.2f} req/s ({out['goodput_fraction'] * 100:.1f}% within SLOs)", markup=False)
    c.print(f"deployment: {out['deployment']}", markup=False)
