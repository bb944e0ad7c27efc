"""Full training-plan searches, timed on one CPU core (issue 5 targets: each under 1 s).

Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/search_rate.py``.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from superpod.cost.hardware import Hardware  # noqa: E402
from superpod.planners.train_search import search  # noqa: E402
from superpod.spec import load_system  # noqa: E402
from superpod.spec.catalog import load_model  # noqa: E402

CASES = [
    ("deepseek-v3", "atlas950-superpod", 8192, 4096, 4096),
    ("llama3-405b", "dgx-h100-superpod", 16384, 8192, 2048),
    ("deepseek-v3", "cloudmatrix384", 384, 4096, 1024),
]


def main() -> None:
    print(f"{'search':46s} {'plans':>10s} {'feasible':>9s} {'seconds':>8s} {'plans/s':>12s}")
    for model_name, system, chips, seq, batch in CASES:
        model = load_model(model_name)
        hw = Hardware.of(load_system(system).at(chips))
        search(model, hw, seq, batch)  # warm caches (catalog, calibration)
        best = None
        for _ in range(3):
            t = time.perf_counter()
            res = search(model, hw, seq, batch)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        label = f"{model_name} on {system} ({chips:,} chips)"
        print(f"{label:46s} {res.evaluated:>10,d} {res.feasible:>9,d} {best:>8.3f} {res.evaluated / best:>12,.0f}")


if __name__ == "__main__":
    main()
