"""Fit each framework's request latency (``request_latency`` in
catalog/calibration/frameworks/scheduling.toml) on the public silicon file.

A request's first token pays, beside the engine iterations the closed loop prices, the server's
request path (HTTP ingress, tokenisation, hand-off to the scheduler process, the first token's
detokenisation and stream). Only end-to-end runs show it, so it is fitted on them: per framework,
the constant that minimises TTFT MAPE over the answered co-located rows (``mode = agg``) at a
concurrency of at most 4, where a wave is one iteration and the constant is most of the gap.

Run: ``python benchmarks/silicon/fit_request_latency.py`` (one pass of ``validate silicon``).
"""

from __future__ import annotations

import csv

import numpy as np

from superpod.planners import validation_silicon as vs
from superpod.serving import closed_loop as cl

MAX_CONCURRENCY = 4
GRID_S = np.arange(0.0, 0.300, 0.001)


def rows_without_latency() -> list[dict]:
    """``validate silicon`` with no request latency: the framework's scheduler and the launched one
    (rows with InferenceMAX's server settings) both come from ``scheduler``, patched where each is bound."""
    real = cl.scheduler
    free = lambda name: real(name).model_copy(update={"request_latency": None})  # noqa: E731
    cl.scheduler = vs.scheduler = free
    try:
        return vs.validate_silicon()["rows"]
    finally:
        cl.scheduler = vs.scheduler = real


def main() -> None:
    raw = {r["id"]: r for r in csv.DictReader(vs.default_file().read_text().splitlines())}
    rows = rows_without_latency()
    for fw in ("trtllm", "vllm", "sglang"):
        sel = []
        for r in rows:
            w = raw[r["id"]]
            conc = float(w["batch_size"] or 1) * float(w["attention_dp_size"] or 1)
            if r["status"] == "ok" and r["mode"] == "agg" and r["framework"] == fw and conc <= MAX_CONCURRENCY:
                sel.append((r["predicted_ttft_ms"] / 1e3, r["measured_ttft_ms"] / 1e3))
        p, m = np.array(sel).T
        mape = [float(np.mean(np.abs((p + a) / m - 1))) for a in GRID_S]
        best = int(np.argmin(mape))
        print(f"{fw}: {len(sel)} rows at concurrency <= {MAX_CONCURRENCY}: TTFT MAPE {mape[0]:.1%} -> "
              f"{mape[best]:.1%} with {GRID_S[best] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
