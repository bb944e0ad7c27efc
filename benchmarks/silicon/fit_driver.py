"""The one driver loop of the kernel fits (``fit_gemm.py``, ``fit_mla_bmm.py``, ``fit_attention.py``,
``fit_moe_perf.py``, ``fit_comm_perf.py``): load each table, fit it, report the error, leave one GPU out,
write the parameters as TOML.

A fit script describes each of its tables as a :class:`Job` (how to read the rows, fit, predict at a
level, report, and turn the fit into TOML sections) and calls :func:`main`. Levels: ``gpu`` (the fit
with each measured GPU's own multipliers or refit), ``family`` (one set per architecture or fabric
generation: an unmeasured GPU of a known family), ``generic`` (one set for every GPU); a job names the
levels it has in sample (``levels``) and on a held-out GPU (``holdout_levels``).

Command line (every script):

    python benchmarks/silicon/fit_X.py DIR [--out FILE.toml] [--tables a,b] [--worst N] [job options]
    python benchmarks/silicon/fit_X.py DIR --holdout GPU|all     # fit without that GPU, report on it
    python benchmarks/silicon/fit_X.py DIR --loo                 # the full fit, then each GPU left out in turn

The TOML (``--out``, full fit only) holds the script's hardware sections, then each table's sections
in the order of ``--tables``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

#: the GPUs of the perf database, in the order every fit reports them
GPUS = ("h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm", "gb300")


@dataclass
class Job:
    """One table's fit as the driver runs it.

    ``rows(root)`` -> DataFrame with ``system`` and the measured seconds ``meas``;
    ``fit(rows, gpus, per_gpu, log)`` -> fitted parameters (``per_gpu``: also the per-GPU level);
    ``predict(rows, fitted, level)`` -> seconds per row (NaN: no fit for the row's kernel);
    ``report(rows, pred, label, worst)`` prints the errors; ``sections(rows, fitted)`` -> TOML sections;
    ``ranges(rows)`` -> {name: mask} of the shape ranges serving uses; ``baselines(rows)`` ->
    [(label, seconds)] shown beside the fit (rooflines)."""

    table: str
    rows: Callable[[str], Any]
    fit: Callable[..., Any]
    predict: Callable[[Any, Any, str], np.ndarray]
    report: Callable[..., None]
    sections: Callable[[Any, Any], dict]
    ranges: Callable[[Any], dict]
    meas: str = "t_s"
    levels: tuple[str, ...] = ("gpu",)
    holdout_levels: tuple[str, ...] = ("family",)
    baselines: Callable[[Any], list] = field(default=lambda rows: [])


def errors(pred, meas) -> np.ndarray:
    """Absolute relative error per row."""
    return np.abs(np.asarray(pred, dtype=float) - np.asarray(meas, dtype=float)) / np.asarray(meas, dtype=float)


def summary(err) -> tuple[int, float, float]:
    """(rows, MAPE %, p90 %) of the finite errors."""
    err = np.asarray(err, dtype=float)
    err = err[np.isfinite(err)]
    if len(err) == 0:
        return 0, float("nan"), float("nan")
    return len(err), 100 * float(np.mean(err)), 100 * float(np.percentile(err, 90))


def _line(job: Job, rows, pred, label: str) -> dict:
    err = errors(pred, rows[job.meas])
    n, mape, p90 = summary(err)
    out = {"table": job.table, "fit": label, "rows": n, "mape": mape, "p90": p90}
    for name, mask in job.ranges(rows).items():
        out[name] = summary(err[np.asarray(mask)])[1]
    return out


def holdout(job: Job, rows, gpu: str, worst: int, log=print) -> list[dict]:
    """Fit ``job`` without ``gpu``'s rows and report its error on them at the job's holdout levels."""
    gpus = [g for g in GPUS if g in set(rows["system"])]
    train = rows[rows["system"] != gpu]
    test = rows[rows["system"] == gpu].reset_index(drop=True)
    if len(test) == 0:
        return []
    fitted = job.fit(train.reset_index(drop=True), [g for g in gpus if g != gpu], False, lambda *_: None)
    out = []
    for level in job.holdout_levels:
        label = f"holdout {gpu} ({level})"
        pred = job.predict(test, fitted, level)
        job.report(test, pred, f"{label}, fit on {', '.join(g for g in gpus if g != gpu)}", worst)
        out.append(_line(job, test, pred, label))
    return out


def run(job: Job, root: str, hold: str | None, loo: bool, worst: int) -> tuple[list[dict], dict]:
    """One table: the full fit and its report (and TOML sections), or the left-out GPUs' reports."""
    rows = job.rows(root).reset_index(drop=True)
    gpus = [g for g in GPUS if g in set(rows["system"])]
    print(f"\n## {job.table}: {len(rows)} rows")
    if hold:
        lines = []
        for gpu in (gpus if hold == "all" else [hold]):
            lines += holdout(job, rows, gpu, worst)
        return lines, {}
    lines = [_line(job, rows, pred, label) for label, pred in job.baselines(rows)]
    fitted = job.fit(rows, gpus, True, print)
    for level in job.levels:
        pred = job.predict(rows, fitted, level)
        job.report(rows, pred, f"{level} fit (in sample)", worst if level == job.levels[0] else 0)
        lines.append(_line(job, rows, pred, f"{level} fit"))
    sections = job.sections(rows, fitted)
    if loo:
        for gpu in gpus:
            lines += holdout(job, rows, gpu, 0, log=lambda *_: None)
    return lines, sections


def parser(doc: str, tables: list[str], worst: int = 3) -> argparse.ArgumentParser:
    """The driver's options; a script adds its own before :func:`main` parses them."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="kernels directory (AIConfigurator's perf database tree)")
    ap.add_argument("--out", help="write the fitted parameters (TOML; full fit only)")
    ap.add_argument("--holdout", help="GPU to leave out of the fit and report on, or 'all'")
    ap.add_argument("--loo", action="store_true", help="after the full fit, leave each GPU out in turn")
    ap.add_argument("--tables", default=",".join(tables), help="comma-separated subset of tables")
    ap.add_argument("--worst", type=int, default=worst, help="worst shapes shown per group")
    return ap


def main(args: argparse.Namespace, jobs: dict[str, Job], write: Callable[[str, dict], None]) -> None:
    """Run the jobs of ``args.tables``; print the summary; ``write(path, sections)`` the TOML."""
    import pandas as pd

    if args.holdout and args.holdout != "all" and args.holdout not in GPUS:
        raise SystemExit(f"--holdout must be one of {', '.join(GPUS)} or all, not {args.holdout!r}")
    lines, sections = [], {}
    for name in args.tables.split(","):
        got, sec = run(jobs[name], args.root, args.holdout, args.loo, args.worst)
        lines += got
        sections.update(sec)
    if lines:
        print("\n# summary")
        with pd.option_context("display.width", 250, "display.max_rows", 500):
            print(pd.DataFrame(lines).round(1).to_string(index=False))
    if args.out and sections and not args.holdout:
        write(args.out, sections)
        print(f"wrote {args.out}")
