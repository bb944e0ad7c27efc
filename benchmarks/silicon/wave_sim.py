"""Hypothesis 1 of issue 10's co-located TTFT residual: do the InferenceMAX harness's waves dissolve?

    python benchmarks/silicon/wave_sim.py [--framework sglang] [--max-n 512] [--limit 0]

For every answered co-located InferenceMAX row (harness ``inferencemax``: 10 requests per client,
lengths uniform in [0.8 L, L]) it takes the closed loop's own inputs (the iteration-cost Table, the
clients per scheduler, budget, policy, running cap, MTP tokens per step) and prices the benchmark
twice: as superpod does (first wave simulated at the mean lengths, then ``steady.spread_steady``) and
with the request-level simulation :func:`superpod.serving.waves.simulate` (each client 10 requests
back to back, own random lengths, the same scheduler and iteration cost). Prints median TTFT and
TPOT per framework x concurrency x ISL for: measured, superpod now, the simulation (all + request
latency), and the simulation / superpod ratio.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from superpod.planners import validation_silicon as V
from superpod.serving import closed_loop as CL
from superpod.serving.waves import simulate

CAPT: list[dict] = []
_cur: dict = {}


def capture() -> None:
    run0, harness0, cl0 = CL.run, V.harness, CL.closed_loop

    def harness(raw):
        _cur.clear()
        _cur["raw"] = raw
        return harness0(raw)

    def run(step, n, isl, osl, budget, policy="mixed", cap=None, tokens_per_iter=1.0, rounds=20, simulated_rounds=4):
        _cur.setdefault("runs", []).append(dict(step=step, n=n, isl=isl, osl=osl, budget=budget, policy=policy,
                                                cap=cap, tps=tokens_per_iter, rounds=rounds))
        return run0(step, n, isl, osl, budget, policy, cap, tokens_per_iter, rounds, simulated_rounds)

    def closed_loop(*a, **k):
        out = cl0(*a, **k)
        if "raw" in _cur:
            CAPT.append(dict(raw=_cur["raw"], runs=list(_cur.get("runs", [])), out=out, ratio=k.get("length_ratio", 1.0)))
        return out

    CL.run, V.harness, V.closed_loop = run, harness, closed_loop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--framework", default=None)
    ap.add_argument("--max-n", type=int, default=512)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    capture()
    res = V.validate_silicon()
    meas = {r["id"]: r for r in res["rows"]}
    groups = defaultdict(list)
    done = 0
    for cap in CAPT:
        raw, out = cap["raw"], cap["out"]
        if cap["ratio"] >= 1.0 or out.get("preempted") or not cap["runs"]:
            continue
        fw = raw["backend"]
        if a.framework and fw != a.framework:
            continue
        r0 = cap["runs"][0]
        if r0["n"] > a.max_n:
            continue
        mean = (1 + cap["ratio"]) / 2
        sim = simulate(r0["step"], r0["n"], r0["isl"] / mean, r0["osl"] / mean, r0["budget"], r0["policy"], cap["ratio"],
                       r0["rounds"], r0["cap"], r0["tps"])
        lat = out["request_latency_s"]
        m = meas[raw["id"]]
        groups[(fw, int(float(raw["isl"])), r0["n"])].append(
            (m["measured_ttft_ms"], out["ttft_s"] * 1e3, (sim["ttft_s"] + lat) * 1e3,
             m["measured_tpot_ms"], out["tpot_s"] * 1e3, sim["tpot_s"] * 1e3))
        done += 1
        if a.limit and done >= a.limit:
            break
    print(f"{'fw':7} {'isl':>5} {'n':>4} {'rows':>4} | TTFT ms: {'meas':>7} {'now':>7} {'sim':>7} {'sim/now':>7} | "
          f"TPOT ms: {'meas':>6} {'now':>6} {'sim':>6}")
    allr = []
    for key in sorted(groups):
        g = np.array(groups[key])
        allr.append(g)
        med = np.median(g, axis=0)
        print(f"{key[0]:7} {key[1]:5d} {key[2]:4d} {len(g):4d} | {med[0]:16.0f} {med[1]:7.0f} {med[2]:7.0f} "
              f"{np.median(g[:, 2] / g[:, 1]):7.2f} | {med[3]:15.1f} {med[4]:6.1f} {med[5]:6.1f}")
    g = np.concatenate(allr)
    mape = lambda p, m: float(np.mean(np.abs(p / m - 1)))  # noqa: E731
    print(f"rows {len(g)}: TTFT MAPE now {mape(g[:, 1], g[:, 0]):.1%}, sim {mape(g[:, 2], g[:, 0]):.1%}; "
          f"TPOT MAPE now {mape(g[:, 4], g[:, 3]):.1%}, sim {mape(g[:, 5], g[:, 3]):.1%}")


if __name__ == "__main__":
    main()
