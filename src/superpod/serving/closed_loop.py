"""Co-located serving at fixed concurrency as benchmarks run it: a closed loop, iteration by iteration.

A benchmark client (aiperf, genai-perf, trtllm-bench) keeps ``N`` requests in flight: all ``N``
are sent at once, and each time one finishes its client sends the next, until ``R`` requests
(AIConfigurator's harness: ``R = 20 N``) have run. Prompts and outputs have fixed lengths, so
requests that start together finish together and arrive again together: the load comes in
waves, and how a wave's prompts are spread over iterations decides TTFT. The engine's scheduler
runs iterations back to back; each iteration carries every decoding sequence (one token each,
``E[tokens per step]`` with MTP) and as many waiting prompt tokens as the framework's
per-iteration token budget ``B`` allows (TensorRT-LLM ``max_num_tokens``, vLLM
``max_num_batched_tokens``, SGLang ``chunked_prefill_size``), under one of three policies:

* ``mixed`` (TensorRT-LLM in-flight batching, chunked context off by default): decode tokens
  count against ``B``; whole prompts are admitted first come first served while they fit in
  what is left (a prompt longer than ``B`` is chunked);
* ``chunked`` (vLLM V1): decodes first, the rest of ``B`` filled with prompt chunks;
* ``prefill-first`` (SGLang without ``--enable-mixed-chunk``): a waiting prompt gets a
  prefill-only iteration of up to ``B`` tokens; the decoding requests stall for it.

A request sent when its predecessor's last token returns misses the iteration the engine
scheduled before that token came back (overlap schedulers): it waits for that iteration and
joins the next; into an idle engine it goes at once. Its first token leaves with the iteration that finishes its prompt (TTFT), its last
``osl - 1`` iterations later; TPOT = (finish - first token) / (osl - 1), so the prefill
iterations that decoding requests sit through are in it. The engine admits at most its cap on
running requests (vLLM ``max_num_seqs``, SGLang ``max_running_requests``, TensorRT-LLM
``max_batch_size``) and, where it reserves KV for a request's whole length (TensorRT-LLM's
GUARANTEED_NO_EVICT), what its cache holds; the rest wait in the queue before their first token, so
TTFT grows with the clients beyond it and TPOT is the running batch's. Paged engines (vLLM, SGLang)
count a request's KV at its mean context (SGLang keeps ``new_token_ratio`` of the remaining output
free as well, :meth:`Scheduler.held_tokens`) in the framework's pools for sliding-window layers
(:meth:`Scheduler.kv_per_sequence`); when that holds fewer than the admitted requests they still
start every prompt (vLLM admits a prompt when blocks for it are free, reserving nothing for its
output) and preempt running ones instead, so the shortfall shows in TPOT (:func:`preempting`;
queueing them instead was tried against the measured runs and lost, benchmarks/silicon/RESULTS_ttft.md). Benchmarks that draw lengths at random (``--random-range-ratio``)
dissolve the waves after the first; their steady state is :func:`spread_steady`. Every first token
also pays the framework's request latency (``request_latency`` in the catalog: the server's
request path, a calibration fitted on end-to-end runs).

Iteration times come from the cost model (:func:`iteration_s`: the GEMMs over all the
iteration's tokens, decode attention over the mean context, prefill attention over the
prompt chunk) on a small grid of (prompt tokens, decoding sequences), interpolated; the loop
only moves groups of requests that share their fate (a cohort), and skips runs of identical
decode-only iterations, so a benchmark of thousands of requests takes milliseconds.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from superpod.cost.compute import attention_s
from superpod.cost.layers import attention_flops_per_token
from superpod.serving.context import Ctx
from superpod.errors import DoesNotFitError
from superpod.serving.decode import attention_per_layer, draft_s
from superpod.serving.forward import chips_of, decode_attention, forward, head_s, prefill_attention
from superpod.serving.memory import ctx_weight_bytes, usable_bytes
from superpod.serving.plan import ServePlan, Workload, tokens_per_step
from superpod.serving.scheduling import POLICIES, Scheduler, advance, rounds, scheduler  # noqa: F401 (re-exported)
from superpod.serving.steady import preempting, queued_steady, spread_steady

def iteration_s(c: Ctx, plan: ServePlan, wl: Workload, prefill_tokens, decode_seqs) -> np.ndarray:
    """Seconds of one iteration of one scheduler (an attention-DP rank's TP group) carrying
    ``prefill_tokens`` prompt tokens and ``decode_seqs`` decoding sequences (arrays broadcast;
    ``plan`` must be a single plan). With ``k`` draft tokens every decoding sequence runs ``1 + k``
    tokens through the model and the MTP module drafts ``k`` times (:func:`draft_s`). Zero work
    costs zero."""
    m = c.model
    tp_c = chips_of(plan.tp, c.dev)
    P = np.asarray(prefill_tokens, dtype=float) / tp_c  # per chip
    D = np.asarray(decode_seqs, dtype=float) / tp_c
    k = np.asarray(plan.mtp_k, dtype=float)
    f_d, b_d = attention_per_layer(c, plan, D, 1.0 + k, wl.decode_context)
    new, prefix = float(wl.input_len) * (1 - wl.cache_hit), float(wl.input_len) * wl.cache_hit
    kernel = prefill_attention(c, plan, P, new, prefix)  # the measured context-attention fit, or None
    if kernel is not None:
        pre_attn = np.where(P > 0, kernel(1.0), 0.0)
    else:
        f_p = P * attention_flops_per_token(m, prefix + new / 2)
        pre_attn = attention_s(f_p, 0.0 * f_p, c.hw, "prefill").total_s
    T = D * (1.0 + k) + P
    main = forward(c, plan, np.maximum(T, 1e-9), f_d, b_d, "decode", extra_attention_s=pre_attn, attn_kernel=decode_attention(c, plan, D, 1.0 + k, wl.decode_context))
    rows = D * (1.0 + k) + np.where(P > 0, 1.0 / tp_c, 0.0)  # the LM head runs for decodes and finished prompts
    t = main["total_s"] + head_s(c, np.maximum(rows, 1e-9), tp_c) + c.fw.si("step_overhead_s")
    t = t + draft_s(c, plan, D, wl.decode_context)  # k passes of the MTP module over the decodes
    return np.where(T > 0, t, 0.0)


_TABLES: dict = {}


@dataclass
class Table:
    """Iteration seconds on a grid of (prompt tokens, decoding sequences), bilinear in between."""

    p: np.ndarray
    d: np.ndarray
    t: np.ndarray  # shape (len(p), len(d))

    @classmethod
    def build(cls, c: Ctx, plan: ServePlan, wl: Workload, p_max: float, d_max: float) -> "Table":
        """Powers of two up to ``p_max`` and ``d_max`` (and zero): the grid points never depend on
        the request, so a table built for a larger concurrency holds the same values."""
        p = np.concatenate([[0.0], 2.0 ** np.arange(0, max(math.ceil(math.log2(max(p_max, 1.0))), 0) + 1)])
        d = np.concatenate([[0.0], 2.0 ** np.arange(0, max(math.ceil(math.log2(max(d_max, 1.0))), 0) + 1)])
        return cls(p, d, iteration_s(c, plan, wl, p[:, None], d[None, :]))

    @classmethod
    def cached(cls, c: Ctx, plan: ServePlan, wl: Workload, p_max: float, d_max: float) -> "Table":
        """:meth:`build`, reusing a table of the same context, plan and workload that covers the range."""
        key = (id(c), tuple(float(np.ravel(getattr(plan, f.name))[0]) for f in fields(plan) if f.name != "batch"),
               wl.input_len, wl.output_len, wl.kv_len, wl.cache_hit)
        hit = _TABLES.get(key)
        if hit is not None and hit[0] is c and hit[1].p[-1] >= p_max and hit[1].d[-1] >= d_max:
            return hit[1]
        if len(_TABLES) > 512:
            _TABLES.clear()
        t = cls.build(c, plan, wl, max(p_max, hit[1].p[-1] if hit else 0), max(d_max, hit[1].d[-1] if hit else 0))
        _TABLES[key] = (c, t)
        return t

    def __call__(self, P: float, D: float) -> float:
        p, d, t = self.p, self.d, self.t
        i = min(max(int(np.searchsorted(p, P)) - 1, 0), len(p) - 2)
        j = min(max(int(np.searchsorted(d, D)) - 1, 0), len(d) - 2)
        u = min(max((P - p[i]) / (p[i + 1] - p[i]), 0.0), 1.0)
        v = min(max((D - d[j]) / (d[j + 1] - d[j]), 0.0), 1.0)
        return float((1 - u) * ((1 - v) * t[i, j] + v * t[i, j + 1]) + u * ((1 - v) * t[i + 1, j] + v * t[i + 1, j + 1]))


def run(step, n: int, isl: float, osl: float, budget: float, policy: str = "mixed", cap: int | None = None,
        tokens_per_iter: float = 1.0, rounds: int = 20, simulated_rounds: int = 4, recv: int = 1,
        hold_iters: int = 0, hold_tokens: float = math.inf) -> dict[str, float]:
    """Simulate the closed-loop benchmark on one scheduler.

    ``step(P, D)``: seconds of an iteration with ``P`` prompt tokens and ``D`` decoding
    sequences; ``n`` clients, ``rounds`` requests each; ``cap``: sequences the engine runs at
    once (KV memory), the rest queue; ``recv``: decode iterations between two looks at the request
    queue (:meth:`Scheduler.interval`): a request that arrives during a run of decodes waits for the
    next look (every ``recv`` decode iterations since the last one); an iteration that carries prompts
    is followed by a look at once. ``hold_iters``: while sequences decode, prompts ready to run are
    held for up to that many iterations unless they and the decodes reach ``hold_tokens`` tokens
    (TensorRT-LLM's batch waiting, :mod:`superpod.serving.holds`); those that arrive meanwhile join them. The first ``simulated_rounds`` rounds are simulated; the
    requests after the first wave stand for the steady state of the remaining rounds. Returns
    the mean TTFT and TPOT over all requests (as the benchmark reports them), the steady-state
    means (``steady_*``), output tokens/s, and the running batch and queue.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    n = max(int(n), 1)
    cap = n if cap is None else max(min(int(cap), n), 1)
    budget = max(float(budget), 1.0)
    isl = max(float(isl), 1.0)
    steps_out = max(math.ceil(max(osl - 1.0, 0.0) / tokens_per_iter), 0)
    rounds = max(int(rounds), 1)
    total = min(rounds, max(int(simulated_rounds), 2)) * n
    prefill_only = policy == "prefill-first"
    # waiting cohorts, first come first served: [count, prompt tokens left each, arrival s, first iteration, started]
    waiting: deque[list] = deque([[n, isl, 0.0, 0, False]])
    finishing: list[tuple] = []  # heap of (decode iteration it finishes at, seq, count, first-token s, arrival s)
    seq = 0
    D = 0  # sequences decoding
    started = 0  # sequences part-way through their prompt
    S = 0  # decode iterations so far (every decoding sequence advances together)
    issued, done = n, 0
    now, it = 0.0, 0
    stats = np.zeros(6)  # [count, sum ttft, sum tpot, after-first-wave count, sum ttft, sum tpot]
    t_wave = 0.0
    recv = max(int(recv), 1)
    looked = 0  # the iteration at which the scheduler last looked at its queue (looks follow every `recv`)

    hold_end = None  # the iteration at which held prompts run (None: none held)
    while waiting or finishing:
        if not finishing and waiting[0][3] > it:  # idle: the next arrival is served at once
            now = max(now, waiting[0][2])
            it = waiting[0][3]
            continue
        if hold_iters > 0 and not prefill_only:
            hold_end = _hold(waiting, it, D, hold_end, hold_iters, hold_tokens, budget)
        room = cap - D - started
        left = budget if prefill_only else budget - D
        P, admitted = 0.0, []
        for co in waiting:
            if co[3] > it or left <= 0:
                break
            cnt, tl, _, _, st = co
            if not st and room <= 0:
                break
            whole = int(min(cnt, left // tl, cnt if st else room))
            if whole >= 1:
                P += whole * tl
                left -= whole * tl
                room -= 0 if st else whole
                admitted.append((co, whole, tl))
                if whole < cnt:
                    break
                continue
            # the head prompt does not fit whole: vLLM and SGLang chunk it; TensorRT-LLM waits
            # for room unless it can never fit
            if policy == "mixed" and (tl <= budget - D or admitted):
                break
            P += left
            room -= 0 if st else 1
            admitted.append((co, 1, left))
            left = 0.0
            break
        if P <= 0 and not finishing:
            break  # cannot happen with cap >= 1
        # decode-only iterations until a cohort finishes or a waiting one may be served, or one with prompts
        now, it, S = advance(step, P, D, prefill_only, finishing, waiting, room, now, it, S)
        if P > 0 and recv > 1:  # a prompt iteration is followed by a look: whoever waits joins the next one
            looked = it
            for co in waiting:
                co[3] = min(co[3], it)
        if P > 0:
            for co, take, tokens in admitted:
                if tokens >= co[1]:  # whole prompts done: they emit their first token
                    if co[4]:
                        started -= take
                    if take < co[0]:
                        co[0] -= take
                    else:
                        waiting.remove(co)
                    heapq.heappush(finishing, (S + steps_out, seq, take, now, co[2]))
                    seq += 1
                    D += take
                elif co[0] > 1 and not co[4]:  # a chunk of one prompt: split it off, started
                    co[0] -= 1
                    waiting.appendleft([1, co[1] - tokens, co[2], co[3], True])
                    started += 1
                else:
                    co[1] -= tokens
                    started += 0 if co[4] else co[0]
                    co[4] = True
        while finishing and finishing[0][0] <= S:
            _, _, cnt, first, arr = heapq.heappop(finishing)
            D -= cnt
            ttft, tpot = first - arr, ((now - first) / (osl - 1.0) if osl > 1 else 0.0)
            stats[:3] += (cnt, cnt * ttft, cnt * tpot)
            after = min(cnt, max(done + cnt - n, 0))
            stats[3:] += (after, after * ttft, after * tpot)
            done += cnt
            if done >= n and not t_wave:
                t_wave = now
            new = min(cnt, total - issued)
            if new > 0:
                issued += new
                # the request reaches the engine while the next iteration is already scheduled; the
                # scheduler sees it at its next look
                waiting.append([new, isl, now, looked + math.ceil((it + 1 - looked) / recv) * recv, False])
    cnt, s_ttft, s_tpot, sc, st_ttft, st_tpot = stats
    wave_ttft, wave_tpot = (s_ttft - st_ttft) / max(cnt - sc, 1), (s_tpot - st_tpot) / max(cnt - sc, 1)
    steady_ttft = st_ttft / sc if sc else wave_ttft
    steady_tpot = st_tpot / sc if sc else wave_tpot
    share = 1.0 / rounds  # the first wave's share of the benchmark's requests
    # output tokens/s over the simulated run after the first wave (the steady state)
    span = now - t_wave
    rate = (sc * osl / span) if sc and span > 0 else (cnt * osl / now if now > 0 else 0.0)
    return {
        "ttft_s": share * wave_ttft + (1 - share) * steady_ttft,
        "tpot_s": share * wave_tpot + (1 - share) * steady_tpot,
        "steady_ttft_s": steady_ttft, "steady_tpot_s": steady_tpot,
        "first_wave_ttft_s": wave_ttft,
        "output_tokens_per_s": rate,
        "running_batch": float(cap), "queued": float(n - cap), "requests": float(rounds * n),
    }


def _hold(waiting, it: int, D: int, hold_end: int | None, hold_iters: int, hold_tokens: float,
          budget: float) -> int | None:
    """Batch waiting for :func:`run`: hold the prompts ready at iteration ``it`` (their first iteration
    ``[3]`` moved to the hold's end) while ``D`` sequences decode, until ``hold_iters`` iterations have
    passed since the hold began or the prompts and decodes reach ``hold_tokens``; a hold that ends lets
    its prompts run at once and the next prompt starts a new one. Returns the hold's end (None: none)."""
    if hold_end is not None and it >= hold_end:
        return None  # the wait is over: the held prompts run in this iteration
    limit = it if hold_end is None else hold_end
    ready = [co for co in waiting if co[3] <= limit]
    if not ready:
        return hold_end
    tokens = min(sum(co[0] * co[1] for co in ready), budget) + D
    if D <= 0 or tokens >= hold_tokens:  # nothing decodes, or enough tokens: they run now
        for co in ready:
            co[3] = min(co[3], it)
        return None
    end = it + hold_iters if hold_end is None else hold_end
    for co in ready:
        co[3] = max(co[3], end)
    return end


def max_sequences(c: Ctx, plan: ServePlan, context: float, framework: str | None = None) -> float:
    """Sequences of ``context`` tokens one instance (``tp x dp`` ranks) holds in its KV cache, in the
    framework's pools (sliding-window layers: :meth:`Scheduler.kv_per_sequence`)."""
    w = ctx_weight_bytes(c, plan)
    usable = float(np.ravel(usable_bytes(c.hw.hbm_bytes, c.fw, w))[0])
    per_seq = scheduler(framework or c.fw.name).kv_per_sequence(c, plan, context)
    chips = max(float(np.ravel(plan.tp)[0] * np.ravel(plan.dp)[0]) / c.dev, 1.0)
    return math.floor(max(usable, 0.0) / per_seq * chips) if per_seq > 0 else math.inf


def closed_loop(c: Ctx, plan: ServePlan, wl: Workload, framework: str | None = None,
                rounds_per_client: int | None = None, length_ratio: float = 1.0,
                sched: Scheduler | None = None) -> dict[str, float]:
    """Price one co-located plan (a single plan; ``plan.batch`` = requests in flight per chip) as
    the closed-loop benchmark runs it; see the module docstring.

    ``length_ratio < 1``: the benchmark draws each request's prompt and output lengths uniformly
    in ``[ratio L, L]`` (``--random-range-ratio``); the first wave is simulated at the mean
    lengths and the steady state is :func:`spread_steady` (the waves dissolve). ``sched``: the
    scheduler as the server was launched (token budget, caps, queue interval), instead of the
    framework's defaults.

    Returns ``ttft_s``/``tpot_s`` (means over the benchmark's requests), their steady-state
    values, ``output_tokens_per_s_per_chip``, ``running_batch``/``queued`` (requests per
    scheduler) and the scheduler's ``policy`` and ``token_budget``. Raises
    :class:`~superpod.errors.DoesNotFitError` when not even one request fits, with how much is missing.
    """
    m = c.model
    sch = sched if sched is not None else scheduler(framework or c.fw.name)
    tp_c = float(chips_of(plan.tp, c.dev)[0])
    dp = float(np.ravel(plan.dp)[0])
    n = max(int(round(float(np.ravel(plan.batch)[0]) * tp_c)), 1)
    spread = float(length_ratio) < 1.0
    mean = (1.0 + float(length_ratio)) / 2.0 if spread else 1.0
    w = float(np.ravel(ctx_weight_bytes(c, plan))[0])
    usable = sch.usable_kv_bytes(c.hw.hbm_bytes, c.fw, w)
    held = sch.held_tokens(wl.input_len * mean, wl.output_len * mean)
    per_seq = sch.kv_per_sequence(c, plan, held)
    fits = math.floor(max(usable, 0.0) / per_seq * tp_c) if per_seq > 0 else n
    if fits < 1:
        raise DoesNotFitError(
            f"{m.name} does not fit on {c.hw.chip}: one request holding {held:,.0f} tokens needs "
            f"{per_seq / 1e9:,.2f} GB of KV cache per chip beside {w / 1e9:,.1f} GB of weights, but only "
            f"{max(usable, 0.0) / 1e9:,.2f} GB are usable; {(per_seq - max(usable, 0.0)) / 1e9:,.2f} GB missing")
    budget = sch.budget(c.hw.hbm_bytes, dp)
    tps = float(np.ravel(tokens_per_step(plan.mtp_k, plan.mtp_accept))[0])
    R = rounds_per_client or rounds()
    recv = sch.interval()
    seq_cap = sch.running_cap(c.hw.hbm_bytes, dp)
    # requests the engine admits at once: its cap on running requests, and what its cache holds
    # where it reserves (TensorRT-LLM); the rest wait in the queue before their first token
    admit = int(min(n, seq_cap, fits if sch.kv_reserve == "max" else math.inf))
    run_k = int(min(admit, fits))  # what advances at once (a paged engine's cache may hold fewer)
    s_in, osl = float(wl.input_len) * (1.0 - wl.cache_hit) * mean, float(wl.output_len) * mean
    if spread and mean != 1.0:
        wl = Workload(wl.input_len * mean, wl.output_len * mean, wl.kv_len, wl.cache_hit)
    table = Table.cached(c, plan, wl, max(budget, s_in), admit)

    hold = sch.hold(dp, budget)  # prompts held back while generation runs (TensorRT-LLM)
    h_iters, h_tokens = hold.waves()

    def loop(k: int) -> dict[str, float]:
        out = run(table, n, s_in, osl, budget, sch.policy, cap=k, tokens_per_iter=tps, rounds=R, recv=recv,
                  hold_iters=h_iters, hold_tokens=h_tokens)
        if spread:  # the first wave as simulated; the steady state with the waves dissolved, queued beyond k
            st = queued_steady(spread_steady(table, k, s_in, osl, budget, sch.policy, tps, recv, hold), n, k, osl)
            share = 1.0 / R
            out |= st | {"ttft_s": share * out["first_wave_ttft_s"] + (1 - share) * st["steady_ttft_s"],
                         "tpot_s": share * out["tpot_s"] + (1 - share) * st["steady_tpot_s"]}
        return out

    r = loop(admit)
    if run_k < admit:  # paged (vLLM, SGLang): every admitted prompt starts; the short cache preempts
        r = preempting(loop(run_k), r, n, osl)
    r.setdefault("preempted", 0.0)
    lat = sch.request_s()  # the server's request path: ingress, tokenisation, hand-off, first-token stream
    for k in ("ttft_s", "steady_ttft_s", "first_wave_ttft_s"):
        r[k] += lat
    r["request_latency_s"] = lat
    r["hold"] = ("adp-balance" if hold.adp_iters > 0 else "batch-wait") if hold else "none"
    r["output_tokens_per_s_per_chip"] = r.pop("output_tokens_per_s") / tp_c
    r |= {"policy": sch.policy, "token_budget": budget, "recv_interval": float(recv), "concurrency": float(n), "weight_bytes": w,
          "kv_bytes_per_chip": run_k * per_seq / tp_c, "max_running": float(min(fits, seq_cap)), "kv_fits": float(fits),
          "held_tokens": held}
    return r
