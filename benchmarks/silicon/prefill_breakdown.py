"""Hypothesis 2 of issue 10's co-located TTFT residual: is one prompt's prefill mispriced?

    python benchmarks/silicon/prefill_breakdown.py [--isl 8192] [--max-conc 4] [--framework sglang]

For the answered co-located InferenceMAX rows at low concurrency it breaks the loop's prefill iteration
(``closed_loop.iteration_s`` with one prompt chunk of ``min(isl, budget)`` tokens, no decodes) into the
parts of :func:`superpod.serving.forward.forward` (GEMMs, attention core, routed experts, element-wise,
EP and TP communication, per-layer overhead) plus the LM head and the per-iteration overhead, and prints
them beside the row's measured TTFT less the framework's request latency (what the engine's iterations
must explain at <= 4 clients: the skipped iteration + the own prefill chunks).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from superpod.planners import validation_silicon as V
from superpod.serving import closed_loop as CL
from superpod.serving.forward import PARTS, chips_of, forward, head_s
from superpod.serving.decode import attention_per_layer
from superpod.serving.scheduling import scheduler

CAPT: list[dict] = []


def capture() -> None:
    cl0, h0 = CL.closed_loop, V.harness
    cur = {}

    def harness(raw):
        cur["raw"] = raw
        return h0(raw)

    def closed_loop(c, plan, wl, *a, **k):
        out = cl0(c, plan, wl, *a, **k)
        CAPT.append(dict(raw=cur.get("raw"), c=c, plan=plan, wl=wl, out=out, ratio=k.get("length_ratio", 1.0)))
        return out

    V.harness, V.closed_loop = harness, closed_loop


def parts(c, plan, wl, P: float) -> dict[str, float]:
    """The parts of one prefill iteration of ``P`` prompt tokens (per scheduler), seconds."""
    from superpod.serving.forward import prefill_attention
    tp_c = chips_of(plan.tp, c.dev)
    Pc = np.asarray(P / tp_c, dtype=float)
    f_d, b_d = attention_per_layer(c, plan, 0.0 * Pc, 1.0, wl.decode_context)
    kernel = prefill_attention(c, plan, Pc, float(wl.input_len), 0.0)
    pre = kernel(1.0) if kernel is not None else 0.0
    main = forward(c, plan, Pc, f_d, b_d, "decode", extra_attention_s=pre)
    out = {k: float(np.ravel(main[k])[0]) for k in PARTS}
    out["head_s"] = float(np.ravel(head_s(c, np.asarray(1.0 / tp_c), tp_c))[0])
    out["step_overhead_s"] = c.fw.si("step_overhead_s")
    out["total_s"] = sum(out.values())
    out["prefill_mode_total_s"] = float(np.ravel(forward(c, plan, Pc, f_d, b_d, "prefill", extra_attention_s=pre)["total_s"])[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--isl", type=int, default=8192)
    ap.add_argument("--max-conc", type=int, default=4)
    ap.add_argument("--framework", default=None)
    a = ap.parse_args()
    capture()
    res = V.validate_silicon()
    meas = {r["id"]: r for r in res["rows"]}
    keys = ["gemm_s", "attention_s", "experts_s", "elementwise_s", "ep_comm_s", "tp_comm_s", "overhead_s", "head_s",
            "step_overhead_s"]
    print("row | chunks x budget | parts of one prefill chunk (ms): " + " ".join(k[:-2] for k in keys)
          + " | total, 'prefill' phase | pred TTFT - lat, meas TTFT - lat (ms)")
    ratios = {}
    for cp in CAPT:
        raw = cp["raw"]
        if raw is None or cp["ratio"] >= 1.0 or int(float(raw["isl"])) != a.isl:
            continue
        if a.framework and raw["backend"] != a.framework:
            continue
        n = float(raw["batch_size"]) * float(raw["attention_dp_size"] or 1)
        if n > a.max_conc or raw["id"] not in meas or meas[raw["id"]]["status"] != "ok":
            continue
        c, plan, wl, out = cp["c"], cp["plan"], cp["wl"], cp["out"]
        sch = scheduler(c.fw.name)
        budget = out["token_budget"]
        s_in = wl.input_len * (1 + cp["ratio"]) / 2
        chunks = math.ceil(s_in / budget)
        p = parts(c, plan, wl, min(s_in, budget))
        lat = sch.request_s() * 1e3
        m = meas[raw["id"]]
        pred, mt = out["ttft_s"] * 1e3 - lat, m["measured_ttft_ms"] - lat
        ratios.setdefault(raw["backend"], []).append(mt / pred)
        print(f"{raw['id'][:58]:58} | {chunks} x {budget:5.0f} | " + " ".join(f"{p[k] * 1e3:5.1f}" for k in keys)
              + f" | {p['total_s'] * 1e3:6.1f} {p['prefill_mode_total_s'] * 1e3:6.1f} | {pred:6.0f} {mt:6.0f}")
    for fw, r in ratios.items():
        print(f"{fw}: {len(r)} rows, median (measured - latency) / (predicted - latency) = {np.median(r):.2f}")


if __name__ == "__main__":
    main()
