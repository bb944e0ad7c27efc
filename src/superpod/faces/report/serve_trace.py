"""Chrome / Perfetto trace-event JSON of a serving simulation's timeline (``superpod simulate --trace``).

Reads the ``timeline`` a ``superpod simulate`` record carries when asked with ``trace=...``; nothing
here prices anything. Besides each request's life per instance (:func:`superpod.faces.report.trace.simulate_trace`:
wait + prefill, then decode, on lanes) it draws:

* the prefill pool, one thread per worker: each iteration (a batch of prompts, or one chunk under
  ``--policy chunked``) as a complete event with its tokens and prompts;
* the decode pool (co-located: the replicas), one thread per worker: the iterations between two
  events (a request joining or leaving) as one complete event with its step count and batch;
* queues as counters: prompts waiting for a prefill worker, and (disaggregated) sequences waiting
  for a decode slot.

Format: the Trace Event Format's complete (``"ph": "X"``), counter (``"C"``) and metadata (``"M"``)
events, microseconds (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from superpod.faces.report.trace import US, _meta, simulate_trace

MAX_ITERATIONS = 20000  # iteration events drawn per pool
MAX_COUNTER = 5000  # counter samples per queue
PREFILL_PID, DECODE_PID, QUEUE_PID = 100000, 100001, 100002


def _counter(name: str, enter, leave) -> list[dict[str, Any]]:
    t = np.concatenate([np.asarray(enter, dtype=float), np.asarray(leave, dtype=float)])
    d = np.concatenate([np.ones(len(enter)), -np.ones(len(leave))])
    order = np.lexsort((d, t))
    t, level = t[order], np.cumsum(d[order])
    step = max(len(t) // MAX_COUNTER, 1)
    idx = list(range(0, len(t), step)) + ([len(t) - 1] if len(t) else [])
    return [{"name": name, "ph": "C", "pid": QUEUE_PID, "ts": float(t[i]) * US, "args": {"waiting": float(max(level[i], 0))}}
            for i in sorted(set(idx))]


def simulate_full_trace(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The requests' lanes plus the pools' iterations and the queue counters of a simulate record."""
    out = simulate_trace(rec)
    tl = rec["timeline"]
    pd = rec.get("mode") == "pd"
    events = out["traceEvents"]
    it = tl.get("iterations", {})
    for pid, key, title in ((PREFILL_PID, "prefill", "prefill pool (iterations)"),
                            (DECODE_PID, "decode", "decode pool (iterations)" if pd else "replicas (iterations)")):
        rows = it.get(key, [])
        if not rows:
            continue
        events.append(_meta(pid, None, "process_name", title))
        named = set()
        for w, start, dur, a, b in rows[:MAX_ITERATIONS]:
            w = int(w)
            if w not in named:
                named.add(w)
                events.append(_meta(pid, w, "thread_name", f"worker {w}"))
            if dur <= 0:
                continue
            if key == "prefill":
                name, args = f"prefill {a:,.0f} tokens", {"tokens": a, "prompts": b}
            else:
                name, args = f"decode x{a:,.0f} steps, batch {b:,.0f}", {"steps": a, "batch": b}
            events.append({"name": name, "cat": key, "ph": "X", "pid": pid, "tid": w, "ts": start * US,
                           "dur": max(dur, 0.0) * US, "args": {"seconds": dur, **args}})
    events.append(_meta(QUEUE_PID, None, "process_name", "queues"))
    events += _counter("prompts waiting for prefill", tl["arrival_s"], tl.get("prefill_start_s", tl["arrival_s"]))
    if pd and "decode_slot_s" in tl:
        events += _counter("sequences waiting for a decode slot", tl["decode_start_s"], tl["decode_slot_s"])
    out["otherData"]["iterations_drawn"] = {k: min(len(v), MAX_ITERATIONS) for k, v in it.items()}
    return out
