"""Time one `serve` evaluation and a full TPOT-SLO search on CloudMatrix 384 (target < 0.2 s).

Run: ``python benchmarks/serve_bench.py``; exits 1 if the search misses the target.
"""

from __future__ import annotations

import sys
import timeit

from superpod.planners.serve_estimate import serve

TARGET_S = 0.2
ONE = dict(phase="decode", quant="int8", tp=1, ep=320, batch_per_chip=96, mtp=1, mtp_accept=0.7, overlap=True, kv_len=4096)
SEARCH = dict(phase="decode", quant="int8", tpot_slo_s=0.05, mtp=1, mtp_accept=0.7)


def best_of(fn, n=5) -> float:
    """Best wall time of ``n`` runs (stdlib timeit)."""
    return min(timeit.repeat(fn, number=1, repeat=n))


def main() -> int:
    serve("deepseek-r1", "cloudmatrix384", **SEARCH)  # warm the catalog caches
    one = best_of(lambda: serve("deepseek-r1", "cloudmatrix384", **ONE))
    search = best_of(lambda: serve("deepseek-r1", "cloudmatrix384", **SEARCH))
    pd = best_of(lambda: serve("deepseek-r1", "cloudmatrix384", phase="pd", quant="int8", tpot_slo_s=0.05))
    print(f"one serve evaluation (decode, fixed plan):      {one * 1e3:8.1f} ms")
    print(f"full TPOT-SLO search (TP x EP x batch x overlap): {search * 1e3:8.1f} ms  (target < {TARGET_S * 1e3:.0f} ms)")
    print(f"PD deployment (prefill + decode searches):       {pd * 1e3:8.1f} ms")
    return 0 if search < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
