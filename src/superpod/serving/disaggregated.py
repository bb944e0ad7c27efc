"""Disaggregated serving with explicit pools at fixed concurrency, as benchmarks run it.

A deployment has ``n_p`` prefill workers and ``n_d`` decode workers, each a TP group times an
attention-DP degree (``tp x dp`` ranks) with its own batch: a prefill rank runs up to
``b_p`` prompts per iteration, a decode rank up to ``b_d`` sequences. ``N`` clients keep
``N`` requests in flight (a closed loop: one leaves, the next enters; all ``N`` start
together, ``R`` requests in all, :mod:`.closed_loop`).

* Prefill pool: ``K = n_p dp_p`` schedulers each finish ``b_p`` prompts per iteration of
  ``t_p`` (:func:`superpod.serving.prefill.prefill` at ``b_p s_in`` tokens per rank), so the
  pool prefills the whole wave in ``S = ceil(N / (K b_p)) t_p``; the first wave's mean TTFT is
  ``(G + 1)/2 t_p + x + TPOT`` with ``G = ceil(N / (K b_p))``.
* The prompt's KV cache then moves to a decode worker (``s_in`` tokens of KV over the fabric
  tier that joins the two workers, :func:`superpod.cost.comm.p2p_s`; Dynamo's NIXL and SGLang's
  transfer engine move it after the prefill, so it is exposed), the decode worker streams the
  first token with its next iteration (one TPOT) and the rest over ``L = (s_out - 1) TPOT``.
* A decode worker runs what its KV cache holds (at the framework's reservation, :mod:`.closed_loop`);
  when the concurrency exceeds the slots, the rest wait for one, so the loop's cycle is at least
  ``N / slots x L``.
* Steady state: a request comes back every ``C = max(S, L + t_p + x + TPOT)`` (the loop is paced
  by the slower of the prefill pool and one request's life), so it waits ``C - L - t_p - x - TPOT``
  in the prefill queue: ``TTFT = C - L`` (at least prefill, transfer and one decode step). The decode
  ranks run ``N L / C`` sequences on average, which prices TPOT
  (:func:`superpod.serving.decode.decode`).

The benchmark's mean weighs the first wave ``1/R`` and the steady state the rest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from superpod.cost.comm import p2p_s
from superpod.cost.memory_serve import kv_bytes_per_token
from superpod.errors import DoesNotFitError
from superpod.serving.closed_loop import max_sequences, rounds as default_rounds, scheduler
from superpod.serving.context import Ctx
from superpod.serving.decode import decode
from superpod.serving.forward import chips_of
from superpod.serving.plan import ServePlan
from superpod.serving.prefill import prefill


def d_chips_of(c: Ctx, plan: ServePlan) -> float:
    """Chips of one decode worker's TP group (at least one)."""
    return float(chips_of(plan.tp, c.dev)[0])


def disaggregated(c: Ctx, prefill_plan: ServePlan, decode_plan: ServePlan, input_len: float, output_len: float,
                  concurrency: float, prefill_workers: int | None = 1, decode_workers: int = 1,
                  prefill_batch: float = 1.0, rounds_per_client: int | None = None) -> dict[str, Any]:
    """TTFT, TPOT and throughput of explicit prefill/decode pools at ``concurrency`` requests in
    flight (single plans; ``prefill_batch`` prompts per prefill rank per iteration; the decode
    plan's ``batch`` is its sequences per chip at full load). ``prefill_workers = None``: as many
    prefill workers as keep up with the loop (the fewest with ``S <= L + t_p``; runs that do not
    state their pools). See the module docstring."""
    R = rounds_per_client or default_rounds()
    N = max(float(concurrency), 1.0)
    s_in, s_out = float(input_len), max(float(output_len), 1.0)
    p_tp_c = float(chips_of(prefill_plan.tp, c.dev)[0])
    p_dp = float(np.ravel(prefill_plan.dp)[0])
    b_p = max(float(prefill_batch), 1.0)
    pplan = ServePlan.one(**(prefill_plan.row(0) | {"batch": b_p * s_in / p_tp_c}))
    pre = prefill(c, pplan, s_in, 0.0)
    t_p = float(pre["step_s"][0])
    # a decode worker runs what its KV cache holds; the rest wait for a slot (their TTFT grows)
    b_want = float(np.ravel(decode_plan.batch)[0])
    held = scheduler(c.fw.name).held_tokens(s_in, s_out)
    b_fit = max_sequences(c, decode_plan, held) / max(float(np.ravel(decode_plan.tp)[0] * np.ravel(decode_plan.dp)[0]) / c.dev, 1.0)
    if b_fit * d_chips_of(c, decode_plan) < 1:
        raise DoesNotFitError(
            f"{c.model.name} does not fit on the decode worker ({c.hw.chip}): not one request of {held:,.0f} tokens "
            f"fits beside the weights; use more decode ranks (tp/ep) or a lower-precision --kv-dtype")
    b_d = min(b_want, b_fit)
    slots = b_d * max(float(np.ravel(decode_plan.tp)[0] * np.ravel(decode_plan.dp)[0]) / c.dev, 1.0) * decode_workers
    # decode TPOT on a few batches (one vectorised call), interpolated at the load
    grid = np.unique(np.concatenate([np.geomspace(max(1.0 / d_chips_of(c, decode_plan), 1e-3), max(b_d, 1e-3), 8), [b_d]]))
    dec = decode(c, ServePlan.one(**(decode_plan.row(0) | {"batch": grid})), s_in + s_out / 2.0)
    tpots = np.ravel(dec["tpot_s"])
    tpot_full = float(np.interp(b_d, grid, tpots))
    if prefill_workers is None:  # sized to keep up with one request's life
        life = (s_out - 1.0) * tpot_full + t_p
        prefill_workers = max(math.ceil(N * t_p / (max(life, 1e-9) * p_dp * b_p)), 1)
    K = max(prefill_workers * p_dp, 1.0)
    G = math.ceil(N / (K * b_p))
    S = G * t_p
    # KV of one prompt, sent by the prefill TP group's chips in parallel to the decode worker
    p_chips = max(float(np.ravel(prefill_plan.tp)[0] * p_dp) / c.dev, 1.0)
    d_chips = max(float(np.ravel(decode_plan.tp)[0] * np.ravel(decode_plan.dp)[0]) / c.dev, 1.0)
    kv = float(kv_bytes_per_token(c.model, c.kv_el)) * s_in
    xfer = float(p2p_s(kv / p_tp_c, p_chips + d_chips, c.hw))
    L = (s_out - 1.0) * tpot_full
    C = max(S, L + t_p + xfer + tpot_full, N / max(slots, 1e-9) * L)
    # the decode ranks' load when the prefill pool paces the loop
    share = min(1.0, (L / C) if C > 0 else 1.0)
    tpot = float(np.interp(max(b_d * share, grid[0]), grid, tpots))
    L = (s_out - 1.0) * tpot
    C = max(S, L + t_p + xfer + tpot, N / max(slots, 1e-9) * L)
    lat = scheduler(c.fw.name).request_s()  # the server's request path (closed_loop.Scheduler.request_latency)
    steady_ttft = C - L + lat
    wave_ttft = (G + 1) / 2.0 * t_p + xfer + tpot + lat
    ttft = (wave_ttft + (R - 1) * steady_ttft) / R
    return {
        "ttft_s": ttft, "tpot_s": tpot, "steady_ttft_s": steady_ttft, "first_wave_ttft_s": wave_ttft,
        "prefill_step_s": t_p, "prefill_queue_s": max(steady_ttft - lat - t_p - xfer - tpot, 0.0), "request_latency_s": lat,
        "prefill_workers": prefill_workers, "kv_transfer_s": xfer, "kv_transfer_bytes_per_request": kv, "cycle_s": C,
        "output_tokens_per_s": N * s_out / C if C > 0 else 0.0,
        "decode_batch_per_chip": b_d * share, "decode_running": min(N, slots), "decode_queued": max(N - slots, 0.0), "prefill_bound": bool(S > L + t_p + xfer + tpot),
        "prefill_free_bytes": float(pre["free_bytes"][0]), "decode_free_bytes": float(np.ravel(dec["free_bytes"])[min(int(np.searchsorted(grid, b_d)), len(grid) - 1)]),
    }
