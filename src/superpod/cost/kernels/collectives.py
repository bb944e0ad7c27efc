"""Collective cost models fitted to AIConfigurator's measured communication tables.

Tables covered (AIConfigurator perf database, Apache-2.0):
  nccl_perf                  NCCL 2.29.2 all_reduce / all_gather / reduce_scatter / alltoall inside one NVLink node
  custom_allreduce_perf      the frameworks' own all-reduce (TensorRT-LLM, SGLang and vLLM; CUDA graph / eager)
  wideep_deepep_ll_perf      DeepEP low-latency dispatch / combine (decode)
  wideep_deepep_normal_perf  DeepEP normal (high-throughput) dispatch / combine, by the SMs it is given (prefill)

Every model is latency + bytes on the wire / effective bandwidth, with the bandwidth
expressed as an efficiency against the catalog's NVLink bandwidth per GPU and direction
(`scaleup_uni_Bps`), so a fit transfers to a GPU nobody measured:

  NCCL          t = alpha + mid_s * W / (W + mid_B) + W / (eta * bw)
                W = bus bytes (nccl-tests convention: 2(n-1)/n S for all_reduce, (n-1)/n S for the others,
                S = message bytes, the whole buffer); the middle term is the protocol / channel ramp that
                makes 1-16 MB messages slower than a plain alpha-beta line.
  custom AR     t = launch_s + min(one-shot, two-shot)
                one-shot  = a1_s + (n-1) S / (eta1 * bw)      (each rank reads every peer's buffer)
                two-shot  = a2_s + 2 (n-1)/n S / (eta2 * bw)   (reduce-scatter + all-gather; also NCCL fallback)
                launch_s is the host launch cost of eager mode (near zero under CUDA graphs).
  DeepEP LL     t = alpha + V / (eta * bw) + V / (local experts * expert_Bps)
                V = tokens * topk * bytes per hidden vector (dispatch: FP8 + one FP32 scale per 128
                + 16 B of metadata; combine: BF16); LL kernels receive per expert, so a rank holding
                one or two experts (8- or 16-expert models) is bounded by that expert's receive rate.
  DeepEP normal t = alpha + V / bw_eff,  bw_eff = 1 / (1 / (sms * sm_Bps) + 1 / (eta * bw))
                V = tokens * (copies0 + E[distinct ranks per token]) * bytes per hidden vector
                (one copy per destination rank, not per expert: DeepEP's normal kernels deduplicate;
                copies0 is the per-token layout/staging traffic that does not depend on top-k),
                ranks = the GPUs of one node; the copy bandwidth is bounded by the SMs DeepEP runs on.

Hardware facts a model needs (dict of floats or per-row arrays): `scaleup_uni_Bps`
(NVLink bandwidth per GPU per direction) and, for DeepEP, `ranks_per_node`.
Parameters (dict of floats or per-row arrays) come from catalog/calibration/silicon/comm_perf.toml (fit: benchmarks/silicon/fit_comm_perf.py).
All inputs broadcast (numpy); outputs are seconds.
"""

from __future__ import annotations

import numpy as np

NCCL_OPS = ("all_reduce", "all_gather", "reduce_scatter", "alltoall")
DTYPE_BYTES = {"half": 2, "bfloat16": 2, "float16": 2, "int8": 1, "fp8": 1, "float": 4}


def bus_factor(op, n):
    """nccl-tests bus-bandwidth factor: bytes each rank moves per byte of message."""
    n = np.asarray(n, dtype=float)
    op = np.asarray(op)
    ring = (n - 1.0) / n
    return np.where(op == "all_reduce", 2.0 * ring, ring)


def nccl_s(op, n, message_bytes, hw, p):
    """Seconds for one NCCL collective of `message_bytes` (whole buffer) over n GPUs of one node."""
    w = bus_factor(op, n) * np.asarray(message_bytes, dtype=float)
    return p["alpha_s"] + p["mid_s"] * w / (w + p["mid_B"]) + w / (p["eta"] * hw["scaleup_uni_Bps"])


def custom_allreduce_s(n, message_bytes, hw, p):
    """Seconds for one framework custom all-reduce (the faster of one-shot and two-shot)."""
    n = np.asarray(n, dtype=float)
    s = np.asarray(message_bytes, dtype=float)
    bw = hw["scaleup_uni_Bps"]
    one = p["a1_s"] + (n - 1.0) * s / (p["eta1"] * bw)
    two = p["a2_s"] + 2.0 * (n - 1.0) / n * s / (p["eta2"] * bw)
    return p["launch_s"] + np.minimum(one, two)


def deepep_vector_bytes(kind, hidden):
    """Bytes per token copy: dispatch sends FP8 + FP32 scales per 128 + 16 B, combine sends BF16."""
    hidden = np.asarray(hidden, dtype=float)
    return np.where(np.asarray(kind) == "dispatch", hidden + hidden / 32.0 + 16.0, 2.0 * hidden)


def deepep_ll_s(kind, tokens, hidden, topk, experts, hw, p):
    """Seconds for one DeepEP low-latency dispatch or combine (`kind`) of `tokens` per rank."""
    v = np.asarray(tokens, dtype=float) * np.asarray(topk, dtype=float) * deepep_vector_bytes(kind, hidden)
    local_experts = np.maximum(np.asarray(experts, dtype=float) / hw["ranks_per_node"], 1.0)
    return p["alpha_s"] + v / (p["eta"] * hw["scaleup_uni_Bps"]) + v / (local_experts * p["expert_Bps"])


def expected_ranks(topk, experts, ranks):
    """E[distinct ranks] a token's top-k (distinct, uniform) experts land on, experts split evenly over ranks."""
    topk = np.asarray(topk, dtype=float)
    experts = np.asarray(experts, dtype=float)
    ranks = np.asarray(ranks, dtype=float)
    per_rank = experts / ranks
    # P(no chosen expert on a given rank) = C(E - E/r, k) / C(E, k) = prod_{i<k} (E - E/r - i) / (E - i)
    kmax = int(np.max(topk)) if topk.size else 0
    miss = np.ones(np.broadcast(topk, experts, ranks).shape)
    for i in range(kmax):
        term = np.clip((experts - per_rank - i) / np.maximum(experts - i, 1.0), 0.0, 1.0)
        miss = miss * np.where(i < topk, term, 1.0)
    return ranks * (1.0 - miss)


def deepep_normal_s(kind, tokens, hidden, topk, experts, sms, hw, p):
    """Seconds for one DeepEP normal dispatch or combine (`kind`) of `tokens` per rank on `sms` SMs."""
    copies = p["copies0"] + expected_ranks(topk, experts, hw["ranks_per_node"])
    v = np.asarray(tokens, dtype=float) * copies * deepep_vector_bytes(kind, hidden)
    bw_eff = 1.0 / (1.0 / (np.asarray(sms, dtype=float) * p["sm_Bps"]) + 1.0 / (p["eta"] * hw["scaleup_uni_Bps"]))
    return p["alpha_s"] + v / bw_eff
