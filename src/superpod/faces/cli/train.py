"""``superpod train``: best training plan, throughput and MFU for a model on one or more systems."""

from __future__ import annotations

from typing import Optional

import typer

from superpod.faces.cli.app import JSON, command, fail

SCHEDULES = ["gpipe", "1f1b", "interleaved", "zero-bubble", "dualpipe"]
MFU_FORMULA = (
    "MFU = (6 x N_active + 3 x 2 n_q (d_qk + d_v) x s/2 x L) x tokens / (step_s x chips x dense BF16 peak): "
    "model FLOPs per token with the causal attention term, no recompute; HFU adds recomputed FLOPs. "
    "FP8 runs are also reported against the BF16 peak, as papers do."
)


@command()
def train(
    model: str = typer.Argument(..., help="Model name (superpod models) or path to a TOML / HF config.json."),
    systems: list[str] = typer.Argument(..., metavar="SYSTEM...", help="One or more systems; NAME@N sizes one to N chips."),
    chips: Optional[int] = typer.Option(None, "--chips", help="Chips to use on every system (default: the system's size)."),
    seq_len: int = typer.Option(4096, "--seq-len", help="Tokens per sequence."),
    global_batch_tokens: Optional[int] = typer.Option(None, "--global-batch-tokens", help="Tokens per optimizer step (default 4,194,304)."),
    global_batch: Optional[int] = typer.Option(None, "--global-batch", help="Sequences per optimizer step (instead of --global-batch-tokens)."),
    tp: Optional[int] = typer.Option(None, "--tp", help="Tensor parallel degree (searched if left out)."),
    sp: Optional[bool] = typer.Option(None, "--sp/--no-sp", help="Megatron sequence parallelism inside the TP group."),
    pp: Optional[int] = typer.Option(None, "--pp", help="Pipeline stages."),
    vpp: Optional[int] = typer.Option(None, "--vpp", help="Virtual pipeline chunks per rank (interleaved schedule)."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="gpipe | 1f1b | interleaved | zero-bubble | dualpipe."),
    dp: Optional[int] = typer.Option(None, "--dp", help="Data-parallel replicas."),
    zero: Optional[int] = typer.Option(None, "--zero", help="ZeRO stage 0-3 over DP (1 = distributed optimizer)."),
    ep: Optional[int] = typer.Option(None, "--ep", help="Expert-parallel degree (MoE)."),
    cp: Optional[int] = typer.Option(None, "--cp", help="Context-parallel degree."),
    micro_batch: Optional[int] = typer.Option(None, "--micro-batch", help="Sequences per micro-batch."),
    recompute: Optional[str] = typer.Option(None, "--recompute", help="none | selective | full."),
    precision: str = typer.Option("bf16", "--precision", help="GEMM precision: bf16 | fp8."),
    framework: str = typer.Option("megatron", "--framework", help="Software stack whose calibrated factors apply (superpod validate lists them)."),
    top: int = typer.Option(1, "--top", help="Also list the K best plans."),
    explain: bool = typer.Option(False, "--explain", help="Where the step time goes, and the MFU formula."),
    as_json: bool = JSON,
) -> None:
    """Best training plan and its throughput for MODEL on SYSTEM (several systems: a comparison).

    Any parallel setting left out is searched over every valid combination. Metrics:
    step_s (one optimizer step), tokens_per_s (whole job), tokens_per_s_per_chip,
    tflops_per_chip (model FLOP/s per chip), mfu and hfu (vs dense BF16 peak),
    memory_per_chip_bytes (worst pipeline stage), breakdown (seconds per step by cause).
    """
    from superpod import api
    from superpod.faces.report.output import emit_json

    if schedule is not None and schedule not in SCHEDULES:
        fail(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if recompute is not None and recompute not in ("none", "selective", "full"):
        fail(f"--recompute must be none, selective or full, got {recompute!r}")
    if precision not in ("bf16", "fp8"):
        fail(f"--precision must be bf16 or fp8, got {precision!r}")
    if global_batch is not None and global_batch_tokens is not None:
        fail("give --global-batch or --global-batch-tokens, not both")
    fixed = dict(tp=tp, sp=sp, pp=pp, vpp=vpp, schedule=schedule, dp=dp, zero=zero, ep=ep, cp=cp,
                 micro_batch=micro_batch, recompute=recompute)
    results = [
        api.train(model, s, chips=chips, seq_len=seq_len, global_batch=global_batch,
                  global_batch_tokens=global_batch_tokens, precision=precision, framework=framework, top=top, **fixed)
        for s in systems
    ]
    if as_json:
        return emit_json(results[0] if len(results) == 1 else {"systems": results})
    _print(results, explain, top)


def _print(results, explain: bool, top: int) -> None:
    from superpod.faces.report.output import console, table
    from superpod.units import human

    c = console()
    cols = ["metric"] + [r["system"] for r in results]
    rows = [
        ["chips", *[f"{r['chips']:,}" for r in results]],
        ["plan", *[_plan_text(r["plan"]) for r in results]],
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
    first = results[0]
    c.print(table(f"Training {first['model']}: {first['global_batch_tokens']:,} tokens per step of {first['seq_len']:,}-token sequences",
                  cols, rows))
    if explain or len(results) > 1:
        keys = list(first["breakdown"])
        body = [[k.removesuffix("_s").replace("_", " "),
                 *[f"{r['breakdown'][k]:.3g} s ({r['breakdown'][k] / r['step_s'] * 100:.0f}%)" for r in results]] for k in keys]
        c.print(table("Where the step time goes", cols, body))
    if explain:
        c.print(MFU_FORMULA, markup=False)
        for r in results:
            c.print(f"{r['system']}: memory per chip {', '.join(f'{k} {human(v, chr(98) + chr(121) + chr(116) + chr(101) + chr(115))}' for k, v in r['memory_breakdown_bytes'].items() if v)}", markup=False)
    if top > 1:
        for r in results:
            body = [[str(i + 1), _plan_text(p["plan"]), f"{p['step_s']:.3g} s", f"{p['mfu'] * 100:.1f}%",
                     human(p["memory_per_chip_bytes"], "bytes")] for i, p in enumerate(r["top"])]
            c.print(table(f"Top {len(body)} plans on {r['system']}", ["#", "plan", "step", "MFU", "memory/chip"], body))


def _plan_text(p: dict) -> str:
    parts = [f"TP{p['tp']}" + ("+SP" if p["sp"] else ""), f"PP{p['pp']}", f"DP{p['dp']}"]
    if p["ep"] > 1:
        parts.append(f"EP{p['ep']}")
    if p["cp"] > 1:
        parts.append(f"CP{p['cp']}")
    sched = p["schedule"] + (f"(v{p['vpp']})" if p["vpp"] > 1 else "")
    return " ".join(parts) + f", {sched}, mb {p['micro_batch']}x{p['micro_batches']}, ZeRO-{p['zero']}, recompute {p['recompute']}"
