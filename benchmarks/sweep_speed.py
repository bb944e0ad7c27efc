"""Serving-sweep speed: points per second of ``superpod sweep`` locally and on a local Ray cluster.

Run: ``python benchmarks/sweep_speed.py [--points N] [--ray] [--workers 2] [--single]``.
The grid is systems x models x input lengths x output lengths x TPOT targets (decode, batch
searched under each target; ``--fixed-batch``: x batches per chip instead), the shape of issue 13's "1,000,000 serving points" sweep;
``--points`` trims the length axes to reach about N points, and the figure for 1,000,000
is extrapolated from the measured rate. ``--single`` also times the one-call-per-point path
(what ``superpod serve`` costs per point) on a sample.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="also run the same sweep on a local Ray cluster")
    ap.add_argument("--only", type=int, default=None, help="run only the local engine with this many workers")
    ap.add_argument("--fixed-batch", action="store_true",
                    help="batch per chip as the last axis instead of the TPOT target (no batch search)")
    ap.add_argument("--single", action="store_true", help="also time one planner call per point on a sample")
    a = ap.parse_args()
    spec = parse(spec_text(a.points, a.batch, a.fixed_batch))
    print(f"{spec.size:,} points: {' x '.join(f'{len(v)} {k}' for k, v in spec.axes.items())}")
    if a.single:
        sample = list(points(spec))[:: max(spec.size // 200, 1)][:200]
        t = time.perf_counter()
        evaluate("serve", sample, stacked=False)
        dt = (time.perf_counter() - t) / len(sample)
        print(f"one planner call per point: {dt * 1e3:.1f} ms per point ({1 / dt:,.0f} points/s on one core)")
    engines = [("local", 1), ("local", a.workers)] + ([("ray", a.workers)] if a.ray else [])
    if a.only:
        engines = [("local", a.only)]
    with tempfile.TemporaryDirectory() as d:
        for engine, w in engines:
            out = Path(d) / f"{engine}-{w}.duckdb"
            cpu = time.process_time()
            s = run(spec, out, engine=engine, workers=w)
            cpu = time.process_time() - cpu
            rate = s.written / s.seconds
            own = f", {s.written / cpu:,.0f} points per CPU-second of this process" if engine == "local" and w == 1 else ""
            print(f"{engine:5s} workers={w}: {s.written:,} points in {s.seconds:,.1f} s = {rate:,.0f} points/s "
                  f"({s.errors:,} rejected{own}); 1,000,000 points: {1e6 / rate:,.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
