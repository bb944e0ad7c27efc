"""Request-level simulation of the closed-loop benchmark with random lengths (InferenceMAX: vLLM's
``benchmark_serving.py --random-range-ratio R --num-prompts N x rounds --max-concurrency N``).

Each of the ``n`` clients sends ``rounds`` requests back to back, each with its own prompt and output
length drawn uniformly in ``[R L, L]``; all start together. The engine runs iterations back to back
under the framework's policy and per-iteration token budget (as :func:`superpod.serving.closed_loop.run`:
``mixed``, ``chunked``, ``prefill-first``) with the loop's iteration cost ``step(P, D)``. A request sent
when its predecessor's last token returns misses the iteration already scheduled and joins the next.

What it checks: one request's life varies only by the spread of its output length (relative std
``(1 - R) / (sqrt(12) (1 + R) / 2)``, 6.4% at R = 0.8), so the clients' phases might stay bunched
around each wave for 10 rounds, and a bunch's prompts would queue for prefill where the Poisson
trickle of :func:`superpod.serving.steady.spread_steady` spreads them thinly. They do not: each later
return gets a prefill iteration of its own, which spreads the next round further, and on every
answered InferenceMAX row of the public file this simulation and ``spread_steady`` agree within 7%
(tests/test_serve_waves.py, benchmarks/silicon/wave_sim.py). It is kept as that independent check;
its loop follows :func:`superpod.serving.closed_loop.run` request by request instead of by cohort.
Returns the benchmark's means over all requests (TTFT, TPOT = (last - first token) / (osl - 1)), the
first wave's and the later requests' TTFT, and output tokens/s.

Cost: events (a prompt chunk, a finish, an arrival), not iterations: runs of identical decode-only
iterations are priced at once, so ``n x rounds`` requests take ~``3 n rounds`` loop turns.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from superpod.serving.scheduling import POLICIES, advance


def lengths(rng: np.random.Generator, L: float, ratio: float, size: int) -> np.ndarray:
    """``size`` lengths as vLLM's ``sample_random_requests`` draws them: integers uniform in ``[int(ratio L), L]``."""
    L = max(int(round(L)), 1)
    lo = min(max(int(L * ratio), 1), L)
    return rng.integers(lo, L + 1, size=size).astype(float)


def simulate(step, n: int, isl: float, osl: float, budget: float, policy: str = "mixed", ratio: float = 0.8,
             rounds: int = 10, cap: int | None = None, tokens_per_iter: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Simulate the benchmark request by request (see the module docstring). ``isl``/``osl``: the
    maximum lengths ``L`` (the harness draws in ``[ratio L, L]``); ``cap``: requests running at once
    (the rest wait in the queue before their prompt starts)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    n = max(int(n), 1)
    rounds = max(int(rounds), 1)
    cap = n if cap is None else max(min(int(cap), n), 1)
    budget = max(float(budget), 1.0)
    rng = np.random.default_rng(seed)
    total = n * rounds
    ins = lengths(rng, isl, ratio, total)
    outs = lengths(rng, osl, ratio, total)
    prefill_only = policy == "prefill-first"
    # waiting requests FIFO: [index, prompt tokens left, arrival s, first iteration it may join, started]
    waiting: deque[list] = deque([[i, ins[i], 0.0, 0, False] for i in range(n)])
    issued = n
    finishing: list[tuple] = []  # heap of (decode iteration it finishes at, index)
    first = np.zeros(total)
    arrive = np.zeros(total)
    last = np.zeros(total)
    D = 0
    started = 0
    S = 0  # decode iterations so far
    now, it = 0.0, 0
    while waiting or finishing:
        if not finishing and waiting and waiting[0][3] > it:  # idle engine: serve the next arrival at once
            it = waiting[0][3]
            continue
        room = cap - D - started
        left = budget if prefill_only else budget - D
        P, admitted = 0.0, []
        for w in waiting:
            if w[3] > it or left <= 0:
                break
            if not w[4] and room <= 0:
                break
            if w[1] <= left:
                admitted.append((w, w[1]))
                P += w[1]
                left -= w[1]
                room -= 0 if w[4] else 1
                continue
            # does not fit whole: vLLM and SGLang chunk it; TensorRT-LLM waits unless it never fits
            if policy == "mixed" and (w[1] <= budget - D or admitted):
                break
            admitted.append((w, left))
            P += left
            room -= 0 if w[4] else 1
            left = 0.0
            break
        if P <= 0 and not finishing:
            break
        now, it, S = advance(step, P, D, prefill_only, finishing, waiting, room, now, it, S)
        if P > 0:
            for w, tok in admitted:
                if tok >= w[1]:
                    waiting.remove(w)
                    if w[4]:
                        started -= 1
                    i = w[0]
                    first[i] = now
                    steps = max(math.ceil(max(outs[i] - 1.0, 0.0) / tokens_per_iter), 0)
                    heapq.heappush(finishing, (S + steps, i))
                    D += 1
                else:
                    w[1] -= tok
                    if not w[4]:
                        w[4] = True
                        started += 1
        while finishing and finishing[0][0] <= S:
            _, i = heapq.heappop(finishing)
            D -= 1
            last[i] = now
            if issued < total:  # this client's next request; it misses the iteration already scheduled
                arrive[issued] = now
                waiting.append([issued, ins[issued], now, it + 1, False])
                issued += 1
    ttft = first - arrive
    tpot = np.where(outs > 1, (last - first) / np.maximum(outs - 1.0, 1.0), 0.0)
    span = last.max() - 0.0
    return {"ttft_s": float(ttft.mean()), "tpot_s": float(tpot.mean()),
            "first_wave_ttft_s": float(ttft[:n].mean()), "steady_ttft_s": float(ttft[n:].mean()) if total > n else float(ttft.mean()),
            "steady_tpot_s": float(tpot[n:].mean()) if total > n else float(tpot.mean()),
            "output_tokens_per_s": float(outs.sum() / span) if span > 0 else 0.0}
