"""``superpod train``: best training plan, throughput and MFU for a model on one or more systems."""

from __future__ import annotations

import typer

from superpod.api.options import TrainOptions
from superpod.faces.cli.app import JSON
from superpod.faces.cli.options import options_command

EXPLAIN = typer.Option(False, "--explain", help="Where the step time goes, and the MFU formula.")


@options_command(TrainOptions)
def train(o: TrainOptions, explain: bool = EXPLAIN, as_json: bool = JSON) -> None:
    """Best training plan and its throughput for MODEL on SYSTEM (several systems: a comparison).

    Any parallel setting left out is searched over every valid combination. Metrics:
    step_s (one optimizer step), tokens_per_s (whole job), tokens_per_s_per_chip,
    tflops_per_chip (model FLOP/s per chip), mfu and hfu (vs dense BF16 peak),
    memory_per_chip_bytes (worst pipeline stage), breakdown (seconds per step by cause),
    chips and ranks (parallel degrees count ranks), power_it_w / power_facility_w and
    tokens_per_s_per_kw (per nameplate IT kW; *_facility keys include the PUE).
    """
    from superpod import api
    from superpod.faces.report.output import emit_json

    res = api.train(o.model, o.systems[0] if len(o.systems) == 1 else o.systems, **o.kwargs())
    if o.trace is not None:
        from superpod.faces.report import trace

        trace.write(trace.train_trace(list(res) if isinstance(res, api.TrainResults) else [res]), o.trace)
    if as_json:
        return emit_json(res)
    _print(list(res) if isinstance(res, api.TrainResults) else [res], explain, o.top)


def _print(results, explain: bool, top: int) -> None:
    from superpod.api.results import TrainPlan
    from superpod.faces.report.output import console, table
    from superpod.units import human

    c = console()
    cols = ["metric"] + [r["system"] for r in results]
    rows = [
        ["chips (ranks)", *[f"{r['chips']:,}" + (f" ({r['ranks']:,} ranks)" if r.get("ranks", r["chips"]) != r["chips"] else "")
                            for r in results]],
        ["plan", *[r.plan.text() for r in results]],
        ["step", *[f"{r['step_s']:.3g} s" for r in results]],
        ["tokens/s (job)", *[f"{r['tokens_per_s']:,.0f}" for r in results]],
        ["tokens/s per chip", *[f"{r['tokens_per_s_per_chip']:,.1f}" for r in results]],
        ["tokens/s per kW", *[f"{r['tokens_per_s_per_kw']:,.1f}" for r in results]],
        ["model TFLOP/s per chip", *[f"{r['tflops_per_chip']:,.0f}" for r in results]],
        ["MFU (BF16 peak)", *[f"{r['mfu'] * 100:.1f}%" for r in results]],
        ["HFU", *[f"{r['hfu'] * 100:.1f}%" for r in results]],
        ["memory per chip", *[f"{human(r['memory_per_chip_bytes'], 'bytes')} of {human(r['hbm_bytes'], 'bytes')}" for r in results]],
        ["plans evaluated / feasible", *[f"{r['search']['evaluated']:,} / {r['search']['feasible']:,} in {r['search']['seconds']:.2f} s" for r in results]],
    ]
    if any(r.get("compute_fraction", 1.0) < 1.0 for r in results):  # a board power limit lowers the clocks
        rows.insert(3, ["power limit (compute clock)", *[
            f"{r['power_limit_w']:,.0f} W ({r['compute_fraction'] * 100:.1f}% of peak)" if r.get("power_limit_w") else "-"
            for r in results]])
    if any(r.get("recompute_modules") for r in results):  # Megatron-Core --recompute-modules
        rows.insert(2, ["recompute modules", *[" ".join(r.get("recompute_modules") or ["-"]) for r in results]])
    if any(r.get("cuda_graph_scope") for r in results):  # Megatron-Core --cuda-graph-scope
        rows.insert(2, ["CUDA graph scope", *[" ".join(r.get("cuda_graph_scope") or ["-"]) for r in results]])
    first = results[0]
    c.print(table(f"Training {first['model']}: {first['global_batch_tokens']:,} tokens per step of {first['seq_len']:,}-token sequences",
                  cols, rows))
    if len(results) > 1:
        keys = list(first["breakdown"])
        body = [[k.removesuffix("_s").replace("_", " "),
                 *[f"{r['breakdown'][k]:.3g} s ({r['breakdown'][k] / r['step_s'] * 100:.0f}%)" for r in results]] for k in keys]
        c.print(table("Where the step time goes", cols, body))
    if explain:
        for r in results:
            c.print(r.explain(), markup=False, highlight=False)
            _mechanisms(c, table, f"Mechanisms of the best plan on {r['system']}", r.record.get("mechanisms"))
    for r in results:
        cmp = r.record.get("compare")
        if cmp is None:
            continue
        c.print(table(f"Your plan vs the best on {r['system']}: {TrainPlan.of(cmp['plan']).text()} takes "
                      f"{cmp['step_s']:.3g} s, {cmp['slowdown']:.2f}x the best ({r.plan.text()})",
                      ["part", "your plan", "best", "difference"],
                      [[p["part"].removesuffix("_s").replace("_", " "), f"{p['plan_s']:.3g} s", f"{p['best_s']:.3g} s",
                        f"{p['delta_s']:+.3g} s"] for p in cmp["parts"]]))
        if explain:
            _mechanisms(c, table, f"Mechanisms of your plan on {r['system']}", cmp.get("mechanisms"))
    if top > 1:
        for r in results:
            body = [[str(i + 1), TrainPlan.of(p["plan"]).text(), f"{p['step_s']:.3g} s", f"{p['mfu'] * 100:.1f}%",
                     human(p["memory_per_chip_bytes"], "bytes")] for i, p in enumerate(r.top)]
            c.print(table(f"Top {len(body)} plans on {r['system']}", ["#", "plan", "step", "MFU", "memory/chip"], body))


def _mechanisms(c, table, title: str, mech) -> None:
    """Per mechanism: exposed time per step, its transfers before overlap, the hidden part, the tier."""
    if not mech:
        return
    body = [[m["label"], f"{m['exposed_s']:.3g} s",
             f"{m['wire_s']:.3g} s" if "wire_s" in m else "-", f"{m['hidden_s']:.3g} s" if "hidden_s" in m else "-",
             m.get("tier") or "-"] for m in mech.values()]
    c.print(table(title, ["mechanism", "exposed", "on the wire", "hidden", "tier"], body))
