"""``superpod scale``, ``superpod scenario`` and ``superpod plot scaling``: effective compute at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from superpod.faces.cli.app import JSON, app, command, fail

plot_app = typer.Typer(name="plot", help="Pictures: scaling curves (PNG via matplotlib, HTML via plotly).",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")

def _opts(precision, seq_len, global_batch, tokens, days, framework, pue, electricity, amortisation_years,
          capex_per_chip, failure_scale, restart_s, in_memory_ckpt, spares, young, fast):
    from superpod.planners.scale_estimate import ScaleOptions
    from superpod.scaling.recovery import RecoveryOptions

    if precision not in ("bf16", "fp8"):
        fail(f"--precision must be bf16 or fp8, got {precision!r}")
    for name, v in (("--days", days), ("--tokens", tokens), ("--failure-scale", failure_scale),
                    ("--restart-s", restart_s), ("--capex-per-chip", capex_per_chip)):
        if v is not None and v <= 0:
            fail(f"{name} must be > 0, got {v:g}")
    rec = RecoveryOptions(failure_scale=failure_scale, in_memory_checkpoint=in_memory_ckpt, spares=spares,
                          restart_s=restart_s, interval="young" if young else "daly")
    return ScaleOptions(precision=precision, seq_len=seq_len, global_batch=global_batch, tokens=tokens, days=days,
                        framework=framework, pue=pue, electricity=electricity, amortisation_years=amortisation_years,
                        capex_per_chip_usd=capex_per_chip, recovery=rec, fast=fast)


# options shared by scale and scenario
PRECISION = typer.Option("bf16", "--precision", help="GEMM precision: bf16 | fp8 (MFU is against the BF16 peak).")
SEQ = typer.Option(None, "--seq-len", help="Tokens per sequence (default 4,096, DeepSeek-V3's).")
BATCH = typer.Option(None, "--global-batch", help="Sequences per step (default 15,360, DeepSeek-V3's largest; held fixed as chips grow).")
TOKENS = typer.Option(None, "--tokens", help="Token budget for the time to train (default 15e12).")
DAYS = typer.Option(None, "--days", help="Run length for the expected interruptions (default: the time to train).")
FRAMEWORK = typer.Option("megatron", "--framework", help="Training stack whose calibrated factors apply.")
PUE = typer.Option(None, "--pue", help="Power usage effectiveness (default 1.3, catalog/scale/energy.toml).")
ELEC = typer.Option(None, "--electricity", help="Electricity price: us | china | china_unsubsidised, or USD per kWh.")
AMORT = typer.Option(None, "--amortisation-years", help="Capex amortisation (default 4 years).")
CAPEX = typer.Option(None, "--capex-per-chip", help="System capex per chip in USD (default: catalog/scale/cost.toml).")
FSCALE = typer.Option(1.0, "--failure-scale", help="Multiply every calibrated failure rate (1 = Llama 3's H100 record).")
RESTART = typer.Option(None, "--restart-s", help="Replace the modelled restart time R by this many seconds.")
INMEM = typer.Option(None, "--in-memory-ckpt/--storage-ckpt", help="Checkpoint to host/peer memory (default: the system's setting).")
SPARES = typer.Option(True, "--spares/--no-spares", help="Use the system's hot spares and idle nodes.")
YOUNG = typer.Option(False, "--young", help="Young's checkpoint interval instead of Daly's.")
FAST = typer.Option(False, "--fast", help="Search micro-batch 1 plans only (8x faster; within 0.8% of the full search on 72 cases).")


@command()
def scale(
    model: str = typer.Argument(..., help="Model name or path (superpod models)."),
    system: str = typer.Argument(..., help="System name or path; NAME@N sizes it."),
    chips: Optional[int] = typer.Option(None, "--chips", help="Chips installed (default: the system's size)."),
    days: Optional[float] = DAYS, tokens: Optional[float] = TOKENS, precision: str = PRECISION,
    seq_len: Optional[int] = SEQ, global_batch: Optional[int] = BATCH, framework: str = FRAMEWORK,
    pue: Optional[float] = PUE, electricity: Optional[str] = ELEC, amortisation_years: Optional[float] = AMORT,
    capex_per_chip: Optional[float] = CAPEX, failure_scale: float = FSCALE, restart_s: Optional[float] = RESTART,
    in_memory_ckpt: Optional[bool] = INMEM, spares: bool = SPARES, young: bool = YOUNG, fast: bool = FAST,
    serve_tokens_per_s_per_chip: Optional[float] = typer.Option(
        None, "--serve-tokens-per-s-per-chip", help="Decode output tokens/s per chip at your TPOT target: adds J per output token."),
    serve_tpot_ms: Optional[float] = typer.Option(
        None, "--serve-tpot-ms", help="TPOT target; without the throughput above, asks the serving estimator."),
    as_json: bool = JSON,
) -> None:
    """Effective compute, goodput, power, energy and cost of training MODEL on SYSTEM at scale.

    effective FLOP/s = job chips x dense BF16 peak x MFU (best plan of the training search) x goodput
    (failures calibrated on Llama 3's 54-day record, Daly checkpoint interval, restart time). The job uses
    the largest chip count <= --chips that a plan can lay out; the rest idle as spares. JSON keys (SI):
    effective_flops, mfu, goodput, job_mtbf_s, interruptions_expected, checkpoint_interval_s, checkpoint_s,
    restart_s, power_w, power_breakdown_w, energy_j_per_token, cost_per_mtok, time_to_train_s, plan, placement.
    """
    from superpod.faces.report.output import emit_json
    from superpod.planners.scale_estimate import scale as run

    opts = _opts(precision, seq_len, global_batch, tokens, days, framework, pue, electricity, amortisation_years,
                 capex_per_chip, failure_scale, restart_s, in_memory_ckpt, spares, young, fast)
    r = run(model, system, chips, opts, serve_tokens_per_s_per_chip,
            None if serve_tpot_ms is None else serve_tpot_ms / 1e3)
    if as_json:
        return emit_json(r)
    _print_scale(r)


def _print_scale(r: dict) -> None:
    from superpod.faces.report.output import console, table
    from superpod.units import human

    c = console()
    days = r["time_to_train_s"] / 86400
    rows = [
        ["chips (job / installed)", f"{r['job_chips']:,} / {r['chips']:,}"],
        ["plan", _plan(r["plan"])],
        ["paper FLOP/s (dense, " + r["precision"] + ")", human(r["paper_flops"], "flops")],
        ["MFU (BF16 peak)", f"{r['mfu'] * 100:.1f}%"],
        ["goodput", f"{r['goodput'] * 100:.1f}%"],
        ["effective FLOP/s", f"{human(r['effective_flops'], 'flops')} ({r['effective_share_of_paper'] * 100:.2f}% of paper)"],
        ["job MTBF", _dur(r["job_mtbf_s"])],
        ["interruptions expected", f"{r['interruptions_expected']:,.0f} over {_dur(r['run_s'])} ({r['interruptions_per_day']:,.1f}/day)"],
        ["optical modules (failure share)", f"{r['optical_modules']:,.0f} ({r['optics_failure_share'] * 100:.0f}% of interruptions)"],
        ["checkpoint: every / write", f"{_dur(r['checkpoint_interval_s'])} / {_dur(r['checkpoint_s'])}"
                                      + (" (in memory)" if r["in_memory_checkpoint"] else "")],
        ["restart R", _dur(r["restart_s"])],
        ["hot spares", (f"{r['spare_chips']:,.0f} chips + {r['spare_pool_nodes']:,.0f} idle nodes; one is free at "
                        f"{r['spare_available'] * 100:.0f}% of failures") if r["spare_chips"] or r["spare_pool_nodes"]
         else "none (a failed node is replaced by rescheduling)"],
        ["tokens/s (useful)", f"{r['useful_tokens_per_s']:,.0f} of {r['tokens_per_s']:,.0f}"],
        [f"time to train {r['tokens']:.3g} tokens", f"{days:,.1f} days"],
        ["power (facility, PUE " + f"{r['cost_bases']['pue']:g})", human(r["power_w"], "power")],
        ["energy per training token", f"{r['energy_j_per_token']:.3g} J"],
        ["cost per 1M tokens", f"${r['cost_per_mtok']:.3g} (energy ${r['energy_cost_per_mtok']:.3g})"],
        ["cost by electricity price", ", ".join(f"{k} ${v:.3g}" for k, v in r["cost_per_mtok_by_electricity"].items())],
        ["capex / run cost / TCO", f"${r['capex_usd'] / 1e6:,.1f}M / ${r['run_cost_usd'] / 1e6:,.1f}M / ${r['tco_usd'] / 1e6:,.1f}M"],
    ]
    if "serving" in r:
        sv = r["serving"]
        rows.append(["serving: J per output token", f"{sv['energy_j_per_output_token']:.3g} J at {sv['output_tokens_per_s']:,.0f} tok/s"])
    c.print(table(f"{r['model']} on {r['system']}: effective compute at scale", ["metric", "value"], rows))
    total = r["power_w"]
    prow = [[k, human(v, "power"), f"{v / total * 100:.1f}%"] for k, v in r["power_breakdown_w"].items() if v > 0]
    c.print(table("Power (W; accelerators at utilisation " + f"{r['utilisation'] * 100:.0f}%)", ["part", "power", "share"], prow))
    frow = [[k, f"{v * 100:.1f}%"] for k, v in r["failure_share"].items()]
    c.print(table("Interruptions by component", ["component (rates: Llama 3's 54 days)", "share"], frow))
    c.print(f"placement: {r['placement']['note']}", markup=False, highlight=False)


def _plan(p: dict) -> str:
    parts = [f"TP{p['tp']}", f"PP{p['pp']}", f"DP{p['dp']}"] + [f"{k.upper()}{p[k]}" for k in ("ep", "cp") if p[k] > 1]
    return " ".join(parts) + f", {p['schedule']}, ZeRO-{p['zero']}, recompute {p['recompute']}"


def _dur(s: float) -> str:
    if s >= 2 * 86400:
        return f"{s / 86400:,.1f} d"
    if s >= 2 * 3600:
        return f"{s / 3600:,.1f} h"
    if s >= 120:
        return f"{s / 60:,.1f} min"
    return f"{s:,.3g} s"


@command()
def scenario(
    name: str = typer.Argument("huaweiopolis", help="Scenario name (catalog/scale/*.toml with builds)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model to train (default: the scenario's)."),
    nvidia: Optional[str] = typer.Option(None, "--nvidia", help="Replace the NVL72 build's system (e.g. gb200-nvl72)."),
    tokens: Optional[float] = TOKENS, precision: str = PRECISION, seq_len: Optional[int] = SEQ,
    global_batch: Optional[int] = BATCH, pue: Optional[float] = PUE, electricity: Optional[str] = ELEC,
    failure_scale: float = FSCALE, restart_s: Optional[float] = RESTART, in_memory_ckpt: Optional[bool] = INMEM,
    fast: bool = FAST, as_json: bool = JSON,
) -> None:
    """The same paper FLOPs built several ways, training the same model, side by side.

    huaweiopolis: Atlas 950 SuperCluster vs GB300 NVL72 racks on InfiniBand vs the same 950DT chips in
    8-NPU servers on fragmented Ethernet. Each build has the reference's dense peak (in --precision) to a
    chip; the 'fast recovery' row re-prices each plan with in-memory checkpoints and a 60 s restart.
    """
    from superpod.faces.report.output import emit_json
    from superpod.planners.scenario import run

    opts = _opts(precision, seq_len, global_batch, tokens, None, "megatron", pue, electricity, None, None,
                 failure_scale, restart_s, in_memory_ckpt, True, False, fast)
    out = run(name, model, opts, {"nvl72": nvidia} if nvidia else None)
    if as_json:
        return emit_json(out)
    _print_scenario(out)


def _print_scenario(out: dict) -> None:
    from superpod.faces.report.output import console, table
    from superpod.units import human

    b = out["builds"]
    metrics = [
        ("chips (installed / job)", lambda r: f"{r['chips']:,} / {r['job_chips']:,}"),
        ("paper FLOP/s (dense " + out["precision"] + ")", lambda r: human(r["paper_flops"], "flops")),
        ("scale-up domain", lambda r: f"{r['placement']['pod_chips']:,.0f} chips"),
        ("plan", lambda r: _plan(r["plan"])),
        ("groups beyond a scale-up domain", lambda r: ", ".join(r["placement"]["crossing_pod"]) or "none"),
        ("MFU", lambda r: f"{r['mfu'] * 100:.1f}%"),
        ("job MTBF", lambda r: _dur(r["job_mtbf_s"])),
        ("optics share of interruptions", lambda r: f"{r['optics_failure_share'] * 100:.0f}%"),
        ("restart R", lambda r: _dur(r["restart_s"])),
        ("goodput", lambda r: f"{r['goodput'] * 100:.1f}%"),
        ("effective FLOP/s", lambda r: human(r["effective_flops"], "flops")),
        ("effective / paper", lambda r: f"{r['effective_share_of_paper'] * 100:.2f}%"),
        ("time to train", lambda r: f"{r['time_to_train_s'] / 86400:,.1f} days"),
        ("power (facility)", lambda r: human(r["power_w"], "power")),
        ("energy per token", lambda r: f"{r['energy_j_per_token']:.3g} J"),
        ("cost per 1M tokens", lambda r: f"${r['cost_per_mtok']:.3g}"),
        ("fast recovery: goodput", lambda r: f"{r['fast_recovery']['goodput'] * 100:.1f}%"),
        ("fast recovery: effective FLOP/s", lambda r: human(r["fast_recovery"]["effective_flops"], "flops")),
        ("fast recovery: time to train", lambda r: f"{r['fast_recovery']['time_to_train_s'] / 86400:,.1f} days"),
    ]
    rows = [[label, *[f(r) for r in b]] for label, f in metrics]
    c = console()
    c.print(table(f"{out['title']}: training {out['model']} on {b[0]['tokens']:.3g} tokens",
                  ["metric"] + [f"{r['key']}: {r['system']}" for r in b], rows))
    for r in b:
        c.print(f"{r['key']}: {r['label']}", markup=False, highlight=False)
    c.print(f"fast recovery = {out['fast_recovery_assumption']}; failure rates: Llama 3's 54-day H100 record per chip, "
            "node and optical module (catalog/scale/reliability.toml)", markup=False, highlight=False)


@command("scaling", on=plot_app)
def scaling(
    model: str = typer.Argument(..., help="Model name or path."),
    systems: list[str] = typer.Argument(..., metavar="SYSTEM...", help="One or more systems."),
    out: Path = typer.Option(..., "--out", help="Output file: .png (matplotlib) or .html (plotly)."),
    points: int = typer.Option(30, "--points", help="Chip counts from --min-chips to --max-chips (log-spaced)."),
    min_chips: int = typer.Option(64, "--min-chips"), max_chips: int = typer.Option(1_000_000, "--max-chips"),
    precision: str = PRECISION, full_search: bool = typer.Option(False, "--full-search", help="Search every plan (slow)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: one per CPU core)."),
    as_json: bool = JSON,
) -> None:
    """Effective compute, MFU and goodput vs chip count for each system (log-log), scale-up domains marked."""
    from superpod.faces.report.output import emit_json
    from superpod.planners.scale_estimate import ScaleOptions
    from superpod.faces.report.plot import write
    from superpod.planners.scale_sweep import default_sizes, sweep
    from superpod.spec.catalog import load_model

    suffix = out.suffix.lower()
    if suffix not in (".png", ".html"):
        fail(f"--out must end in .png or .html, got {out.name!r}")
    if not 1 <= min_chips < max_chips or points < 2:
        fail("need 1 <= --min-chips < --max-chips and --points >= 2")
    if precision not in ("bf16", "fp8"):
        fail(f"--precision must be bf16 or fp8, got {precision!r}")
    opts = ScaleOptions(precision=precision, fast=not full_search)
    from superpod.scaling.params import training

    t = training()
    sizes = default_sizes(load_model(model), int(t.seq_len.si), int(t.global_batch.si), points, min_chips, max_chips)
    data = sweep(model, systems, sizes, opts, workers)
    write(data, out)
    if as_json:
        return emit_json({"out": str(out), **data})
    typer.echo(f"wrote {out} ({len(systems)} systems x {len(sizes)} sizes in {data['seconds']:.1f} s)")
