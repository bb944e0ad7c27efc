"""Request-level, iteration-level discrete-event simulation of a serving deployment.

Requests arrive as a Poisson stream with sampled prompt and output lengths. Two modes:

* ``pd`` (disaggregated): a prefill pool of instances takes queued prompts first come
  first served, batching up to its token budget per step; the KV cache then moves to a
  decode instance (exposed transfer, :mod:`.pd`), which runs continuous batching up to
  its batch cap (KV memory and TPOT target): every step advances all running sequences
  by ``E[tokens per step]``;
* ``colocated``: each instance interleaves chunked prefill (a token budget per
  iteration, Sarathi-Serve) with the decode of its running sequences.

Step times come from the analytical model (:mod:`.decode`, :mod:`.prefill`) tabulated
once per plan and interpolated, so the loop only moves events: between two events (an
arrival joining, a sequence finishing) a decode instance's batch is constant and many
steps are taken at once. Reports TTFT/TPOT percentiles and goodput under the SLOs.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from superpod.errors import InvalidOptionError
from superpod.serving.caching import PrefixRequests, step_with_fetch


@dataclass
class Pools:
    """What the simulation needs of a deployment (per instance, seconds)."""

    mode: str
    prefill_instances: int
    prefill_budget_tokens: float  # prompt tokens per prefill step of one instance
    prefill_step_s: Callable[[np.ndarray], np.ndarray]  # tokens per instance -> step time
    decode_instances: int
    decode_cap: int  # sequences one decode instance runs at most
    decode_step_s: np.ndarray  # index b = sequences in the instance (0..cap)
    tokens_per_step: float
    transfer_s: Callable[[np.ndarray], np.ndarray]  # prompt tokens -> exposed KV transfer
    chunked: bool = False  # pd prefill: split prompts to fill every step to the budget (else whole prompts, FCFS)


def _with_fetch(compute_s: float, fetch_s: float, layers: int) -> float:
    """A step's time once its prefixes' KV is fetched from the caching tier (layer by layer under the compute)."""
    return float(step_with_fetch(compute_s, fetch_s, layers)) if fetch_s > 0 else compute_s


def _prefill_pool(p: Pools, arrival: np.ndarray, s_in: np.ndarray, tick, log=None, fetch=None,
                  layers: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """Times each request's prefill starts and ends (FCFS, batches of whole prompts up to the token budget;
    a prompt longer than the budget runs alone in budget-sized chunks) and the pool's busy seconds.
    ``fetch`` (seconds per request, the caching tier): the batch's fetches load under its compute."""
    if p.chunked:
        return _prefill_pool_chunked(p, arrival, s_in, tick, log, fetch, layers)
    n = len(arrival)
    done = np.empty(n)
    begin = np.empty(n)
    busy = 0.0
    free = [(0.0, w) for w in range(p.prefill_instances)]
    heapq.heapify(free)
    i = 0
    budget = p.prefill_budget_tokens
    while i < n:
        t_free, w = heapq.heappop(free)
        start = max(t_free, arrival[i])
        j = i
        tokens = 0.0
        while j < n and arrival[j] <= start and (j == i or tokens + s_in[j] <= budget):
            tokens += s_in[j]
            j += 1
        steps = max(np.ceil(tokens / budget), 1.0)
        dur = float(p.prefill_step_s(np.array([min(tokens, budget)]))[0]) * steps
        if fetch is not None:
            dur = _with_fetch(dur, float(fetch[i:j].sum()), layers)
        done[i:j] = start + dur
        begin[i:j] = start
        busy += dur
        heapq.heappush(free, (start + dur, w))
        if log is not None:
            log["prefill"].append((w, start, dur, tokens, j - i))
        i = j
        tick(0)
    return begin, done, busy


def _prefill_pool_chunked(p: Pools, arrival: np.ndarray, s_in: np.ndarray, tick, log=None, fetch=None, layers: int = 1):
    """Chunked prefill (Sarathi-Serve's budget, DistServe's prefill workers): each step of a worker fills
    its token budget, first with the rest of the prompt it started, then with new prompts (split at the
    budget); a prompt's chunks stay on one worker (its KV cache is there)."""
    n = len(arrival)
    done, begin = np.empty(n), np.empty(n)
    budget = p.prefill_budget_tokens
    free = [(0.0, w) for w in range(p.prefill_instances)]
    heapq.heapify(free)
    pinned: list[list | None] = [None] * p.prefill_instances
    i, busy = 0, 0.0
    while i < n or any(x is not None for x in pinned):
        t, w = heapq.heappop(free)
        if pinned[w] is None and i >= n:
            continue  # this worker has nothing left; the others finish their prompts
        start = t if pinned[w] is not None else max(t, arrival[i])
        tokens, finished, fetch_s = 0.0, [], 0.0
        if pinned[w] is not None:
            r, left = pinned[w]
            take = min(left, budget)
            tokens += take
            pinned[w] = None if take >= left else [r, left - take]
            if take >= left:
                finished.append(r)
        while pinned[w] is None and tokens < budget and i < n and arrival[i] <= start:
            take = min(s_in[i], budget - tokens)
            tokens += take
            begin[i] = start
            if fetch is not None:  # the prefix loads with the prompt's first chunk
                fetch_s += float(fetch[i])
            if take >= s_in[i]:
                finished.append(i)
            else:
                pinned[w] = [i, s_in[i] - take]
            i += 1
        dur = float(p.prefill_step_s(np.array([tokens]))[0])
        if fetch is not None:
            dur = _with_fetch(dur, fetch_s, layers)
        for r in finished:
            done[r] = start + dur
        busy += dur
        heapq.heappush(free, (start + dur, w))
        if log is not None:
            log["prefill"].append((w, start, dur, tokens, len(finished)))
        tick(0)
    return begin, done, busy


def _decode_instance(p: Pools, ready: np.ndarray, steps_needed: np.ndarray, order: np.ndarray,
                     first: np.ndarray, finish: np.ndarray, tick, d: int = 0, log=None) -> None:
    """Continuous batching on one decode instance; fills ``first``/``finish`` (decode start, end)."""
    cap = p.decode_cap
    table = p.decode_step_s
    k = 0
    n = len(order)
    waiting: deque[int] = deque()
    active: list[tuple[float, int]] = []  # (step index at which it finishes, request)
    now, S = 0.0, 0.0
    while k < n or waiting or active:
        while k < n and ready[order[k]] <= now:
            waiting.append(order[k])
            k += 1
        while waiting and len(active) < cap:
            r = waiting.popleft()
            first[r] = now
            heapq.heappush(active, (S + steps_needed[r], r))
        if not active:
            if k < n:
                now = max(now, ready[order[k]])
                continue
            break
        next_ready = ready[order[k]] if k < n and len(active) < cap else None
        t0, S0 = now, S
        now, S = _decode_until_event(active, table[len(active)], now, S, next_ready)
        if log is not None:
            log["decode"].append((d, t0, now - t0, S - S0, len(active)))
        _retire(active, S, now, finish, tick)


def _decode_until_event(active: list, dt: float, now: float, S: float, next_ready: float | None) -> tuple[float, float]:
    """Run decode steps of ``dt`` until the next request finishes or, if one could join, arrives."""
    steps = max(active[0][0] - S, 1.0)
    if next_ready is not None:
        steps = min(steps, max(np.ceil((next_ready - now) / dt), 1.0))
    return now + steps * dt, S + steps


def _retire(active: list, S: float, now: float, finish: np.ndarray, tick) -> None:
    """Pop the requests whose last token came by step ``S``; they finish at ``now``."""
    while active and active[0][0] <= S + 1e-9:
        _, r = heapq.heappop(active)
        finish[r] = now
        tick(1)


def _colocated_instance(p: Pools, arrival: np.ndarray, s_in: np.ndarray, steps_needed: np.ndarray,
                        order: np.ndarray, first: np.ndarray, finish: np.ndarray, tick, d: int = 0,
                        log=None, fetch=None, layers: int = 1) -> None:
    """One co-located instance: each iteration carries a prefill chunk and the decode batch."""
    cap = p.decode_cap
    table = p.decode_step_s
    budget = p.prefill_budget_tokens
    k, n = 0, len(order)
    waiting: deque[list] = deque()  # [request, prompt tokens left]
    active: list[tuple[float, int]] = []
    now, S = 0.0, 0.0
    while k < n or waiting or active:
        while k < n and arrival[order[k]] <= now:
            waiting.append([order[k], s_in[order[k]]])
            k += 1
        if not waiting and not active:
            now = arrival[order[k]]
            continue
        if waiting and len(active) < cap:  # one iteration with a prefill chunk
            chunk, joined, fetch_s = 0.0, [], 0.0
            while waiting and chunk < budget and len(active) + len(joined) < cap:
                item = waiting[0]
                if fetch is not None and item[1] == s_in[item[0]]:  # the prefix loads with the first chunk
                    fetch_s += float(fetch[item[0]])
                take = min(item[1], budget - chunk)
                chunk += take
                item[1] -= take
                if item[1] <= 0:
                    joined.append(waiting.popleft()[0])
                else:
                    break
            dt = table[len(active)] + float(p.prefill_step_s(np.array([chunk]))[0])
            if fetch is not None:
                dt = _with_fetch(dt, fetch_s, layers)
            if log is not None:
                log["decode"].append((d, now, dt, 1, len(active)))
                log["prefill"].append((d, now, dt, chunk, len(joined)))
            now += dt
            S += 1
            for r in joined:
                first[r] = now
                heapq.heappush(active, (S + steps_needed[r], r))
        else:  # decode only until the next event
            next_ready = arrival[order[k]] if k < n and len(active) < cap else None
            t0, S0 = now, S
            now, S = _decode_until_event(active, table[len(active)], now, S, next_ready)
            if log is not None:
                log["decode"].append((d, t0, now - t0, S - S0, len(active)))
        _retire(active, S, now, finish, tick)


def simulate(p: Pools, rate: float, n: int, input_dist, output_dist, seed: int = 0,
             ttft_slo_s: float | None = None, tpot_slo_s: float | None = None, progress=None,
             timeline: bool = False, arrival_s: np.ndarray | None = None,
             lengths: tuple[np.ndarray, np.ndarray] | None = None,
             cache: PrefixRequests | None = None) -> dict[str, Any]:
    """Simulate ``n`` requests at ``rate`` per second (Poisson, or the given ``arrival_s`` and
    ``lengths`` = (prompt tokens, output tokens) of a trace); returns latency percentiles (of all
    requests and, ``steady_*``, of those arriving after the first 30% of the arrivals' span),
    goodput, queue lengths and utilisation per pool. ``cache`` (the caching tier as a third resource):
    each prefill computes only its prompt's tokens the pool misses and waits for the fetch of its hits
    (``cache`` in the record: token hit rate, bytes and bandwidth fetched, fetch per request)."""
    if not (np.isfinite(rate) and rate > 0) or n < 1:
        raise InvalidOptionError("--rate must be a finite number > 0 and --requests >= 1")
    if not 0 <= seed < 2 ** 32:
        raise InvalidOptionError(f"--seed must be in [0, 2**32), got {seed}")
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate, n)) if arrival_s is None else np.asarray(arrival_s, dtype=float)
    if lengths is None:
        s_in = input_dist(rng, n)
        s_out = output_dist(rng, n)
    else:
        s_in, s_out = (np.asarray(x, dtype=float) for x in lengths)
    steps_needed = np.ceil(np.maximum(s_out - 1.0, 0.0) / p.tokens_per_step)
    fetch, s_new, layers = None, s_in, 1
    if cache is not None:
        hit, fetch = cache.serve(s_in)
        s_new, layers = s_in - hit, cache.layers
    first = np.zeros(n)
    finish = np.zeros(n)
    done = [0]
    log = {"prefill": [], "decode": []} if timeline else None

    def tick(i):
        done[0] += i
        if progress is not None and (done[0] % 2000 == 0 or done[0] == n) and i:
            progress(done[0], n)

    if p.mode == "pd":
        p_begin, p_done, p_busy = _prefill_pool(p, arrival, s_new, tick, log, fetch, layers)
        ready = p_done + p.transfer_s(s_in)
        inst = np.arange(n) % p.decode_instances
        for d in range(p.decode_instances):
            idx = np.nonzero(inst == d)[0]
            order = idx[np.argsort(ready[idx], kind="stable")]
            _decode_instance(p, ready, steps_needed, order, first, finish, tick, d, log)
        ttft = ready - arrival  # the first token leaves with the prefill
        decode_start = ready  # waiting for a decode slot shows in TPOT
    else:
        inst = np.arange(n) % p.decode_instances
        for d in range(p.decode_instances):
            order = np.nonzero(inst == d)[0]
            _colocated_instance(p, arrival, s_new, steps_needed, order, first, finish, tick, d, log, fetch, layers)
        ttft = first - arrival
        decode_start = first
        p_begin, p_busy = arrival, 0.0
    if progress is not None:
        progress(n, n)
    tpot = np.where(s_out > 1, (finish - decode_start) / np.maximum(s_out - 1.0, 1.0), 0.0)
    # steady-state rates: completions between the 10th and 90th percentile of finish times
    # (no ramp-up, no drain tail); the whole run's length is reported apart
    lo, hi = np.percentile(finish, [10, 90])
    window = max(float(hi - lo), 1e-9)
    inside = (finish > lo) & (finish <= hi)
    ok = np.ones(n, dtype=bool)
    if ttft_slo_s is not None:
        ok &= ttft <= ttft_slo_s
    if tpot_slo_s is not None:
        ok &= tpot <= tpot_slo_s
    span = max(float(finish.max() - arrival[0]), 1e-9)
    if inside.sum() < 2:  # too few requests (or all finishing at once) for a steady state: the whole run
        inside, window = np.ones(n, dtype=bool), span

    def pct(x):
        return {f"p{q}": float(np.percentile(x, q)) for q in (50, 90, 99)} | {"mean": float(x.mean())}

    steady = arrival >= arrival[0] + 0.3 * (arrival[-1] - arrival[0])
    if steady.sum() < 2:
        steady = np.ones(n, dtype=bool)
    slots = p.decode_cap * p.decode_instances
    out = {
        "requests": n, "rate_per_s": rate, "duration_s": span,
        "ttft_s": pct(ttft), "tpot_s": pct(tpot),
        "steady_ttft_s": pct(ttft[steady]), "steady_tpot_s": pct(tpot[steady]),
        "queue": {"prefill_mean": float(np.sum(p_begin - arrival) / span), "prefill_max": _max_in(arrival, p_begin),
                  "decode_mean": float(np.sum(first - decode_start) / span) if p.mode == "pd" else 0.0,
                  "decode_max": _max_in(decode_start, first) if p.mode == "pd" else 0},
        "utilisation": {"prefill": float(p_busy / (max(p.prefill_instances, 1) * span)) if p.mode == "pd" else None,
                        "decode_slots": float(np.sum(finish - first) / (slots * span))},
        "e2e_s": pct(finish - arrival),
        "throughput_output_tokens_per_s": float(s_out[inside].sum() / window),
        "throughput_requests_per_s": float(inside.sum() / window),
        "goodput_requests_per_s": float((ok & inside).sum() / window),
        "goodput_fraction": float(ok.mean()),
        "goodput_output_tokens_per_s": float(s_out[ok & inside].sum() / window),
        "mean_input_len": float(s_in.mean()), "mean_output_len": float(s_out.mean()),
    }
    if cache is not None:
        pool = cache.pool
        out["cache"] = {"hit_rate": float(hit.sum() / s_in.sum()), "hits": pool.hits, "misses": pool.misses,
                        "fetched_bytes": pool.fetched_bytes, "pool_Bps": pool.fetched_bytes / span,
                        "fetch_s_per_request": float(fetch.mean()), "prefix_tokens_per_request": float(hit.mean())}
    if timeline:  # each request's life, for a trace (faces/report/trace.py)
        out["timeline"] = {"instance": inst.tolist(), "arrival_s": arrival.tolist(), "first_token_s": (arrival + ttft).tolist(),
                           "decode_start_s": decode_start.tolist(), "finish_s": finish.tolist(),
                           "input_tokens": s_in.tolist(), "output_tokens": s_out.tolist(),
                           "prefill_start_s": np.asarray(p_begin, dtype=float).tolist(), "decode_slot_s": first.tolist(),
                           "iterations": {k: [list(map(float, r)) for r in v] for k, v in log.items()}}
    return out


def _max_in(enter: np.ndarray, leave: np.ndarray) -> int:
    """Most requests at once between ``enter`` and ``leave`` (a sweep over the events)."""
    t = np.concatenate([enter, leave])
    d = np.concatenate([np.ones(len(enter)), -np.ones(len(leave))])
    order = np.lexsort((d, t))  # leaving before entering at the same instant
    return int(max(np.cumsum(d[order]).max(), 0))
