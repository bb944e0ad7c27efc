"""Steady states of the closed-loop benchmark that the iteration simulation of
:mod:`superpod.serving.closed_loop` does not follow: requests with random lengths (the waves
dissolve), the queue that forms when an engine admits fewer requests than the clients in flight
(a reserving KV cache, a cap on running requests), and paged engines whose KV cache runs short
(they admit every prompt and preempt instead of queueing).

They take the loop's iteration-time function ``step(P, D)`` (seconds of an iteration with ``P``
prompt tokens and ``D`` decoding sequences) or its results, so they price any scheduler.
"""

from __future__ import annotations

import math

from superpod.serving.holds import Hold


def spread_steady(step, n: int, isl: float, osl: float, budget: float, policy: str = "mixed",
                  tokens_per_iter: float = 1.0, recv: int = 1, hold: Hold | None = None) -> dict[str, float]:
    """Steady state of the closed loop when the benchmark draws each request's lengths at random
    (vLLM's ``benchmark_serving.py --random-range-ratio``, as InferenceMAX runs it): the requests'
    lives differ, so after the first wave the clients come back at independent times and the
    waves dissolve. ``n`` sequences decode; a request returns every ``life / n`` iterations on
    average, so an iteration carries ``a = n / life`` new prompts (``P = a s_in`` tokens, at most
    the budget), in whole chunks: a share ``1 - exp(-a)`` of the iterations carries prompts (Poisson
    arrivals; all of them once the budget is saturated), the rest only decode. A request arrives as its predecessor's last token leaves
    (an iteration boundary), misses the iteration already scheduled and is prefilled in the
    next, beside the other arrivals (``mixed``/``chunked``: with the decodes; ``prefill-first``:
    in a prefill-only iteration that the decodes sit through). When the prompts exceed the
    budget the loop is prefill-bound: ``B / s_in`` requests leave an iteration and the rest
    wait in the queue. ``isl``/``osl`` are the mean lengths.

    ``recv``: decode iterations between two looks at the queue (SGLang ``--scheduler-recv-interval``,
    :meth:`~superpod.serving.scheduling.Scheduler.interval`). Arrivals then wait for the next look,
    ``(recv + 1) / 2`` iterations on average instead of one, and a look finds the ``a recv`` that came
    since the last: under prefill-first they share one prefill iteration (a share ``1 - exp(-a recv)``
    of the looks finds any), so TTFT carries the window's prompts beside its own; under the other
    policies only the wait is added. ``recv = 1`` is the engine that looks every iteration.

    ``hold``: prompts held back while generation runs (TensorRT-LLM's batch waiting and attention-DP
    balance, :class:`~superpod.serving.holds.Hold`; mixed and chunked policies): a prompt waits
    :meth:`~superpod.serving.holds.Hold.steady`'s mean wait in decode-only iterations, and the prompts
    held together run in one release iteration (or its chunks): a share ``a / together`` of the
    iterations carries them.

    Returns ``steady_ttft_s``, ``steady_tpot_s`` and ``output_tokens_per_s``.

    >>> st = spread_steady(lambda P, D: 0.01 + 1e-5 * P if (P or D) else 0.0, 8, 1024, 1024, 8192)
    >>> round(st["steady_ttft_s"] * 1e3, 1)  # the skipped iteration + the own prefill
    30.4
    """
    n, recv = max(int(n), 1), max(int(recv), 1)
    isl, budget = max(float(isl), 1.0), max(float(budget), 1.0)
    steps_out = max(math.ceil(max(osl - 1.0, 0.0) / tokens_per_iter), 1)
    prefill_only = policy == "prefill-first"
    room = budget if prefill_only else max(budget - n, 1.0)
    chunks = math.ceil(isl / room)
    # the budget prefills at most room / s_in prompts an iteration, so a request lives at least
    # n s_in / room iterations: past that the loop is prefill-bound and the rest is queueing
    bound_it = max(n * isl / room - steps_out, 0.0)
    wait_it = max(2.0, bound_it)  # iterations from arrival to first token, first guess
    for _ in range(12):  # fixed point: the arrival rate depends on the wait
        a = n / (steps_out + wait_it)
        if prefill_only:
            P = min(a * recv * isl, room)  # the other prompts a look finds
            t_dec = step(0.0, n)
            t_pre = step(min(isl, room) + P, 0.0)
            busy = 1.0 - math.exp(-a * recv)  # share of looks followed by a prefill iteration
            # prefill iterations per decode iteration: one per look that finds someone, but never fewer than
            # the prompt tokens need (a queue that is never empty is prefilled without waiting for a look)
            t_it = t_dec + max(busy / recv, min(a * isl / room, 1.0 - math.exp(-a))) * t_pre
            ttft = t_dec * (recv + 1) / 2.0 + chunks * t_pre
        else:  # iterations carry whole prompt chunks, not a mean trickle (the MoE and GEMM
            # costs are concave in tokens), so the mean iteration mixes the two kinds
            P = min(a * isl, room)
            held, together = hold.steady(a, n, isl) if hold else (0.0, 1.0)
            if held > 0:  # the held prompts run together: a share a / together of the iterations releases them
                tokens = together * isl
                rel = math.ceil(tokens / room)
                t_rel = step(min(tokens / rel, room), n)
                f = min(rel * a / together, 1.0)
                t_it = (1.0 - f) * step(0.0, n) + f * t_rel
                ttft = t_it * (recv + 1) / 2.0 + held * step(0.0, n) + rel * t_rel
            else:
                busy = min(max(1.0 - math.exp(-a * chunks), P / room), 1.0)  # all of them when prefill-bound
                t_it = (1.0 - busy) * step(0.0, n) + busy * step(min(P / max(busy, 1e-12), room), n)
                ttft = t_it * (recv + 1) / 2.0 + chunks * step(min(isl, room) + P, n)
        ttft = max(ttft, bound_it * t_it)
        new = ttft / max(t_it, 1e-12)
        if abs(new - wait_it) < 1e-6 * max(new, 1.0):
            break
        wait_it = new
    return {"steady_ttft_s": ttft, "steady_tpot_s": t_it / tokens_per_iter, "output_tokens_per_s": n * tokens_per_iter / t_it}


def queued_steady(st: dict[str, float], n: int, k: int, osl: float) -> dict[str, float]:
    """The steady state ``st`` of ``k`` running requests (:func:`spread_steady`) when ``n > k`` clients
    are in flight: the engine admits a waiting request only when its KV cache (or its cap on running
    requests) has room for it, so the other ``n - k`` wait in the queue before their first token.
    A slot frees every ``life / k`` seconds (``life``: a running request's time from admission to its
    last token), so a request waits ``(n - k) life / k`` on average: TTFT grows with the clients
    beyond the cap while TPOT stays the running batch's.

    >>> st = {"steady_ttft_s": 0.1, "steady_tpot_s": 0.01, "output_tokens_per_s": 1600.0}
    >>> round(queued_steady(st, 32, 16, 101)["steady_ttft_s"], 2)  # 16 ahead, a request lives 0.1 + 1 s
    1.2
    """
    out = dict(st)
    if n > k >= 1:
        life = st["steady_ttft_s"] + max(osl - 1.0, 0.0) * st["steady_tpot_s"]
        out["steady_ttft_s"] = st["steady_ttft_s"] + (n - k) / k * life
    return out


def preempting(held: dict[str, float], admitted: dict[str, float], n: int, osl: float) -> dict[str, float]:
    """A paged engine (vLLM, SGLang) whose cache holds fewer than the ``n`` requests in flight:
    it admits every prompt while pages for it are free and, when the growing contexts run out of
    pages, preempts (vLLM V1: recompute) or retracts (SGLang) running requests back to the
    waiting queue. A request's first token therefore leaves as in the unconstrained loop
    (``admitted``: TTFT), and the cache's limit shows in TPOT: only ``running_batch`` sequences
    advance at once (``held``: the loop capped at what fits gives the engine's output rate ``X``),
    so by Little's law a request lives ``n osl / X`` and TPOT = (life - TTFT) / (osl - 1). The
    recomputation of preempted contexts is not priced (it lowers ``X`` further)."""
    rate = held["output_tokens_per_s"]
    out = dict(held)
    for k in ("ttft_s", "steady_ttft_s", "first_wave_ttft_s"):
        out[k] = admitted[k]
    if rate > 0 and osl > 1:
        for k in ("tpot_s", "steady_tpot_s"):
            out[k] = max((n * osl / rate - admitted[k.replace("tpot", "ttft")]) / (osl - 1.0), admitted[k])
    out["preempted"] = 1.0
    return out
