"""The scaling plot's sweep: 6 systems x 30 sizes (64 to 1,000,000 chips), timed; and the fast search checked.

Issue 6 target: under 10 s. Run: ``OMP_NUM_THREADS=1 python benchmarks/scale_sweep.py`` (both cores) and
``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/scale_sweep.py --workers 1`` (one core).
``--check`` compares the sweep's fast plan search (micro-batch 1, no recompute first) with the full search.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

SYSTEMS = ["atlas950-supercluster", "atlas960-supercluster", "gb300-nvl72", "gb200-nvl72", "cloudmatrix384",
           "atlas950dt-ethernet-fragmented"]


def check() -> None:
    from superpod.cost.hardware import Hardware
    from superpod.errors import InfeasiblePlanError
    from superpod.planners.train_search import search
    from superpod.planners.scale_estimate import FAST_FIXED
    from superpod.spec import load_system
    from superpod.spec.catalog import load_model

    worst, t_full, t_fast, n = [], 0.0, 0.0, 0
    for mn in ("deepseek-v3", "llama3-405b", "llama3-70b"):
        m = load_model(mn)
        for s in ("atlas950-supercluster", "gb300-nvl72", "cloudmatrix384", "atlas950dt-ethernet-fragmented"):
            for chips in (128, 384, 1536, 6144, 24576, 196608):
                hw = Hardware.of(load_system(s).at(chips))
                t = time.perf_counter()
                try:
                    full = search(m, hw, 4096, 15360).plans[0]["tokens_per_s"]
                except InfeasiblePlanError:
                    full = None
                t_full += time.perf_counter() - t
                t = time.perf_counter()
                try:
                    fast = search(m, hw, 4096, 15360, FAST_FIXED).plans[0]["tokens_per_s"]
                except InfeasiblePlanError:
                    try:
                        fast = search(m, hw, 4096, 15360, {"micro_batch": 1}).plans[0]["tokens_per_s"]
                    except InfeasiblePlanError:
                        fast = None
                t_fast += time.perf_counter() - t
                assert (full is None) == (fast is None), (mn, s, chips)
                if full:
                    n += 1
                    worst.append((fast / full - 1, mn, s, chips))
    worst.sort()
    print(f"fast vs full search on {n} feasible cases: worst {worst[0][0] * 100:+.2f}% ({worst[0][1:]}); "
          f"time {t_fast:.1f} s vs {t_full:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--model", default="deepseek-v3")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    from superpod.faces.report.plot import write
    from superpod.planners.scale_sweep import sweep

    t1 = time.perf_counter()
    data = sweep(a.model, SYSTEMS, workers=a.workers)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        write(data, os.path.join(d, "s.png"))
    t3 = time.perf_counter()
    sizes = len(data["curves"][0]["chips"])
    print(f"{len(SYSTEMS)} systems x {sizes} sizes, {data['workers']} worker(s): sweep {t2 - t1:.2f} s, "
          f"PNG {t3 - t2:.2f} s, imports {t1 - t0:.2f} s, total {t3 - t0:.2f} s")
    if a.check:
        check()


if __name__ == "__main__":
    main()
