"""Collectives on explicit fabric tiers: alpha-beta with the algorithm chosen per tier.

A group of ``n`` ranks placed ``stride`` chips apart (TP: stride 1; DP: stride TP x PP x
...) has ``m_k = clip(domain_k / stride, 1, n)`` members inside one domain of tier k. It
is priced hierarchically (formulas.md sec. 6): tier k runs a sub-collective over
``g_k = m_k / m_{k-1}`` ranks on the data left by the inner tiers, so each tier pays for
its share and a group that outgrows the scale-up domain pays the scale-out tier. Per tier:

* all-reduce: ring/direct ``2(g-1)/g * S / (eta * BW) + steps * alpha``; in-network
  reduction (NVLS, SHARP) ``S / (eta_inr * BW) + alpha``; full meshes use direct
  algorithms (2 alpha, not 2(g-1));
* reduce-scatter / all-gather: ``(g-1)/g * S / (eta * BW)``;
* all-to-all: the share of traffic that leaves tier k-1 crosses tier k at that tier's
  bandwidth divided by the topology's mean hops; tiers run concurrently (max);
* point-to-point messages (pipeline boundaries, KV transfer): :func:`p2p_s`.

Sizes follow nccl-tests: all-reduce S = per-rank buffer; reduce-scatter input,
all-gather output = total; all-to-all = per-rank send buffer.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.hardware import BYTES, Hardware, Tier
from superpod.spec.calibration import message_layout

OPS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all")


def members_per_domain(n, stride, hw: Hardware) -> list[np.ndarray]:
    """m_k for every tier: group members sharing one tier-k domain (last tier: all n)."""
    n = np.asarray(n, dtype=float)
    stride = np.maximum(np.asarray(stride, dtype=float), 1.0)
    out = []
    for i, t in enumerate(hw.tiers):
        if i == len(hw.tiers) - 1 or not np.isfinite(t.domain):
            out.append(n + 0.0 * stride)
        else:
            out.append(np.clip(np.floor(t.domain / stride), 1.0, n))
    return out


def _direct(t: Tier) -> bool:
    return t.topology in ("full-mesh", "nd-full-mesh")


def collective_s(op: str, size_bytes, n, hw: Hardware, stride=1) -> dict[str, np.ndarray]:
    """Time of one collective; returns ``{"total_s": ..., "<tier>_s": ...}`` (arrays).

    The per-tier entries say where the time goes; ``total_s`` is their sum (all-to-all:
    their maximum, the tiers run at once).
    """
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; known: {', '.join(OPS)} (point-to-point: p2p_s)")
    S = np.asarray(size_bytes, dtype=float)
    n = np.asarray(n, dtype=float)
    m = members_per_domain(n, stride, hw)
    parts: dict[str, np.ndarray] = {}
    prev = np.ones_like(n)
    remaining = S + 0.0 * n  # data each rank still carries into the next tier
    for t, mk in zip(hw.tiers, m):
        g = np.maximum(mk / prev, 1.0)
        active = g > 1.0
        bw = t.bw_Bps
        a = t.latency_s
        eta = t.comm.eta_busbw.si
        if op == "all_reduce":
            if t.in_network_reduction:
                tt = remaining / (t.comm.eta_inr.si * bw) + 2 * a
            else:
                steps = 2.0 if _direct(t) else 2 * (g - 1)
                tt = 2 * (g - 1) / g * remaining / (eta * bw) + steps * a
            nxt = remaining / g
        elif op in ("reduce_scatter", "all_gather"):
            steps = 1.0 if _direct(t) else (g - 1)
            tt = (g - 1) / g * remaining / (eta * bw) + steps * a
            nxt = remaining / g
        else:  # all_to_all
            share = (mk - prev) / np.maximum(n, 1)  # fraction of a rank's buffer crossing this tier
            tt = share * S * t.hops / (eta * bw) + a
            nxt = remaining
        parts[f"{t.name}_s"] = np.where(active, tt, 0.0)
        remaining = np.where(active, nxt, remaining)
        prev = np.maximum(prev, mk)
    stacked = np.stack(np.broadcast_arrays(*parts.values()))
    total = stacked.max(axis=0) if op == "all_to_all" else stacked.sum(axis=0)
    return {"total_s": total, **parts}


def p2p_s(size_bytes, distance, hw: Hardware) -> np.ndarray:
    """A point-to-point message between chips ``distance`` apart (pipeline boundary, KV transfer).

    It travels on the innermost tier whose domain holds both ends.
    """
    S = np.asarray(size_bytes, dtype=float)
    d = np.asarray(distance, dtype=float)
    out = np.zeros(np.broadcast(S, d).shape)
    placed = np.zeros(out.shape, dtype=bool)
    for t in hw.tiers:
        here = ~placed & (d < t.domain)
        out = np.where(here, t.latency_s + S / (t.comm.eta_busbw.si * t.bw_Bps), out)
        placed |= here
    last = hw.tiers[-1]
    return np.where(placed, out, last.latency_s + S / (last.comm.eta_busbw.si * last.bw_Bps))


def moe_a2a_s(tokens, top_k, token_bytes, ep, hw: Hardware, phase: str, mode: str, stride=1) -> dict[str, np.ndarray]:
    """MoE dispatch or combine over an EP group (formulas.md sec. 3.4).

    Each rank sends ``tokens x top_k`` copies of ``token_bytes`` (low-latency kernels send
    one copy per token-expert pair, as DeepEP LL and CloudMatrix FusedDispatch do; FP8/INT8
    dispatch ~7.4-8 KB, BF16 combine 14 KB for V3). The group's outermost tier is the
    bottleneck: ``t = alpha + S * hops / (eta(ep) * BW)`` where ``eta(ep)`` is the
    calibrated per-rank bandwidth over all copies divided by that tier's line rate, the
    way DeepEP and the CloudMatrix paper report it, looked up at the EP degree in devices
    (a 910C package is two devices, so EP320 on CloudMatrix is 160 packages).
    ``ep`` counts chips (packages); ``tokens`` are per chip. ``phase``: ``dispatch`` |
    ``combine``; ``mode``: ``ll`` (decode kernels) | ``normal`` (prefill/training kernels).
    """
    ep = np.asarray(ep, dtype=float)
    S = np.asarray(tokens, dtype=float) * top_k * token_bytes
    m = members_per_domain(ep, stride, hw)
    total = np.zeros(np.broadcast(S, ep, stride).shape)
    parts = {}
    prev = np.ones_like(ep)
    for t, mk in zip(hw.tiers, m):
        curve = getattr(t.comm, f"a2a_{mode}_{phase}")
        outermost = (mk > prev) & (mk >= ep)  # the tier whose domain first holds the whole group
        tt = t.latency_s + S * t.hops / (curve(ep * hw.ranks_per_chip) * t.bw_Bps)
        parts[f"{t.name}_s"] = np.where(outermost, tt, 0.0)
        total = total + parts[f"{t.name}_s"]
        prev = np.maximum(prev, mk)
    return {"total_s": total, **parts}


def dispatch_token_bytes(hidden: int, quantised) -> np.ndarray:
    """Bytes of one token copy in an MoE dispatch (``comm/messages.toml``, formulas.md 3.4).

    ``quantised`` (bool or 0/1 array): one byte per hidden element, an FP32 scale per
    group of 128 and DeepEP's 16-byte header (7,408 B for h = 7,168); else BF16, ``2h``.
    """
    d = message_layout().dispatch
    q = hidden * BYTES[d.quantised_dtype] + hidden / d.scale_group.si * d.scale_bytes.si + d.header_bytes.si
    return np.where(np.asarray(quantised, dtype=bool), q, hidden * BYTES[d.plain_dtype])


def combine_token_bytes(hidden: int) -> float:
    """Bytes of one token copy in an MoE combine (BF16: 14,336 B for h = 7,168)."""
    return hidden * BYTES[message_layout().combine.dtype]
