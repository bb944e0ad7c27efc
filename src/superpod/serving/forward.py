"""One forward step of a serving pool on one chip, priced layer by layer (vectorized).

Shared by prefill, decode and co-located batches: the caller says how many query tokens
each chip runs (``T``), the attention-core FLOPs and bytes of one layer, the phase
(``decode`` picks the decode attention kernels, masked grouped GEMMs and low-latency
all-to-all; ``prefill`` the prefill kernels, contiguous grouped GEMMs and the normal
all-to-all) and the plan. Everything broadcasts over plan arrays.

Per layer on one chip (formulas.md sec. 2, 3, 7, 8):

* dense GEMMs (:func:`superpod.cost.layers.gemms`): a TP group of ``t`` chips runs
  ``t * T`` tokens through GEMMs split ``N/t`` (col) or ``K/t`` (row); weights and
  activations in the quantised format;
* routed experts: each chip sends ``T k`` token copies; the ``E + R`` expert slots (R
  redundant under EPLB) are spread over the EP chips, so one slot gets
  ``M_e = T k gamma ep / (E + R)`` rows (``gamma``: the most loaded rank's excess,
  sec. 3.3), run as ``(E + R)/ep`` grouped GEMMs; with expert tensor parallelism
  (``moe_tp``) each slot is split over ``moe_tp`` ranks: every slice sees the rows of its
  ``moe_tp`` ranks (``M_e x moe_tp``) over ``f_e / moe_tp`` of the width, so per-rank
  FLOPs and weights fall by ``moe_tp`` at a fixed ``ep``. The grouped GEMM reads only the
  local experts the step's tokens route to (:func:`superpod.cost.layers.experts_touched`:
  a small decode batch touches few of them);
* expert TP exchange: where the ``moe_tp`` ranks of a slice hold different tokens
  (attention DP), the slice group all-gathers its tokens before the experts and
  reduce-scatters the outputs after them (``g = max(moe_tp / tp, 1)`` distinct token sets); under
  attention TP the tokens are already replicated and the expert output's reduction is the
  layer's second TP all-reduce;
* attention core from the caller; elementwise passes streamed from HBM;
* MoE dispatch/combine (:func:`superpod.cost.comm.moe_a2a_s`): low-latency kernels send
  one message per token-expert pair; normal kernels send one per distinct destination
  (rank inside the scale-up domain, node across it, DeepEP's deduplication), sec. 3.4. Only where
  the EP group holds different tokens (attention DP): an EP group inside the attention TP group
  (``ep x moe_tp <= tp``) already holds every token on every rank, each rank runs its local experts
  and the layer's TP all-reduce sums the outputs (TensorRT-LLM, vLLM and SGLang use all-to-all
  kernels only under attention DP);
* TP: two all-reduces of the group's activations per layer; a model whose q/k RMSNorm spans all
  heads (``qk_norm_per_layer``, MiniMax-M2) adds one all-reduce of the per-token partial sums of
  squares of q and k (``[tokens, 2]`` fp32: vLLM ``MiniMaxText01RMSNormTP.forward_qk``, one fused
  all-reduce since vLLM PR #31493; SGLang ``MiniMaxM2RMSNormTP`` the same) and its two vector kernels
  (sums of squares before it, the scaling after it: :func:`qk_norm_s`).

A framework's ``layer_floor_s`` is the least time one layer's kernels take however small the
batch (CUDA-graph replay of a layer's dozen-odd kernels, each at least a launch interval): a
step of ``L`` layers takes ``max(sum of the parts, L x floor)``, the difference booked as
``overhead_s``; at serving batches the parts exceed it and nothing changes.

Two-micro-batch overlap (sec. 8.6): each half-batch's communication runs under the
other's compute. Ideally a MoE layer then takes ``max(2 t_comp(T/2), 2 t_comm(T/2))``;
in practice the communication kernels slow down next to compute and the launch order
leaves bubbles (SGLang's blog: both DeepSeek's and its own TBO communication run slower
than the unit tests), so the framework's ``overlap_efficiency`` eta says how much of the
shorter stream is hidden: ``t = c + m - eta * min(c, m)`` with ``c = 2 t_comp(T/2)``,
``m = 2 t_comm(T/2)``. Without overlap it is ``t_comp(T) + t_comm(T)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.comm import collective_s, moe_a2a_s
from superpod.cost.compute import attention_s, stream_s
from superpod.cost.hardware import BYTES
from superpod.cost.layers import (ELEMENTWISE_HIDDEN_PASSES, FUSED_NORM_PASSES, elementwise_s, experts_s, experts_touched,
                                  gemm_times, head_forward_s)
from superpod.serving.context import Ctx
from superpod.serving.experts import a2a_copies, imbalance, kernel_experts_s, redundant_experts
from superpod.serving.kernel_attention import decode_attention, prefill_attention  # noqa: F401 (re-exported)
from superpod.serving.plan import ServePlan

ATTN_GEMMS = ("q_a", "q_b", "q", "kv_a", "kv_b", "attn_out", "qkv", "index_q", "index_k", "index_weights")
#: partial sums a q/k norm over all heads all-reduces per token under TP: one for q, one for k
QK_NORM_SUMS = 2.0
PARTS = ("gemm_s", "attention_s", "experts_s", "elementwise_s", "tp_comm_s", "ep_comm_s", "overhead_s")


def chips_of(ranks, dev: float) -> np.ndarray:
    """Ranks to chips (at least one chip)."""
    return np.maximum(np.asarray(ranks, dtype=float) / dev, 1.0)


def replicas(tp, dev: float) -> np.ndarray:
    """Copies of the non-expert weights one chip holds: each of its ``dev`` ranks keeps
    its own unless they share a TP group (a 910C package under DP attention holds two)."""
    return dev / np.minimum(np.maximum(np.asarray(tp, dtype=float), 1.0), dev)


def kernel_gemm(c: Ctx):
    """The GEMM pricer of the measured-kernel fits (``(m, n, k, precision) -> s``), or None:
    the chip has no fit for this framework and format (the roofline prices the GEMMs). FP8 GEMMs of a
    block-scaled checkpoint (``Ctx.fp8_blocks``) run the block-scale kernel where the framework's
    kernels name ``fp8_block_gemm``."""
    k = c.kernels
    if k is None or not k.has_gemm(c.quant) or not k.has_gemm("bf16"):
        return None
    # a block-scaled FP8 checkpoint runs the framework's block-scale GEMM ([frameworks.kernels] fp8_block_gemm)
    block = c.fp8_blocks and bool(k.choice.get("fp8_block_gemm", False)) and k.has_gemm("fp8_block")
    return lambda m, n, kk, prec: k.gemm_s(m, n, kk, "fp8_block" if block and prec == "fp8" else prec)


def _gemm_list(c: Ctx, moe: bool, T, tp_c, rep) -> tuple[np.ndarray, np.ndarray]:
    """Attention-projection and other dense GEMM time of one layer: the TP group's ``T * t``
    tokens, the router in BF16, ``rep`` weight copies per chip each read once."""
    attn = 0.0
    other = 0.0
    for g, t in gemm_times(c.model, moe, T * tp_c, tp_c, c.hw, c.quant, router_precision="bf16", weight_copies=rep,
                           pricer=kernel_gemm(c)):
        if g.name in ATTN_GEMMS:
            attn = attn + t
        else:
            other = other + t
    return attn, other


def layer_compute(c: Ctx, moe: bool, T, attn_f, attn_b, tp_c, rep, M_e, groups, phase: str, moe_tp=1.0,
                  touched=None, attn_kernel_s=None, experts_kernel_s=None) -> dict[str, np.ndarray]:
    """Compute time of one layer on one chip for ``T`` query tokens (no communication);
    ``moe_tp`` splits each expert's width, ``touched`` local experts are read.
    ``attn_kernel_s`` / ``experts_kernel_s``: the attention core's and the routed experts' time
    from the measured-kernel fits, replacing the roofline of ``attn_f``/``attn_b`` and the grouped GEMMs."""
    m = c.model
    attn_g, other_g = _gemm_list(c, moe, T, tp_c, rep)
    out = {"gemm_s": attn_g + other_g}
    kind = "decode" if phase == "decode" else "prefill"
    if attn_kernel_s is not None:
        ak = np.asarray(attn_kernel_s, dtype=float)  # at the roofline inputs' shape (+ 0 * attn_f, without the passes)
        out["attention_s"] = np.broadcast_to(ak, np.broadcast_shapes(ak.shape, np.shape(attn_f)))
    else:
        out["attention_s"] = attention_s(attn_f, attn_b, c.hw, kind).total_s
    if moe and experts_kernel_s is not None:  # the measured MoE layer includes its activation passes
        out["experts_s"] = experts_kernel_s
        f_loc = m.moe.shared_ffn * m.moe.shared_experts
    elif moe:
        out["experts_s"] = experts_s(m, M_e, groups, c.hw, c.quant, phase, ffn_split=moe_tp,
                                     weight_bytes=c.expert_weight_bytes, touched=touched)
        f_loc = m.moe.expert_ffn * m.moe.top_k + m.moe.shared_ffn * m.moe.shared_experts
    else:
        out["experts_s"] = np.zeros(np.shape(T))
        f_loc = m.ffn / tp_c
    # norms, residuals, RoPE, activation function, (de)quantisation
    # a framework that fuses residual + RMSNorm into the TP all-reduce kernel ([frameworks.kernels]
    # fused_allreduce_norm) does those passes inside it
    fused = c.kernels is not None and c.kernels.choice.get("fused_allreduce_norm", False)
    hp = np.where(tp_c > 1, ELEMENTWISE_HIDDEN_PASSES - FUSED_NORM_PASSES, ELEMENTWISE_HIDDEN_PASSES) if fused else None
    out["elementwise_s"] = elementwise_s(m, T, f_loc, c.hw, hidden_passes=hp) + qk_norm_s(c, T, tp_c)
    return out


def qk_norm_s(c: Ctx, T, tp_c) -> np.ndarray:
    """The two vector kernels of a q/k norm over all heads under TP (``qk_norm_per_layer``; 0 otherwise
    or without TP): the per-token sums of squares of this rank's q and k slices, then their scaling by
    the all-reduced sums (vLLM ``_minimax_qk_var_kernel`` / ``_minimax_rms_apply_kernel``): the slices
    read twice and written once in BF16, each kernel at least one launch (the GEMM calibration's ``launch_s``)."""
    m = c.model
    t = np.asarray(tp_c, dtype=float)
    if not m.qk_norm_per_layer:
        return np.zeros(np.broadcast_shapes(np.shape(T), t.shape))
    width = (m.heads + m.kv_heads) * m.head_dim / t  # this rank's q and k
    nbytes = 3.0 * np.asarray(T, dtype=float) * t * width * BYTES["bf16"]  # the group's tokens
    return np.where(t > 1, 2.0 * c.hw.kernels.gemm.launch_s.si + stream_s(nbytes, c.hw), 0.0)


def wide_ep(c: Ctx, plan: ServePlan) -> np.ndarray:
    """Plans whose EP group spans more than one scale-up (NVLink) domain: wide-EP deployments run
    other kernel paths (DeepEP over RDMA, DeepGEMM grouped GEMMs) than the single-node kernel tables
    measure, so the calibrated roofline (DeepGEMM / DeepEP / FlashMLA anchors) prices them."""
    return (chips_of(plan.ep, c.dev) > c.hw.scaleup_domain) & (c.model.moe is not None)


def forward(c: Ctx, plan: ServePlan, T, attn_f, attn_b, phase: str, layers: tuple[float, float] | None = None,
            extra_attention_s=0.0, attn_kernel=None) -> dict[str, np.ndarray]:
    """One forward step per chip (:func:`forward_priced`), by the measured-kernel fits where the chip
    has them and the plan's EP stays inside one NVLink domain, else by the roofline (per plan)."""
    if c.kernels is None:
        return forward_priced(c, plan, T, attn_f, attn_b, phase, layers, extra_attention_s)
    wide = np.broadcast_to(wide_ep(c, plan), plan.shape)
    if not wide.any():
        return forward_priced(c, plan, T, attn_f, attn_b, phase, layers, extra_attention_s, attn_kernel)
    roof = forward_priced(dataclasses.replace(c, kernels=None), plan, T, attn_f, attn_b, phase, layers,
                          extra_attention_s)
    if wide.all():
        return roof
    kern = forward_priced(c, plan, T, attn_f, attn_b, phase, layers, extra_attention_s, attn_kernel)
    w = wide.reshape(plan.shape)
    return {k: np.where(np.broadcast_to(w, np.broadcast_shapes(w.shape, np.shape(v))), roof[k], v)
            for k, v in kern.items()}


def forward_priced(c: Ctx, plan: ServePlan, T, attn_f, attn_b, phase: str, layers: tuple[float, float] | None = None,
                   extra_attention_s=0.0, attn_kernel=None) -> dict[str, np.ndarray]:
    """Time of one forward step of the model (or ``layers = (dense, moe)`` of it) per chip.

    ``T``: query tokens per chip; ``attn_f``/``attn_b``: one layer's attention-core FLOPs
    and bytes per chip for those tokens; ``extra_attention_s``: time of one layer's other
    attention kernel (the prefill chunks of a co-located batch); ``attn_kernel(share)``: one layer's
    attention-core seconds from the measured-kernel fits for ``share`` of the batch (1 or 1/2 per
    micro-batch; :func:`decode_attention` / :func:`prefill_attention`), replacing the roofline of
    ``attn_f``/``attn_b``. With kernel fits (``c.kernels``) the GEMMs, MoE layers, TP all-reduces and
    in-domain DeepEP dispatch/combine come from the fits too. Returns the parts of :data:`PARTS`
    (they add up to ``total_s``) plus ``total_s`` and ``imbalance``.
    """
    m = c.model
    L_d, L_m = (m.dense_layers, m.moe_layers) if layers is None else layers
    T = np.asarray(T, dtype=float)
    tp_c = chips_of(plan.tp, c.dev)
    rep = replicas(plan.tp, c.dev)
    ep_c = chips_of(plan.ep, c.dev)
    mode = "ll" if phase == "decode" else "normal"
    has_ep = (ep_c > 1) & (m.moe is not None)
    mt = np.maximum(np.asarray(plan.moe_tp, dtype=float), 1.0)
    # an expert group inside the attention TP group holds the same (replicated) tokens on every rank:
    # each rank runs its local experts on them and the layer's TP all-reduce sums the outputs, with no
    # dispatch/combine (TensorRT-LLM, vLLM and SGLang all-to-all only under attention DP)
    a2a_on = has_ep & (np.asarray(plan.ep, dtype=float) * mt > np.maximum(np.asarray(plan.tp, dtype=float), 1.0))
    # distinct token sets inside one expert slice's moe_tp ranks (1 when attention TP replicates them)
    gather = np.maximum(mt / np.maximum(np.asarray(plan.tp, dtype=float), 1.0), 1.0)
    mb = np.where((plan.overlap > 0) & has_ep, 2.0, 1.0)
    kern = c.kernels
    # DeepEP kernels run inside one NVLink domain; wider EP keeps the fabric all-to-all model (per plan)
    deepep = kern is not None and m.moe is not None
    in_domain = ep_c <= c.hw.scaleup_domain

    def per_layer(Tm, f, b, extra, share, dense=True):
        ak = None if attn_kernel is None else attn_kernel(share)
        d = layer_compute(c, False, Tm, f, b, tp_c, rep, 0.0, 1.0, phase, attn_kernel_s=ak) if L_d and dense else None
        if d is not None:
            d["attention_s"] = d["attention_s"] + extra
        if m.moe is None or not L_m:
            return d, None, 0.0, 1.0
        k = m.moe.top_k
        slots = m.moe.experts + redundant_experts(m, plan)
        gamma = imbalance(m, plan, Tm * k * mt, ep_c)
        M_e = Tm * k * gamma * ep_c * mt / slots
        groups = slots / ep_c
        touched = experts_touched(groups, m.moe.experts, k, Tm * ep_c * mt)
        # the busiest rank's share sets the pace: the group's tokens scaled by gamma
        ek = None if kern is None else kernel_experts_s(c, Tm * ep_c * mt * gamma, mt, ep_c, slots)
        e = layer_compute(c, True, Tm, f, b, tp_c, rep, M_e, groups, phase, mt, touched, attn_kernel_s=ak,
                          experts_kernel_s=ek)
        e["attention_s"] = e["attention_s"] + extra
        dep = None
        if deepep and np.any(in_domain):
            # the busiest rank's rows scale the bytes, not the kernels' fixed latency
            dep = kern.deepep_s(mode, Tm * gamma, m.hidden, k, slots, np.where(in_domain, ep_c, 1.0))
        if dep is None or not np.all(in_domain):
            copies = a2a_copies(c, ep_c, mode)
            disp = moe_a2a_s(Tm, copies, c.dispatch_bytes(), ep_c, c.hw, "dispatch", mode)["total_s"]
            comb = moe_a2a_s(Tm, copies, c.combine_bytes(), ep_c, c.hw, "combine", mode)["total_s"]
            fabric = (disp + comb) * gamma
            dep = fabric if dep is None else np.where(in_domain, dep, fabric)
        a2a = np.where(a2a_on, dep, 0.0)
        return d, e, a2a + expert_tp_comm(Tm), gamma

    def expert_tp_comm(Tm):
        """All-gather of the slice group's tokens and reduce-scatter of the expert outputs."""
        if kern is not None:
            ag = kern.collective_s("all_gather", gather, gather * Tm * c.dispatch_bytes())
            rs = kern.collective_s("reduce_scatter", gather, gather * Tm * c.combine_bytes())
        else:
            ag = collective_s("all_gather", gather * Tm * c.dispatch_bytes(), gather, c.hw, 1)["total_s"]
            rs = collective_s("reduce_scatter", gather * Tm * c.combine_bytes(), gather, c.hw, 1)["total_s"]
        return np.where(gather > 1, ag + rs, 0.0)

    # TP all-reduces of the group's activations, twice per layer, and a q/k norm over all heads'
    def tp_comm(Tm):
        # per rank: t * (T/dev) tokens of activations at 1/dev of the chip's bandwidth
        t = np.maximum(plan.tp, 1.0)
        size = t * Tm * m.hidden * BYTES["bf16"]
        fits = t <= c.hw.scaleup_domain  # the measured fits: TP groups inside one NVLink domain (per plan)
        kernel = kern is not None and np.any(fits)

        def ar(nbytes):  # the framework's one-shot/two-shot all-reduce at decode sizes, NCCL beyond (measured fits)
            if not kernel:
                return collective_s("all_reduce", nbytes, t, c.hw, 1)["total_s"]
            fit = kern.allreduce_s(np.where(fits, t, 1.0), nbytes)
            return fit if np.all(fits) else np.where(fits, fit, collective_s("all_reduce", nbytes, t, c.hw, 1)["total_s"])
        out = 2.0 * ar(size)
        if m.qk_norm_per_layer:
            out = out + ar(t * Tm * QK_NORM_SUMS * BYTES["fp32"])
        return np.where(t > 1, out, 0.0)

    extra = np.asarray(extra_attention_s, dtype=float)
    full = per_layer(T, attn_f, attn_b, extra, 1.0)
    # the micro-batch halves matter only where a plan overlaps MoE communication (dense layers have none)
    split = full[1] is not None and bool(np.any(plan.overlap > 0))
    half = per_layer(T / 2.0, np.asarray(attn_f) / 2.0, np.asarray(attn_b) / 2.0, extra / 2.0, 0.5,
                     dense=False) if split else None
    # low-latency kernels leave the compute units free while in flight (DeepEP README:
    # hook-based overlap that occupies no SM; CloudMatrix AIV-direct): full overlap
    eta = c.fw.si("overlap_efficiency") if mode == "normal" else 1.0
    parts = {k: 0.0 for k in PARTS}
    keys = ("gemm_s", "attention_s", "experts_s", "elementwise_s")

    def add(one, count, comm, tpc, two=None, comm_mb=0.0, tp_mb=0.0):
        """Add ``count`` layers: one batch (communication after compute) or two micro-batches,
        where the overlap hides ``eta`` of the shorter of compute and MoE communication (the
        TP all-reduces stay on the critical path). ``two`` None: no plan overlaps, one batch."""
        if two is None:
            for k in keys:
                parts[k] = parts[k] + count * one[k]
            parts["ep_comm_s"] = parts["ep_comm_s"] + count * comm
            parts["tp_comm_s"] = parts["tp_comm_s"] + count * tpc
            return
        comp2 = 2.0 * sum(two[k] for k in keys)
        comm2 = 2.0 * comm_mb
        on = (plan.overlap > 0) & (comm2 > 0)  # nothing to overlap: one batch
        hidden = eta * np.minimum(comp2, comm2)
        for k in keys:
            parts[k] = parts[k] + count * np.where(on, 2.0 * two[k], one[k])
        parts["ep_comm_s"] = parts["ep_comm_s"] + count * np.where(on, comm2 - hidden, comm)
        parts["tp_comm_s"] = parts["tp_comm_s"] + count * np.where(on, 2.0 * tp_mb, tpc)
        parts["hidden_comm_s"] = parts["hidden_comm_s"] + count * np.where(on, hidden, 0.0)

    parts["hidden_comm_s"] = 0.0
    tp_full = tp_comm(T)
    if L_d:
        add(full[0], L_d, 0.0, tp_full)
    if full[1] is not None:
        add(full[1], L_m, full[2], tp_full, *((half[1], half[2], tp_comm(T / 2.0)) if split else ()))
    layers_n = L_d + L_m
    parts["overhead_s"] = layers_n * mb * c.fw.si("layer_overhead_s") + 0.0 * T
    shape = np.broadcast_shapes(plan.shape, np.shape(T), np.shape(attn_f), np.shape(attn_b), np.shape(extra))
    out = {k: np.broadcast_to(np.asarray(parts[k], dtype=float), shape) for k in PARTS}
    floor = c.fw.si("layer_floor_s")
    rest = sum(out[k] for k in PARTS[:-1])  # the parts in PARTS order, the overhead (last) added after
    if floor > 0:  # the launch-bound minimum of the layers' kernels (frameworks/serving.toml)
        busy = rest + out["overhead_s"]
        out["overhead_s"] = out["overhead_s"] + np.maximum(layers_n * floor - busy, 0.0)
    out["total_s"] = rest + out["overhead_s"]
    out["hidden_comm_s"] = np.broadcast_to(np.asarray(parts["hidden_comm_s"], dtype=float), shape)
    out["imbalance"] = np.broadcast_to(np.asarray(full[3], dtype=float), shape)
    return out


def step_result(main: dict, plan: ServePlan, step, parts: dict, fields: dict) -> dict[str, np.ndarray]:
    """The record of one priced step, every entry broadcast to the plans' shape: the parts of
    :func:`forward` (``parts`` added or replacing some), ``step_s``, ``fields``, and the
    forward's ``imbalance`` and ``hidden_comm_s``."""
    shape = np.broadcast_shapes(np.shape(step), plan.shape)
    out = {k: main[k] for k in PARTS} | parts | {"step_s": step} | fields
    out |= {"imbalance": main["imbalance"], "hidden_comm_s": main["hidden_comm_s"]}
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}


def head_s(c: Ctx, tokens, tp_c) -> np.ndarray:
    """LM head (vocab-parallel over TP, BF16) for ``tokens`` tokens per chip: the TP group's
    ``tokens * t`` tokens through a ``V / t`` slice (the measured BF16 GEMM fit where there is one)."""
    if kernel_gemm(c) is not None:
        T = floats(tokens) * tp_c
        v = c.model.vocab / floats(tp_c)
        return c.kernels.gemm_s(T, v, c.model.hidden, "bf16") + stream_s(T * v * BYTES["fp32"], c.hw)
    return head_forward_s(c.model, floats(tokens) * tp_c, tp_c, c.hw, "bf16")
