"""The communication and synchronisation mechanisms of a training step, each priced on its own
(formulas.md sec. 3.4, 5, 6; training.md), vectorized over plans. :mod:`superpod.training.step`
adds them up; ``--explain`` shows them one by one.

* :func:`cp_exchange_s`: context parallelism's K/V exchange per layer, forward and backward.
  Ring attention (``overlap``) passes K/V chunks around the CP group, ``cp - 1`` steps each
  hidden behind one chunk's attention; the overlap ends where a step's transfer outlasts
  its chunk's attention (short sequences per rank: attention per step shrinks as
  ``(s/cp)^2``, the transfer only as ``s/cp``), and the last backward hop (the dK/dV of the
  final chunk) is never hidden. All-gather CP (Llama 3: gather K and V, then attend) is
  exposed: an all-gather forward and a reduce-scatter of dK/dV backward.
* :func:`ep_alltoall_s`: four all-to-alls per MoE layer per micro-batch (dispatch and
  combine forward; their gradients backward, in BF16) on the tier the EP group spans,
  with the DeepEP normal-kernel bandwidths of ``comm/fabrics.toml``, plus the ETP
  gather/scatter of rows when experts are tensor-parallel. Only DualPipe overlaps them
  (with the other micro-batch's compute), and the SMs the kernels use are taken from the
  compute they hide behind.
* :func:`dp_sync_s`: gradient reduce-scatter (all-reduce without a distributed optimizer)
  and parameter all-gather per bucket, hierarchical across tiers
  (:func:`superpod.cost.comm.collective_s`), overlapped with the last micro-batch's
  backward except the last bucket (the exposed tail).
* :func:`fsdp_s`: ZeRO-3 / FSDP per-layer parameter all-gathers (forward and backward) and
  gradient reduce-scatters every micro-batch, prefetched one layer ahead: a layer's
  collectives hide behind the neighbouring layer's compute only up to that compute, and
  the first gather of each pass is exposed.
* :func:`straggler_s`: the step waits for the slowest data-parallel replica; with per-replica
  compute jitter of coefficient of variation ``cv``, the expected maximum of ``d`` replicas
  is ``1 + cv sqrt(2 ln d)`` times the mean (Gaussian extreme value). ``cv`` is one
  calibration factor (``calibration/algorithms/training.toml``), fitted on a public case.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.comm import collective_s, combine_token_bytes, dispatch_token_bytes, moe_a2a_s
from superpod.cost.hardware import BYTES, Hardware


def cp_exchange_s(kv_chunk_bytes, cp, stride, attn_f_s, attn_b_s, hw: Hardware, overlap: bool) -> dict[str, np.ndarray]:
    """Exposed CP time of one layer for one micro-batch: ``{"fwd_s", "bwd_s", "wire_s"}``.

    ``kv_chunk_bytes``: K and V of this rank's ``s/cp`` tokens; ``attn_f_s``/``attn_b_s``:
    this rank's attention-core forward/backward time of the layer; ``stride``: chips
    between CP neighbours (TP). ``wire_s`` is the transfer time before any overlap.
    """
    c = floats(cp)
    total = kv_chunk_bytes * c
    ag = collective_s("all_gather", total, c, hw, stride)["total_s"]
    rs = collective_s("reduce_scatter", 2 * total, c, hw, stride)["total_s"]  # ring backward: K/V and dK/dV
    steps = np.maximum(c - 1, 1.0)
    if overlap:
        step_f, step_b = ag / steps, rs / steps
        fwd = steps * np.maximum(step_f - attn_f_s / c, 0.0)
        bwd = steps * np.maximum(step_b - attn_b_s / c, 0.0) + step_b / 2  # last dK/dV hop
    else:
        fwd, bwd = ag, collective_s("reduce_scatter", total, c, hw, stride)["total_s"]
    on = c > 1
    return {"fwd_s": np.where(on, fwd, 0.0), "bwd_s": np.where(on, bwd, 0.0), "wire_s": np.where(on, ag + rs, 0.0)}


def ep_alltoall_s(tokens, top_k, hidden, ep, etp, hw: Hardware, quantised_dispatch, moe_compute_s, overlap,
                  comm_sms: float, floor_s=0.0) -> dict[str, np.ndarray]:
    """EP communication of one MoE layer for one micro-batch (formulas.md 3.4).

    ``tokens`` per rank (after SP), ``overlap`` (bool array: DualPipe), ``moe_compute_s``
    the layer's forward + backward compute the all-to-alls can hide behind. Returns
    ``exposed_s`` (what the step pays: exposed transfers plus the compute slowed by the SMs
    the kernels hold while hidden), ``wire_s`` (the four transfers, never below ``floor_s``: a measured
    rate where the kernels run below the links', :func:`superpod.training.dispatch.deepep_mnnvl_s`) and ``etp_s``.
    """
    stride = floats(etp)
    disp = dispatch_token_bytes(hidden, quantised_dispatch)
    comb = combine_token_bytes(hidden)
    d = moe_a2a_s(tokens, top_k, disp, ep, hw, "dispatch", "normal", stride)["total_s"]
    c = moe_a2a_s(tokens, top_k, comb, ep, hw, "combine", "normal", stride)["total_s"]
    # backward: the gradient of combine is a dispatch of BF16 gradients, that of dispatch a combine
    d_b = moe_a2a_s(tokens, top_k, comb, ep, hw, "dispatch", "normal", stride)["total_s"]
    c_b = moe_a2a_s(tokens, top_k, comb, ep, hw, "combine", "normal", stride)["total_s"]
    wire = np.where(floats(ep) > 1, np.maximum(d + c + d_b + c_b, floor_s), 0.0)
    rows_bytes = floats(tokens) * top_k * hidden * BYTES["bf16"] * stride
    etp_one = (collective_s("all_gather", rows_bytes, stride, hw, 1)["total_s"]
               + collective_s("reduce_scatter", rows_bytes, stride, hw, 1)["total_s"])
    etp_s = np.where(stride > 1, 2 * etp_one, 0.0)  # forward gather + scatter, backward the same
    comm = wire + etp_s
    cores = float(hw.kernels.gemm.cores.si)
    steal = min(comm_sms / max(cores - comm_sms, 1.0), 1.0)
    hidden_s = np.minimum(comm, moe_compute_s)
    exposed = np.where(overlap, comm - hidden_s + steal * hidden_s, comm)
    return {"exposed_s": exposed, "wire_s": wire, "etp_s": etp_s}


def dp_sync_s(grad_bytes, param_bytes, replicas, stride, hw: Hardware, zero, overlap_s, bucket_fraction,
              overlap: bool) -> dict[str, np.ndarray]:
    """Gradient reduction (and parameter gather with a sharded optimizer) of one DP group per step.

    ``grad_bytes``/``param_bytes`` of this rank's parameter shard; ``overlap_s``: the
    backward time the buckets can hide behind; ``bucket_fraction``: one bucket's share of
    the gradients (its reduction is the tail no backward is left to hide). ZeRO-3 is priced
    per layer by :func:`fsdp_s` and contributes nothing here.
    """
    z = np.asarray(zero)
    rs = collective_s("reduce_scatter", grad_bytes, replicas, hw, stride)["total_s"]
    ag = collective_s("all_gather", param_bytes, replicas, hw, stride)["total_s"]
    ar = collective_s("all_reduce", grad_bytes, replicas, hw, stride)["total_s"]
    total = np.where(z == 0, ar, np.where(z == 3, 0.0, rs + ag))
    total = np.where(floats(replicas) > 1, total, 0.0)
    tail = total * np.clip(bucket_fraction, 0.0, 1.0)
    exposed = np.maximum(total - overlap_s, tail) if overlap else total
    return {"exposed_s": exposed, "wire_s": total}


def fsdp_s(layer_param_bytes, replicas, stride, hw: Hardware, layer_f_s, layer_b_s, layers, zero,
           grad_ratio: float = 2.0) -> dict[str, np.ndarray]:
    """ZeRO-3 / FSDP traffic of one micro-batch on one stage (per-layer all-gathers forward and
    backward, gradient reduce-scatter backward), prefetched one layer ahead. ``grad_ratio``:
    gradient bytes per parameter byte (2: FP32 gradients of BF16 parameters)."""
    ag = collective_s("all_gather", layer_param_bytes, replicas, hw, stride)["total_s"]
    rs = collective_s("reduce_scatter", grad_ratio * layer_param_bytes, replicas, hw, stride)["total_s"]
    fwd = layers * np.maximum(ag - layer_f_s, 0.0) + ag
    bwd = layers * np.maximum(ag + rs - layer_b_s, 0.0) + ag + rs
    on = (np.asarray(zero) == 3) & (floats(replicas) > 1)
    return {"exposed_s": np.where(on, fwd + bwd, 0.0), "wire_s": np.where(on, layers * (2 * ag + rs), 0.0)}


def straggler_s(busy_s, replicas, cv: float) -> np.ndarray:
    """Expected wait for the slowest of ``replicas`` data-parallel replicas: ``cv sqrt(2 ln d)`` x busy time."""
    d = np.maximum(floats(replicas), 1.0)
    return busy_s * cv * np.sqrt(2.0 * np.log(d))


def tier_index(n, stride, hw: Hardware) -> np.ndarray:
    """Index of the outermost fabric tier a group of ``n`` ranks ``stride`` chips apart spans
    (-1: one rank, no traffic)."""
    n = floats(n)
    stride = np.maximum(floats(stride), 1.0)
    span = n * stride
    out = np.full(np.broadcast(n, stride).shape, -1.0)
    for i, t in reversed(list(enumerate(hw.tiers))):
        inner = hw.tiers[i - 1].domain if i > 0 else 1.0
        out = np.where((span > inner) & (n > 1) & (out < 0), float(i), out)
    return np.where((n > 1) & (out < 0), 0.0, out)


#: the mechanisms ``--explain`` reports, in order: (key, label, breakdown part)
MECHANISMS = (
    ("compute", "compute (GEMMs, attention, elementwise)", "compute_s"),
    ("quantise", "FP8 / MXFP8 / NVFP4 quantisation passes", "quantise_s"),
    ("tp", "tensor parallel (all-reduce / SP gather-scatter)", "tp_comm_s"),
    ("cp", "context parallel (K/V exchange)", "cp_comm_s"),
    ("ep", "expert parallel (4 all-to-alls and the local permutes per MoE layer)", "ep_comm_s"),
    ("pp", "pipeline p2p", "pp_comm_s"),
    ("bubble", "pipeline bubble", "bubble_s"),
    ("recompute", "activation recompute", "recompute_s"),
    ("dp", "data-parallel gradient sync (tail after the last bucket)", "dp_comm_exposed_s"),
    ("fsdp", "FSDP / ZeRO-3 parameter gathers", "fsdp_comm_exposed_s"),
    ("stragglers", "wait for the slowest replica", "straggler_s"),
    ("optimizer", "optimizer step", "optimizer_s"),
    ("host", "GPU waiting for the host's eager launches", "host_wait_s"),
    ("offload", "activation offload to host memory (copies outlasting compute)", "offload_s"),
    ("overhead", "framework overhead", "overhead_s"),
)
