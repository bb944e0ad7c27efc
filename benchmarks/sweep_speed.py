"""Serving-sweep speed: points per second of ``superpod sweep``, locally and on a local Ray cluster.

One command: ``python benchmarks/sweep_speed.py`` sweeps 1,000,000 decode points (6 systems x
4 models x 51 input lengths x 51 output lengths x 16 TPOT targets, the batch searched under
each target, as ``superpod serve --tpot-slo-ms`` does) with the local engine on 2 worker
processes, then the same sweep on a local 2-CPU Ray cluster, into DuckDB files in a temporary
directory, and prints points/s, Ray's overhead against local, the CPU time per point and the
load average (the machine's other work slows a run down: measure on a quiet machine).

Options: ``--points N`` trims the length axes to about N points; ``--workers``; ``--batch``
(points per chunk); ``--no-ray``; ``--only W`` (the local engine with W workers only);
``--fixed-batch`` (x 16 batches per chip instead of TPOT targets: no batch search);
``--single`` (also time one ``serve`` call per point on a sample: the unstacked cost).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from superpod.planners.sweep import parse, run
from superpod.planners.sweep.points import evaluate, points

SYSTEMS = ["cloudmatrix384", "gb200-nvl72", "gb300-nvl72", "dgx-h100-superpod", "h200-cluster", "atlas950-superpod"]
MODELS = ["deepseek-r1", "qwen3-235b-a22b", "llama3-70b", "kimi-k2"]
SLOS = [15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 100, 120, 150, 200, 300, 500]
BATCHES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768]


def spec_text(n_points: int, batch: int, fixed_batch: bool = False) -> str:
    last = ("batch_per_chip", BATCHES) if fixed_batch else ("tpot_slo_ms", SLOS)
    per_len = max(1, round((n_points / (len(SYSTEMS) * len(MODELS) * len(last[1]))) ** 0.5))
    inputs = sorted({int(x) for x in np.geomspace(256, 32768, per_len)})
    outputs = sorted({int(x) for x in np.geomspace(128, 8192, per_len)})
    return (f'question = "serve"\nbatch = {batch}\n[fixed]\nphase = "decode"\n[axes]\n'
            f"system = {SYSTEMS!r}\nmodel = {MODELS!r}\ninput_len = {inputs}\noutput_len = {outputs}\n"
            f"{last[0]} = {last[1]}\n").replace("'", '"')


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the local engine's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return "load average %.1f %.1f %.1f" % os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=16384, help="points per chunk (one task, one write)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true", help="the local engine only")
    ap.add_argument("--only", type=int, default=None, help="run only the local engine with this many workers")
    ap.add_argument("--fixed-batch", action="store_true",
                    help="batch per chip as the last axis instead of the TPOT target (no batch search)")
    ap.add_argument("--single", action="store_true", help="also time one planner call per point on a sample")
    a = ap.parse_args()
    spec = parse(spec_text(a.points, a.batch, a.fixed_batch))
    print(f"{spec.size:,} points: {' x '.join(f'{len(v)} {k}' for k, v in spec.axes.items())}; "
          f"{os.cpu_count()} CPUs, {_load()}", flush=True)
    if a.single:
        sample = list(points(spec))[:: max(spec.size // 200, 1)][:200]
        t = time.perf_counter()
        evaluate("serve", sample, stacked=False)
        dt = (time.perf_counter() - t) / len(sample)
        print(f"one planner call per point: {dt * 1e3:.1f} ms per point ({1 / dt:,.0f} points/s on one core)")
    engines = [("local", a.workers)] + ([] if a.no_ray else [("ray", a.workers)])
    if a.only:
        engines = [("local", a.only)]
    rates = {}
    with tempfile.TemporaryDirectory() as d:
        for engine, w in engines:
            out = Path(d) / f"{engine}-{w}.duckdb"
            cpu = _cpu_s()
            s = run(spec, out, engine=engine, workers=w)
            cpu = _cpu_s() - cpu
            rates[engine] = rate = s.written / s.seconds
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest finished child, MB
            own = (f", {cpu / s.written * 1e6:,.0f} µs CPU per point, largest worker's peak RSS {peak:,.0f} MB"
                   if engine == "local" else "")
            print(f"{engine:5s} workers={w}: {s.written:,} points in {s.seconds:,.1f} s = {rate:,.0f} points/s "
                  f"({s.errors:,} rejected by the planner{own}); {_load()}", flush=True)
            out.unlink()
    if "ray" in rates:
        print(f"ray overhead against local: {rates['local'] / rates['ray'] - 1:+.0%} time "
              f"(Ray start-up, chunks and Arrow tables through its object store)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
