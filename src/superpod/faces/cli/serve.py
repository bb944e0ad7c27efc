"""``superpod serve`` and ``superpod simulate``: serving estimates and request-level simulation.

Registered on the main app by :mod:`superpod.faces.cli`; the work is :func:`superpod.api.serve` and
:func:`superpod.api.simulate`, the flags are :class:`~superpod.api.options.ServeOptions` and
:class:`~superpod.api.options.SimulateOptions`.
"""

from __future__ import annotations

from typing import Any

import typer

from superpod.api.options import PlotParetoOptions, ServeOptions, SimulateOptions
from superpod.faces.cli.app import JSON
from superpod.faces.cli.options import options_command
from superpod.planners.serve_cache import table_rows
from superpod.faces.cli.sweep import _plot_app

SERVE_HELP = """Serving throughput per chip and latency of MODEL on SYSTEM (several systems: side by side).

Metrics (JSON keys, SI units): prefill.tokens_per_s_per_chip = INPUT tokens/s per chip of the prefill pool
(cache hits included; computed_tokens_per_s_per_chip without them), prefill.ttft_s, prefill.batch_tokens_per_chip;
decode.tokens_per_s_per_chip = OUTPUT tokens/s per chip of the decode pool (= batch_per_chip / tpot_s, Little's law),
decode.tpot_s (time per output token seen by one user; with MTP = step / E[tokens per step]), decode.batch_per_chip
(sequences in flight per chip), decode.kv_bytes_per_chip; both.output_tokens_per_s_per_chip = OUTPUT tokens/s per
chip of a co-located deployment (first token included), both.ttft_s, both.tpot_s, both.concurrency (requests in
flight on the chips); *.tokens_per_s_per_tflops = per chip / dense peak at the GEMM precision (CloudMatrix's metric).
*.tokens_per_s_per_system = the whole instances the system's nodes and scale-up domains hold (instances, chips_used,
chips_left) x their chips x the per-chip rate, and the plan search ranks plans by it (pd: the deployment's capacity);
*.tokens_per_s_per_kw and energy_j_per_token are per kW and per token of the chips deployed.
plan = the plan priced (picked: the parameters superpod chose); breakdown = where a step's time goes.
cache = the caching tier (host-memory pool: served hit rate, fetch vs recompute, TTFT/prefill chips/cost saved, weight load).
With no batch, concurrency or SLO: the maximum-throughput point that fits in memory.
Parallel degrees count ranks: a GPU is one, an Ascend 910C package two (EP320 = 160 NPUs).
"""


def _chips(x: dict[str, Any]) -> str:
    """``80`` or, where a package holds several ranks, ``80 (160 ranks)``."""
    ranks = x.get("ranks", x["chips"])
    return f"{x['chips']:,.0f}" + (f" ({ranks:,.0f} ranks)" if ranks != x["chips"] else "")


def _placed(rec: dict[str, Any], x: dict[str, Any]) -> str:
    """``3 x 24 chips of 72`` (whole instances on the system) or, for a deployment, ``384 of 384 chips``."""
    n = rec["system_chips"]
    if "instances" not in x:
        return f"{n:,} chips"
    used = f"{x['chips_used']:,} of {n:,} chips" if "deployment" in rec and "pd" in rec else \
        f"{x['instances']:,} x {x['chips_used'] // max(x['instances'], 1):,} chips of {n:,}"
    return used + (f", {x['chips_left']:,} left" if x["chips_left"] else "")


def _human_record(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """The table rows of one record. With ``--phase pd`` the prefill and decode rows are each phase's
    best plan alone (what the pools are sized from); the deployment rows say what the chips run."""
    rows: list[tuple[str, str]] = []
    pd = "pd" in rec
    alone = " (best plan alone)" if pd else ""
    if "prefill" in rec:
        p = rec["prefill"]
        rows += [(f"prefill input tok/s per chip{alone}", f"{p['tokens_per_s_per_chip']:,.0f}"),
                 ("prefill tok/s per TFLOPS", f"{p['tokens_per_s_per_tflops']:.2f}"),
                 ("prefill TTFT", f"{p['ttft_s'] * 1e3:,.0f} ms"),
                 ("prefill batch tokens per chip", f"{p['batch_tokens_per_chip']:,.0f}")]
        rows += [] if pd else [("prefill instance chips", _chips(p))]
    if "decode" in rec:
        d = rec["decode"]
        rows += [(f"decode output tok/s per chip{alone}", f"{d['tokens_per_s_per_chip']:,.0f}"),
                 ("decode tok/s per TFLOPS", f"{d['tokens_per_s_per_tflops']:.2f}"),
                 ("decode TPOT", f"{d['tpot_s'] * 1e3:,.1f} ms"),
                 ("decode batch per chip", f"{d['batch_per_chip']:,.0f} (memory holds {d['max_batch_per_chip']:,.0f})"),
                 ("decode KV per chip", f"{d['kv_bytes_per_chip'] / 1e9:,.1f} GB"),
                 ("decode weights per chip", f"{d['weight_bytes_per_chip'] / 1e9:,.1f} GB")]
        rows += [] if pd else [("decode instance chips", _chips(d))]
    if "both" in rec:
        b = rec["both"]
        rows += [("co-located output tok/s per chip", f"{b['output_tokens_per_s_per_chip']:,.0f}"),
                 ("co-located TTFT", f"{b['ttft_s'] * 1e3:,.0f} ms"), ("co-located TPOT", f"{b['tpot_s'] * 1e3:,.1f} ms"),
                 ("concurrency", f"{b['concurrency']:,.0f} on {b['chips']:,.0f} chips")]
    if "pd" in rec:
        d = rec["pd"]
        rows += [("PD end-to-end TTFT", f"{d['ttft_s'] * 1e3:,.0f} ms"),
                 ("PD KV transfer (exposed)", f"{d['kv_transfer_s'] * 1e3:,.1f} ms ({d['kv_transfer_exposed_s'] * 1e3:,.2f} ms)")]
    rows += table_rows(rec.get("cache"))  # the caching tier, when a prefix is cached (issue 16)
    rows += _deployment_rows(rec)
    for phase, label in (("prefill", "prefill input"), ("decode", "decode output"), ("both", "co-located output"), ("pd", "PD output")):
        if phase in rec and "tokens_per_s_per_system" in rec[phase] and not (pd and phase in ("prefill", "decode")):
            x = rec[phase]
            rows += [(f"{label} tok/s, whole system", f"{x['tokens_per_s_per_system']:,.0f} ({_placed(rec, x)})"),
                     (f"{label} tok/s per kW (IT power, nameplate)", f"{x['tokens_per_s_per_kw']:,.0f}"),
                     (f"{label} energy per token", f"{x['energy_j_per_token']:.3g} J")]
    rows += _fleet_rows(rec)
    pl = rec["plan"]
    layout = "" if pd else f"TP {pl['tp']}, EP {pl['ep']}, MoE TP {pl.get('moe_tp', 1)}, "  # pd: the deployment rows
    rows.append(("plan", f"{pl['quant']} weights, {pl['kv_dtype']} KV, {layout}MTP {pl['mtp_k']}"
                         f"@{pl['mtp_accept']:g}, EPLB {pl['eplb']}, overlap {'on' if pl['overlap'] else 'off'}, "
                         f"{pl['framework']}"))
    rows.append(("picked by superpod", ", ".join(pl["picked"]) or "-"))
    return rows


def _pool(w: dict[str, Any]) -> str:
    dp = f", DP-attn {w['dp_attention']}" if w["dp_attention"] > 1 else ""
    mt = f", MoE TP {w['moe_tp']}" if w["moe_tp"] > 1 else ""
    return f"{w['workers']} x {w['chips_per_worker']} chips (TP {w['tp']}, EP {w['moe_ep']}{mt}{dp})"


def _deployment_rows(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """The integer deployment and its capacity (issue 12), when the record has one."""
    if "deployment" not in rec:
        return []
    d = rec["deployment"]
    rows = []
    if d["mode"] == "pd":
        rows += [("deployment: prefill workers", _pool(d["prefill"]) + f", {d['prefill']['batch']:,.0f} prompt tok/chip/step"),
                 ("deployment: decode workers", _pool(d["decode"]) + f", {d['decode']['batch']:,.0f} seq/chip")]
    else:
        rows.append(("deployment: co-located replicas", _pool(d["replicas"]) + f", {d['replicas']['batch']:,.0f} seq/chip"))
    rows += [("deployment: chips used / left", f"{d['chips_used']:,} / {d['chips_left']:,} ({d['nodes_used']:,} nodes)"),
             (f"capacity at p{rec['slo_percentile']} of the targets",
              f"{rec['capacity_requests_per_s']:,.2f} req/s, {rec['capacity_output_tokens_per_s']:,.0f} output tok/s "
              f"({rec['capacity_bound']}-bound)")]
    return rows


def _fleet_rows(rec: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if "fleet" in rec:
        f = rec["fleet"]
        sysn = f" = {f['systems']:,} systems" if f.get("systems") else ""
        rows += [("fleet: instances of the deployment", f"{f['instances']:,}{sysn} ({f['chips']:,} chips, {f['racks']:,.0f} racks)"),
                 ("fleet: output tok/s held", f"{f['output_tokens_per_s']:,.0f} ({f['requests_per_s']:,.0f} req/s)"),
                 ("fleet: power IT / facility", f"{f['power_it_w'] / 1e6:,.2f} MW / {f['power_facility_w'] / 1e6:,.2f} MW (PUE {f['pue']:g})")]
    if "cost" in rec:
        k = rec["cost"]
        rows += [("cost: $ per M output tokens", f"{k['usd_per_mtok_output']:,.3f} (all-in {k['usd_per_mtok_all_in']:,.3f})"),
                 ("cost: $ per M input tokens", f"{k['usd_per_mtok_input']:,.3f}"),
                 ("cost: TCO per year", f"${k['tco_usd_per_year'] / 1e6:,.1f}M (capex ${k['capex_usd'] / 1e6:,.1f}M over "
                                        f"{k['amortisation_years']:g} y, energy {k['energy_share_of_cost'] * 100:.0f}%)"),
                 ("cost: electricity", f"${k['electricity_usd_per_kwh']:.3f}/kWh")]
    return rows


def _cost_sources(rec: dict[str, Any]) -> str:
    b = rec["cost"]["bases"]
    return "cost inputs: " + "; ".join(f"{k}: {v}" for k, v in b.items())


def _thin(points: list, n: int) -> list:
    """At most ``n`` points spread evenly along the frontier (the JSON keeps all)."""
    if len(points) <= n:
        return points
    idx = sorted({round(i * (len(points) - 1) / (n - 1)) for i in range(n)})
    return [points[i] for i in idx]


def _pareto_table(rec: dict[str, Any]):
    from superpod.faces.report.output import table

    p = rec["pareto"]
    rows = [[f"{x['tokens_per_s_per_user']:,.1f}", f"{x['tokens_per_s_per_chip']:,.0f}", f"{x['tpot_s'] * 1e3:,.1f}",
             f"{x['batch_per_chip']:,.0f}", f"{x['chips_per_worker']}", f"TP {x['tp']}, EP {x['moe_ep']}"
             + (f", MoE TP {x['moe_tp']}" if x["moe_tp"] > 1 else "") + (", overlap" if x["overlap"] else "")]
            for x in _thin(p["points"], 14)]
    ch = p.get("chosen")
    if ch:
        rows.append([f"{ch['tokens_per_s_per_user']:,.1f}", f"{ch['tokens_per_s_per_chip']:,.0f}",
                     f"{ch['tpot_s'] * 1e3:,.1f}", f"{ch['batch_per_chip']:,.0f}", "chosen", "capacity per chip used"])
    return table(f"{rec['system']}: Pareto frontier, steady state without queueing (output tok/s per user vs per chip; "
                 f"{len(p['points'])} points, --json for all)",
                 ["tok/s per user", "tok/s per chip", "TPOT ms", "batch/chip", "worker chips", "layout"], rows)


def explain_surprises(rec: dict[str, Any]) -> list[str]:
    """One-line explanations of results a user would not expect (issue 12)."""
    out = []
    d = rec.get("decode", {})
    sp = d.get("mtp_speedup")
    if sp is not None and sp < 1.0:
        out.append(f"MTP lowers decode throughput here ({sp:.2f}x of --mtp 0 at the same plan and batch "
                   f"{d['batch_per_chip']:,.0f}/chip): every step verifies {1 + rec['plan']['mtp_k']} query tokens per "
                   f"sequence and runs the draft module, and at this batch the step is compute-bound, so that work "
                   f"costs more than the {d['tokens_per_step']:.2f} tokens per step it yields")
    if rec.get("capacity_policy"):
        out.append(rec["capacity_policy"])
    return out


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
        if "cost" in res.record:
            c.print(_cost_sources(res.record), markup=False, highlight=False)
        if "pareto" in res.record:
            c.print(_pareto_table(res.record))
        if o.save_deployment is not None:
            c.print(f"deployment written to {o.save_deployment} (superpod simulate --deployment {o.save_deployment})",
                    markup=False)
        if explain:
            c.print(res.explain(), markup=False, highlight=False)
            for line in explain_surprises(res.record):
                c.print(line, markup=False, highlight=False)
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
    for r in res:
        if isinstance(r, api.ServeResult) and "pareto" in r.record:
            c.print(_pareto_table(r.record))
    if explain:
        for r in res:
            if isinstance(r, api.ServeResult):
                c.print(r.explain(), markup=False, highlight=False)
                for line in explain_surprises(r.record):
                    c.print(f"{r.system}: {line}", markup=False, highlight=False)


def deployment_table(title: str, dep: dict[str, Any]):
    """The deployment as a table: one row per pool (workers, chips, layout, batch)."""
    from superpod.faces.report.output import table

    rows = []
    for pool in ("prefill", "decode", "replicas"):
        if pool in dep:
            w = dep[pool]
            unit = "prompt tok/chip/step" if pool == "prefill" else "seq/chip"
            rows.append([pool, f"{w['workers']:,}", f"{w['chips_per_worker']:,}", f"{w['tp']}", f"{w['moe_ep']}",
                         f"{w['moe_tp']}", f"{w['dp_attention']}", f"{w['batch']:,.0f} {unit}"])
    left = dep.get("chips_left")
    cap = f"chips used {dep['chips_used']:,}" + (f", left {left:,}" if left is not None else "")
    return table(title, ["pool", "workers", "chips each", "TP", "MoE EP", "MoE TP", "DP-attn", "batch"], rows, caption=cap)


@options_command(SimulateOptions)
def simulate(o: SimulateOptions,
             progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (stderr)."),
             as_json: bool = JSON) -> None:
    """Request-level simulation: continuous batching, queueing, prefill/decode pools; TTFT/TPOT p50/p90/p99 and goodput.

    The deployment is planned as serve --phase pd/both plans it (same options) or read from --deployment FILE.toml.
    JSON keys: ttft_s / tpot_s / e2e_s {p50, p90, p99, mean} (steady_*: after the first 30% of arrivals);
    throughput_output_tokens_per_s (whole deployment); goodput_requests_per_s and goodput_fraction (requests meeting
    both SLOs); queue (prefill/decode mean and max waiting); utilisation per pool; deployment (instances, pools);
    with --find-capacity capacity_requests_per_s (simulated) beside analytic_capacity_requests_per_s (serve's).
    """
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    if progress and not as_json:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        what = ("finding the capacity", "simulations") if o.find_capacity else ("simulating", "requests")
        with Progress(TextColumn(what[0]), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} " + what[1]),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("sim", total=o.requests)
            res = api.simulate(o.model, o.system, progress=lambda d, n: bar.update(task, completed=d, total=n), **o.kwargs())
    else:
        res = api.simulate(o.model, o.system, **o.kwargs())
    if o.trace is not None:
        from superpod.faces.report import trace
        from superpod.faces.report.serve_trace import simulate_full_trace

        trace.write(simulate_full_trace(res.record), o.trace)
    if as_json:
        return emit_json(res)
    out = res.record
    rows = [[name, *(f"{out[key][q] * 1e3:,.1f}" for q in ("p50", "p90", "p99", "mean"))]
            for name, key in (("TTFT (ms)", "ttft_s"), ("TPOT (ms)", "tpot_s"), ("end to end (ms)", "e2e_s"))]
    c = console()
    c.print(table(f"{o.model} on {o.system}: {out['requests']:,} requests at {out['rate_per_s']:,.3g}/s ({res.mode}, "
                  f"{out['policy']})", ["latency", "p50", "p90", "p99", "mean"], rows))
    c.print(f"throughput {out['throughput_output_tokens_per_s']:,.0f} output tok/s, {out['throughput_requests_per_s']:,.2f} req/s; "
            f"goodput {out['goodput_requests_per_s']:,.2f} req/s ({out['goodput_fraction'] * 100:.1f}% within SLOs)", markup=False)
    q, u = out["queue"], out["utilisation"]
    util = (f"prefill busy {u['prefill'] * 100:.0f}%, " if u.get("prefill") is not None else "") + \
        f"decode slots {u['decode_slots'] * 100:.0f}%"
    c.print(f"queues: prefill mean {q['prefill_mean']:,.1f} (max {q['prefill_max']:,}), decode mean {q['decode_mean']:,.1f} "
            f"(max {q['decode_max']:,}); utilisation: {util}", markup=False)
    if out.get("cache"):  # the caching tier (issue 16)
        k = out["cache"]
        path = k["pool_path_Bps"]
        c.print(table("caching tier", ["", "value"], [
            ["hit rate (simulated / serve's)", f"{k['hit_rate']:.1%} / {k['serve_hit_rate']:.1%}"],
            ["pool", f"{k['pool_bytes'] / 1e12:,.2f} TB" + (f", {k['pool']['technology']} over {k['pool']['path']}" if k["pool"] else
                                                           " (no host-memory tier: hits resident in HBM)")],
            ["TTFT saved (mean / p50)", f"{k['ttft_saved_s'] * 1e3:,.1f} ms / {k['ttft_p50_saved_s'] * 1e3:,.1f} ms"],
            ["fetch per request", f"{k['fetch_s_per_request'] * 1e3:,.2f} ms"],
            ["pool bandwidth used", f"{k['pool_Bps'] / 1e9:,.1f} GB/s" + (f" of {path / 1e9:,.0f} GB/s" if path else "")]]))
    if "capacity_requests_per_s" in out:
        a = out.get("analytic_capacity_requests_per_s")
        c.print(f"capacity at p{out['slo_percentile']} of the targets: {out['capacity_requests_per_s']:,.2f} req/s simulated"
                + (f" (serve's analytic {a:,.2f} req/s, {out['capacity_requests_per_s'] / a - 1:+.1%})" if a else ""),
                markup=False)
    c.print(deployment_table("deployment", out["deployment"]["pools"]))


@options_command(PlotParetoOptions, "pareto", on=_plot_app())
def plot_pareto(o: PlotParetoOptions, as_json: bool = JSON) -> None:
    """Serving Pareto frontier (output tok/s per chip vs per user) of MODEL on each SYSTEM, chosen deployments starred."""
    from superpod import api
    from superpod.faces.report.output import emit_json
    from superpod.faces.report.pareto import write

    kw = o.kwargs("out")
    fronts = []
    for s in o.systems:
        r = api.serve(o.model, s, pareto=True, **kw).record
        fronts.append({"system": s, "points": r["pareto"]["points"], "chosen": r["pareto"].get("chosen"),
                       "deployment": r["deployment"], "capacity_requests_per_s": r["capacity_requests_per_s"]})
    write(o.model, fronts, o.out)
    if as_json:
        return emit_json({"out": str(o.out), "systems": fronts})
    typer.echo(f"wrote {o.out} ({len(fronts)} systems, {sum(len(f['points']) for f in fronts)} frontier points)")
