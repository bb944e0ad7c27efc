"""Time the full deployment + capacity search (issue 12) for DeepSeek-R1 on 32 H200 and on one
CloudMatrix 384 under TTFT 2 s / TPOT 50 ms (target < 2 s each), and the simulated confirmation.

Run: ``python benchmarks/serve_deploy.py``; exits 1 if a search misses the target.
"""

from __future__ import annotations

import sys
import time
import timeit

from superpod.planners.serve_deployment import simulate
from superpod.planners.serve_estimate import serve

TARGET_S = 2.0
SLO = dict(ttft_slo_s=2.0, tpot_slo_s=0.05)
CASES = (("h200-cluster", 32), ("cloudmatrix384", None))


def best_of(fn, n=3) -> float:
    """Best wall time of ``n`` runs (stdlib timeit)."""
    return min(timeit.repeat(fn, number=1, repeat=n))


def main() -> int:
    ok = True
    serve("deepseek-r1", "h200-cluster", chips=8, phase="decode")  # warm the catalog caches
    for system, chips in CASES:
        full = best_of(lambda: serve("deepseek-r1", system, chips=chips, phase="pd", **SLO))
        rec = serve("deepseek-r1", system, chips=chips, phase="pd", **SLO)
        t = time.perf_counter()
        sim = simulate("deepseek-r1", system, chips=chips, find_capacity=True, **SLO)
        sim_s = time.perf_counter() - t
        print(f"{system:>15} ({chips or 'all'} chips): deployment + capacity search {full:6.3f} s (target < {TARGET_S:g} s); "
              f"capacity {rec['capacity_requests_per_s']:,.1f} req/s, simulated {sim['capacity_requests_per_s']:,.1f} req/s "
              f"({sim_s:.1f} s)")
        ok &= full < TARGET_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
