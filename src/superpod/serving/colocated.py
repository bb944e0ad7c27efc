"""Co-located serving (``--phase both``): prefill and decode share the chips under
continuous batching with chunked prefill (Sarathi-Serve, arXiv 2403.02310; formulas.md
8.2), as vLLM, SGLang and TensorRT-LLM serve by default.

With ``N`` requests in flight per chip, each iteration advances every decoding sequence
by ``E[tokens per step]`` and carries the prompt tokens that keep the pipeline full in
steady state: a finished request must have been prefilled, so each iteration processes
``P = N * E[tokens/step] * s_in / s_out`` prompt tokens per chip alongside the decode
tokens. The iteration prices all ``N (1 + k) + P`` tokens through the GEMMs, the decode
attention over the mean context ``s_in + s_out/2`` and the prefill attention over the
prompt (causal, ``s_in/2`` on average), and with ``k`` draft tokens the MTP module's ``k``
drafting passes over the ``N`` decodes (:func:`superpod.serving.decode.draft_s`). Then ``TPOT = t_iter / E[tokens/step]``, output
tokens/s per chip = ``N / TPOT`` (output tokens include the first, as trtllm-bench counts
them), and ``TTFT = ceil(s_in / prompt tokens per iteration of the instance) * t_iter``.

This steady state ranks plans in the search (``serve --phase both`` without a concurrency).
A benchmark at fixed concurrency (``--concurrency N``, ``validate silicon``) is priced by
:mod:`superpod.serving.closed_loop`, which follows its waves iteration by iteration.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.compute import attention_s
from superpod.cost.layers import attention_flops_per_token
from superpod.serving.decode import attention_per_layer, draft_s, memory_fields
from superpod.serving.context import Ctx
from superpod.serving.forward import PARTS, chips_of, decode_attention, forward, head_s, step_result
from superpod.serving.memory import ctx_weight_bytes, kv_bytes_per_sequence_token, usable_bytes
from superpod.serving.plan import ServePlan, Workload, tokens_per_step

BREAKDOWN = PARTS + ("head_s", "mtp_draft_s")


def colocated(c: Ctx, plan: ServePlan, wl: Workload) -> dict[str, np.ndarray]:
    """Price every plan with ``plan.batch`` = requests in flight per chip."""
    m = c.model
    N = np.asarray(plan.batch, dtype=float)
    k = np.asarray(plan.mtp_k, dtype=float)
    tps = tokens_per_step(k, plan.mtp_accept)
    s_in = float(wl.input_len) * (1.0 - wl.cache_hit)
    s_out = max(float(wl.output_len), 1.0)
    ctx = wl.decode_context
    tp_c = chips_of(plan.tp, c.dev)
    P = N * tps * s_in / s_out
    T = N * (1.0 + k) + P
    f_d, b_d = attention_per_layer(c, plan, N, 1.0 + k, ctx)
    f_p = P * attention_flops_per_token(m, float(wl.input_len) * wl.cache_hit + s_in / 2.0)
    prefill_attn = attention_s(f_p, 0.0 * f_p, c.hw, "prefill").total_s
    main = forward(c, plan, T, f_d, b_d, "decode", extra_attention_s=prefill_attn, attn_kernel=decode_attention(c, plan, N, 1.0 + k, ctx))
    head = head_s(c, N * (1.0 + k), tp_c)
    draft = draft_s(c, plan, N, ctx)
    step = main["total_s"] + head + draft + c.fw.si("step_overhead_s")
    tpot = step / tps
    w = ctx_weight_bytes(c, plan)
    per_seq = kv_bytes_per_sequence_token(m, plan, c.kv_el, c.dev) * ctx
    usable = usable_bytes(c.hw.hbm_bytes, c.fw, w)
    kv = N * per_seq
    iters = np.maximum(np.ceil(s_in / np.maximum(P * tp_c, 1e-9)), 1.0)
    parts = {"head_s": head, "mtp_draft_s": draft, "overhead_s": main["overhead_s"] + c.fw.si("step_overhead_s")}
    return step_result(main, plan, step, parts, {
        "tpot_s": tpot,
        "ttft_s": iters * step,
        "output_tokens_per_s_per_chip": N / tpot,
        "input_tokens_per_s_per_chip": N / tpot * float(wl.input_len) / s_out,
        "prefill_tokens_per_iteration_per_chip": P,
        "concurrency_per_chip": N,
    } | memory_fields(w, kv, usable, per_seq))
