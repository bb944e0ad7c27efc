"""``superpod scale``, ``superpod scenario`` and ``superpod plot scaling``: effective compute at scale."""

from __future__ import annotations

import typer

from superpod.api.options import PlotScalingOptions, ScaleOptions, ScenarioOptions
from superpod.faces.cli.app import JSON, app
from superpod.faces.cli.options import options_command

plot_app = typer.Typer(name="plot", help="Pictures: scaling curves (PNG via matplotlib, HTML via plotly).",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")


@options_command(ScaleOptions)
def scale(o: ScaleOptions, as_json: bool = JSON) -> None:
    """Effective compute, goodput, power, energy and cost of training MODEL on SYSTEM at scale.

    effective FLOP/s = job chips x dense BF16 peak x MFU (best plan of the training search) x goodput
    (failures calibrated on Llama 3's 54-day record, Daly checkpoint interval, restart time). The job uses
    the largest chip count <= --chips that a plan can lay out; the rest idle as spares. JSON keys (SI):
    effective_flops, mfu, goodput, job_mtbf_s, interruptions_expected, checkpoint_interval_s, checkpoint_s,
    restart_s, power_w, power_breakdown_w, energy_j_per_token, cost_per_mtok, time_to_train_s, plan, placement.
    power_w and energy_j_per_token are facility power (IT x PUE) at the job's utilisation; power_it_w and
    energy_it_j_per_token are the IT figures (docs/conventions.md).
    """
    from superpod import api
    from superpod.faces.report.output import emit_json

    r = api.scale(o.model, o.system, **o.kwargs())
    if as_json:
        return emit_json(r)
    _print_scale(r.record)


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
    from superpod.api.results import TrainPlan

    return TrainPlan.of(p).text()


def _dur(s: float) -> str:
    if s >= 2 * 86400:
        return f"{s / 86400:,.1f} d"
    if s >= 2 * 3600:
        return f"{s / 3600:,.1f} h"
    if s >= 120:
        return f"{s / 60:,.1f} min"
    return f"{s:,.3g} s"


@options_command(ScenarioOptions)
def scenario(o: ScenarioOptions, as_json: bool = JSON) -> None:
    """The same paper FLOPs built several ways, training the same model, side by side.

    huaweiopolis: Atlas 950 SuperCluster vs GB300 NVL72 racks on InfiniBand vs the same 950DT chips in
    8-NPU servers on fragmented Ethernet. Each build has the reference's dense peak (in --precision) to a
    chip; the 'fast recovery' row re-prices each plan with in-memory checkpoints and a 60 s restart.
    """
    from superpod import api
    from superpod.faces.report.output import emit_json

    out = api.scenario(o.name, **o.kwargs())
    if as_json:
        return emit_json(out)
    _print_scenario(out.to_dict())


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


@options_command(PlotScalingOptions, "scaling", on=plot_app)
def scaling(o: PlotScalingOptions, as_json: bool = JSON) -> None:
    """Effective compute, MFU and goodput vs chip count for each system (log-log), scale-up domains marked."""
    from superpod import api
    from superpod.faces.report.output import emit_json
    from superpod.faces.report.plot import write

    res = api.scaling_curves(o.model, o.systems, **o.kwargs("out"))
    data = res.record
    write(data, o.out)
    if as_json:
        return emit_json({"out": str(o.out), **res.to_dict()})
    n = len(data["curves"][0]["chips"]) if data["curves"] else 0
    typer.echo(f"wrote {o.out} ({len(o.systems)} systems x {n} sizes in {data['seconds']:.1f} s)")
