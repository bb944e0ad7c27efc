"""Chrome / Perfetto trace-event JSON of a training step and of a serving simulation.

Reads only what the API returns: a ``superpod train`` record (its ``breakdown``, ``plan`` and the
``timeline`` it carries when asked with ``trace=...``) and a ``superpod simulate`` record (its
``timeline`` of request times). Nothing here prices anything; it lays the priced parts out on a
time axis. Format: the Trace Event Format's complete events (``"ph": "X"``, microseconds) and
metadata events naming processes and threads
(https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU), which
ui.perfetto.dev and chrome://tracing open.

Training: one process per system, one thread per pipeline stage. Every stage is priced as the
slowest (the model's stage), so each thread runs: its share of the pipeline bubble as warm-up
(stage s of p waits s/(p-1) of it), the micro-batches' forward and backward passes with the
exposed part of each collective after the pass it belongs to (TP, CP, EP and PP traffic split
evenly between forward and backward, as :mod:`superpod.training.step` prices it), recomputation
before each backward, the rest of the bubble as cool-down, then the exposed data-parallel gradient
sync, the optimizer and the framework's host overhead. Each thread's events sum to ``step_s``.
Collective time hidden behind compute is not in the record and is not drawn. Many micro-batches
are drawn in at most :data:`MAX_GROUPS` groups (each the sum of its micro-batches).

Serving: one process per instance, requests on lanes (threads) so that no two overlap on a lane;
each request is its wait plus prefill (co-located: until its first token; disaggregated: the
prefill pool, KV transfer included) then its decode, so its events sum to its end-to-end time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

MAX_GROUPS = 32  # micro-batch groups drawn per stage
MAX_REQUESTS = 5000  # requests drawn in a serving trace
US = 1e6  # trace-event timestamps are microseconds

COMM = (("tp_comm_s", "TP collectives (exposed)"), ("cp_comm_s", "CP K/V exchange (exposed)"),
        ("ep_comm_s", "EP all-to-all (exposed)"), ("pp_comm_s", "PP send/recv (exposed)"))


def _meta(pid: int, tid: int | None, kind: str, name: str) -> dict[str, Any]:
    ev = {"ph": "M", "pid": pid, "name": kind, "args": {"name": name}}
    if tid is not None:
        ev["tid"] = tid
    return ev


class _Track:
    """Events laid end to end on one thread."""

    def __init__(self, pid: int, tid: int) -> None:
        self.pid, self.tid, self.t_s, self.events = pid, tid, 0.0, []

    def add(self, name: str, dur_s: float, cat: str, **args: Any) -> None:
        if dur_s <= 0:
            return
        self.events.append({"name": name, "cat": cat, "ph": "X", "pid": self.pid, "tid": self.tid,
                            "ts": self.t_s * US, "dur": dur_s * US, "args": {"seconds": dur_s, **args}})
        self.t_s += dur_s


def train_trace(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Trace of one optimizer step of each ``superpod train`` record (requested with ``trace``)."""
    events: list[dict[str, Any]] = []
    for pid, rec in enumerate(records):
        if "timeline" not in rec:
            raise ValueError("the train record has no timeline: call superpod.train(..., trace=PATH)")
        b, plan, tl = rec["breakdown"], rec["plan"], rec["timeline"]
        pp, m = int(plan["pp"]), float(plan["micro_batches"])
        groups = max(1, min(math.ceil(m), MAX_GROUPS))
        per = m / groups
        events.append(_meta(pid, None, "process_name", f"{rec['system']}: {rec['model']} step {rec['step_s']:.3g} s"))
        for s in range(pp):
            events.append(_meta(pid, s, "thread_name", f"pipeline stage {s}"))
            t = _Track(pid, s)
            warm = b["bubble_s"] * (s / (pp - 1) if pp > 1 else 0.5)
            t.add("bubble (warm-up)", warm, "bubble")
            for g in range(groups):
                label = f"micro-batch {g + 1}" if per == 1 else f"micro-batches {g * per + 1:g}-{(g + 1) * per:g}"
                t.add(f"forward {label}", tl["compute_forward_s"] / groups, "compute", micro_batches=per)
                for key, name in COMM:
                    t.add(name, b[key] / 2 / groups, "comm", phase="forward")
                t.add(f"recompute {label}", b["recompute_s"] / groups, "compute")
                t.add(f"backward {label}", tl["compute_backward_s"] / groups, "compute", micro_batches=per)
                for key, name in COMM:
                    t.add(name, b[key] / 2 / groups, "comm", phase="backward")
            t.add("bubble (cool-down)", b["bubble_s"] - warm, "bubble")
            t.add("DP gradient sync (exposed)", b["dp_comm_exposed_s"], "comm")
            t.add("FSDP gathers (exposed)", b.get("fsdp_comm_exposed_s", 0.0), "comm")
            t.add("wait for the slowest replica", b.get("straggler_s", 0.0), "overhead")
            t.add("optimizer", b["optimizer_s"], "compute")
            t.add("framework overhead", b["overhead_s"], "overhead")
            t.add("GPU waiting for the host's launches", b.get("host_wait_s", 0.0), "overhead")
            t.add("activation offload (copies outlasting compute)", b.get("offload_s", 0.0), "comm")
            events += t.events
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"tool": "superpod train", "note": "exposed time only; overlapped collectives are hidden"}}


def simulate_trace(rec: Mapping[str, Any], max_requests: int = MAX_REQUESTS) -> dict[str, Any]:
    """Trace of a ``superpod simulate`` record (requested with ``trace``): each request's wait, prefill, decode."""
    if "timeline" not in rec:
        raise ValueError("the simulate record has no timeline: call superpod.simulate(..., trace=PATH)")
    tl = rec["timeline"]
    pd = rec.get("mode") == "pd"
    first_name = "prefill pool (wait + prefill + KV transfer)" if pd else "wait + prefill chunks"
    n = min(len(tl["arrival_s"]), max_requests)
    order = sorted(range(n), key=lambda i: (tl["instance"][i], tl["arrival_s"][i]))
    lanes: dict[int, list[float]] = {}  # instance -> end time of each lane
    events: list[dict[str, Any]] = []
    named: set[tuple[int, int]] = set()
    for i in order:
        pid = int(tl["instance"][i])
        if pid not in lanes:
            lanes[pid] = []
            events.append(_meta(pid, None, "process_name", f"{'decode ' if pd else ''}instance {pid}"))
        a, f, end = tl["arrival_s"][i], tl["first_token_s"][i], tl["finish_s"][i]
        ends = lanes[pid]
        lane = next((k for k, e in enumerate(ends) if e <= a), len(ends))
        if lane == len(ends):
            ends.append(end)
        ends[lane] = end
        if (pid, lane) not in named:
            named.add((pid, lane))
            events.append(_meta(pid, lane, "thread_name", f"lane {lane}"))
        t = _Track(pid, lane)
        t.t_s = a
        args = {"request": i, "input_tokens": tl["input_tokens"][i], "output_tokens": tl["output_tokens"][i]}
        t.add(first_name, f - a, "prefill", **args)
        t.add("decode", end - f, "decode", **args)
        events += t.events
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"tool": "superpod simulate", "requests_drawn": n, "requests": rec["requests"]}}


def write(trace: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``trace`` as JSON to ``path``."""
    p = Path(path)
    p.write_text(json.dumps(trace, separators=(",", ":")))
    return p
