"""A full ``superpod scale`` at 1,000,000 chips (plan search included), timed on one CPU core.

Issue 6 target: under 1 s. Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/scale_million.py``.
Prints the warm time of :func:`superpod.planners.scale_estimate.scale` (best of 3, after one call that loads the catalog),
the share spent in the training search and in its two big parts, and the cold time of the CLI process.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from superpod.planners.scale_estimate import scale  # noqa: E402

CASES = [
    ("deepseek-v3", "atlas960-supercluster", 1_000_000),
    ("deepseek-v3", "atlas950-supercluster", 1_000_000),
    ("deepseek-v3", "gb300-nvl72", 1_000_000),
    ("llama3-405b", "atlas950-supercluster", 1_000_000),
]


def where_time_goes(model: str, system: str, chips: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    scale(model, system, chips)
    prof.disable()
    st = pstats.Stats(prof)
    total = max(v[3] for v in st.stats.values())
    parts = {}
    for (file, _, func), v in st.stats.items():
        for key, (f, fn) in {"search": ("train_search.py", "search"), "step": ("train/step.py", "step"),
                             "memory": ("memory_train.py", "training_memory")}.items():
            if file.endswith(f) and func == fn:
                parts[key] = v[3]
    return ", ".join(f"{k} {v / total * 100:.0f}%" for k, v in parts.items())


def main() -> None:
    print(f"{'case':52s} {'job chips':>10s} {'plans':>10s} {'warm s':>7s}  where the time goes")
    for model, system, chips in CASES:
        scale(model, system, chips)  # load the catalog and calibration once
        best, r = None, None
        for _ in range(3):
            t = time.perf_counter()
            r = scale(model, system, chips)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        label = f"{model} on {system} @ {chips:,}"
        print(f"{label:52s} {r['job_chips']:>10,d} {r['search']['evaluated']:>10,d} {best:>7.3f}  "
              f"{where_time_goes(model, system, chips)}")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "superpod", "scale", "deepseek-v3", "atlas960-supercluster", "--chips",
                    "1000000", "--json"], check=True, capture_output=True)
    print(f"cold CLI process (imports + catalog + search + JSON): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
