"""Time the request-level simulation: 100,000 requests must simulate in under 10 s.

Run: ``python benchmarks/serve_simulate.py``; exits 1 past the target.
"""

from __future__ import annotations

import sys
import time

from superpod.planners.serve_deployment import build_pools
from superpod.serving.requests import parse_dist
from superpod.serving.simulate import simulate

TARGET_S = 10.0
N = 100_000


def main() -> int:
    t0 = time.perf_counter()
    pools, info = build_pools("deepseek-r1", "cloudmatrix384", "pd", 4096, 1024, quant="int8", tpot_slo_s=0.05,
                              mtp=1, mtp_accept=0.7)
    t1 = time.perf_counter()
    out = simulate(pools, 60.0, N, parse_dist("lognormal:4096,0.6", 4096), parse_dist("exp:1024", 1024),
                   ttft_slo_s=2.0, tpot_slo_s=0.05)
    t2 = time.perf_counter()
    pools_c, _ = build_pools("llama3.3-70b", "dgx-h100-superpod", "colocated", 1000, 1000, chips=64)
    t3 = time.perf_counter()
    out_c = simulate(pools_c, 100.0, N, parse_dist(None, 1000), parse_dist("exp:1000", 1000))
    t4 = time.perf_counter()
    print(f"PD DeepSeek-R1 on CloudMatrix384: plan {t1 - t0:.2f} s, {N:,} requests simulated in {t2 - t1:.2f} s "
          f"(TTFT p99 {out['ttft_s']['p99'] * 1e3:,.0f} ms, TPOT p99 {out['tpot_s']['p99'] * 1e3:,.1f} ms, "
          f"goodput {out['goodput_fraction'] * 100:.1f}%)")
    print(f"co-located Llama-3.3-70B on 64 H100: plan {t3 - t2:.2f} s, {N:,} requests simulated in {t4 - t3:.2f} s "
          f"(TTFT p50 {out_c['ttft_s']['p50'] * 1e3:,.0f} ms, TPOT p50 {out_c['tpot_s']['p50'] * 1e3:,.1f} ms)")
    worst = max(t2 - t1, t4 - t3)
    print(f"target < {TARGET_S:.0f} s per 100k-request simulation: {'ok' if worst < TARGET_S else 'MISSED'}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
