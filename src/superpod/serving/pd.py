"""Prefill/decode disaggregation (formulas.md 8.7; DistServe arXiv 2401.09670, Splitwise
arXiv 2311.18677, Mooncake arXiv 2407.00079).

A request of ``s_in`` prompt and ``s_out`` output tokens costs ``s_in / X_p`` prefill
chip-seconds and ``s_out / X_d`` decode chip-seconds, so the pools are sized in that
ratio, and the deployment's output tokens/s per chip (both pools counted) is
``1 / (s_in / (s_out X_p) + 1 / X_d)``. The prompt's KV cache (``s_in L kv_layer``
bytes) moves from the prefill to the decode pool over the fabric; streamed layer by
layer it hides behind prefill except the last layer's share. End-to-end
``TTFT = prefill TTFT + exposed transfer + first decode step``; TPOT is the decode pool's.
"""

from __future__ import annotations

from typing import Any

from superpod.cost.comm import p2p_s
from superpod.cost.memory_serve import kv_bytes_per_token
from superpod.serving.context import Ctx


def size_pools(c: Ctx, prefill: dict[str, Any], decode: dict[str, Any], input_len: float, output_len: float,
               prefill_chips: float, rate: float | None = None) -> dict[str, Any]:
    """Pool sizes and end-to-end latency of a disaggregated deployment (scalars)."""
    m = c.model
    x_p = float(prefill["tokens_per_s_per_chip"])
    x_d = float(decode["tokens_per_s_per_chip"])
    chip_s_p = input_len / x_p  # prefill chip-seconds per request
    chip_s_d = output_len / x_d
    share_p = chip_s_p / (chip_s_p + chip_s_d)
    kv = float(kv_bytes_per_token(m, c.kv_el)) * input_len
    xfer = float(p2p_s(kv, prefill_chips, c.hw))
    exposed = xfer / m.layers  # layer-wise streaming: only the last layer's share is exposed
    out = {
        "prefill_chip_share": share_p,
        "prefill_to_decode_chips": chip_s_p / chip_s_d,
        "output_tokens_per_s_per_chip": output_len / (chip_s_p + chip_s_d),
        "kv_transfer_bytes_per_request": kv,
        "kv_transfer_s": xfer,
        "kv_transfer_exposed_s": exposed,
        "ttft_s": float(prefill["ttft_s"]) + exposed + float(decode["step_s"]),
        "tpot_s": float(decode["tpot_s"]),
    }
    if rate is not None:
        out["prefill_chips_needed"] = rate * chip_s_p
        out["decode_chips_needed"] = rate * chip_s_d
    return out
