"""``superpod sweep``, ``superpod query`` and ``superpod plot sweep``: design-space grids.

The sweep logic lives in :mod:`superpod.planners.sweep`; DuckDB, pyarrow and Ray (the
``sweep`` extra) are imported only when these commands run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from superpod.faces.cli.app import JSON, app, command


def _plot_app() -> typer.Typer:
    """The ``plot`` group (made by another command module, or here if it is not there)."""
    for g in app.registered_groups:
        if g.name == "plot":
            return g.typer_instance
    plot = typer.Typer(name="plot", help="Pictures (PNG via matplotlib, HTML via plotly).", no_args_is_help=True)
    app.add_typer(plot, name="plot")
    return plot


@command(help="""Run a design-space sweep: every point of SPEC.toml priced by the command its question names.

SPEC.toml: question = "serve" | "train" | "scale" | "scenario"; \\[fixed] options; \\[axes] lists or ranges ({start, stop, num[, log]} or {start, stop, step}) over the command's options (tpot_slo_ms for --tpot-slo-ms) and over catalog fields (chip.hbm_Bps, fabric.scaleup.bw_per_chip_Bps, reliability.components.network.interruptions; SI values, or "x1.5" to multiply the catalog's).

One row per point goes to --out (the DuckDB table `results`, or a Parquet file) with every input, every output metric, the plan, the superpod version and a catalog hash; `superpod query` and `superpod plot sweep` read it. See docs/sweeps.md.""")
def sweep(
    spec: Path = typer.Argument(..., help="The sweep spec (TOML)."),
    engine: str = typer.Option("local", "--engine", help="local (this machine) | ray (a local Ray cluster, or --address)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (e.g. 127.0.0.1:6379 or auto)."),
    out: Path = typer.Option(Path("results.duckdb"), "--out", help="results.duckdb (table `results`) or results.parquet."),
    resume: bool = typer.Option(False, "--resume", help="Complete an existing store: points already stored are skipped."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (local, default 1) or Ray CPUs (default: all)."),
    as_json: bool = JSON,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from superpod.errors import SpecError
    from superpod.faces.report.output import console, emit_json
    from superpod.planners.sweep import load, run

    s = load(spec)
    if not resume and (out.exists() or out.with_name(out.name + ".parts").exists()):
        raise SpecError(f"{out} exists: add --resume to complete it, or remove it to start over")
    c = console()
    bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]:>8} points/s"),
                   TimeRemainingColumn(), console=c, transient=as_json, disable=as_json)
    with bar:
        task = bar.add_task("sweep", total=s.size, rate="-")
        start: dict[str, float] = {}

        def progress(done: int, total: int) -> None:
            import time

            now = time.perf_counter()
            first = start.setdefault("t", now)
            base = start.setdefault("done", done)
            rate = (done - base) / (now - first) if now > first else 0.0
            bar.update(task, completed=done, total=total, rate=f"{rate:,.1f}")

        try:
            summary = run(s, out, engine=engine, address=address, resume=resume, workers=workers, progress=progress)
        except KeyboardInterrupt:
            c.print(f"interrupted: {out} holds every finished batch; rerun with --resume to complete it", markup=False)
            raise typer.Exit(130)
    if as_json:
        return emit_json(summary.to_dict())
    c.print(f"{summary.written:,} points written to {out} ({summary.skipped:,} already there, "
            f"{summary.errors:,} rejected by the planner: see the error column) in {summary.seconds:,.1f} s "
            f"({summary.points_per_s:,.1f} points/s, {engine} engine)", markup=False)


@command(help='SQL over a sweep store: the table is `results` (e.g. "SELECT system, max(decode_tokens_per_s_per_kw) FROM results GROUP BY 1").')
def query(
    store: Path = typer.Argument(..., help="results.duckdb or results.parquet."),
    sql: str = typer.Argument(..., help="A DuckDB SQL query over the table `results`."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
    as_json: bool = JSON,
) -> None:
    from superpod.planners.sweep import query as run_query

    cols, rows = run_query(store, sql)
    if as_json:
        typer.echo(json.dumps([dict(zip(cols, r)) for r in rows], default=str, indent=2))
    elif as_csv:
        import csv
        import sys

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        from superpod.faces.report.output import console, table

        def fmt(v):
            return f"{v:,.6g}" if isinstance(v, float) else "" if v is None else str(v)

        console().print(table(None, cols, [[fmt(v) for v in r] for r in rows]))


@command(on=_plot_app(), name="sweep")
def plot_sweep(
    store: Path = typer.Argument(..., help="results.duckdb or results.parquet."),
    x: str = typer.Option(..., "--x", help="Column (or SQL expression) on the x axis."),
    y: str = typer.Option(..., "--y", help="Column (or SQL expression) on the y axis."),
    color: Optional[str] = typer.Option(None, "--color", help="Column whose values get a line each."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL condition selecting rows (default: rows without error)."),
    out: Path = typer.Option(..., "--out", help="Output file: .png (matplotlib) or .html (plotly)."),
    logx: bool = typer.Option(False, "--logx", help="Log-scale x axis."),
    title: Optional[str] = typer.Option(None, "--title"),
) -> None:
    """Plot a sweep's results: y against x, one line per --color value."""
    from superpod.errors import SpecError
    from superpod.planners.sweep import query as run_query

    if out.suffix not in (".png", ".html"):
        raise SpecError(f"--out {out}: give a .png or .html file")
    sel = f"({x}) AS x, ({y}) AS y" + (f", CAST(({color}) AS VARCHAR) AS c" if color else ", '' AS c")
    cond = where or "error IS NULL"
    _, rows = run_query(store, f"SELECT {sel} FROM results WHERE {cond} ORDER BY c, x")
    if not rows:
        raise SpecError(f"no rows in {store} match {cond!r}")
    series: dict[str, tuple[list, list]] = {}
    for xv, yv, cv in rows:
        xs, ys = series.setdefault(cv, ([], []))
        xs.append(xv)
        ys.append(yv)
    def order(k: str):
        try:
            return (0, float(k), k)
        except ValueError:
            return (1, 0.0, k)

    series = {k: series[k] for k in sorted(series, key=order)}
    label = title or f"{y} vs {x}" + (f" by {color}" if color else "")
    if out.suffix == ".html":
        import plotly.graph_objects as go

        fig = go.Figure([go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{color}={k}" if color else y)
                         for k, (xs, ys) in series.items()])
        fig.update_layout(title=label, xaxis_title=x, yaxis_title=y, xaxis_type="log" if logx else None)
        fig.write_html(str(out), include_plotlyjs="cdn")
    else:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o", label=f"{color}={k}" if color else y)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(label, fontsize=10)
        if logx:
            ax.set_xscale("log")
        if color:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)
    typer.echo(f"wrote {out} ({len(rows)} points, {len(series)} series)")
