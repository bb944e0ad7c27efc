"""Training step time of parallel plans (formulas.md sec. 5 and 6), vectorized.

``step_s = m (t_F + t_B) + bubble + exposed DP sync + optimizer + overhead`` where
``t_F``/``t_B`` are one micro-batch's forward/backward on the slowest pipeline stage:
layer compute from the cost core, recompute, and the communication each parallelism
adds per micro-batch (TP all-reduce or SP gather/scatter, CP K/V gathers overlapped with
attention, EP dispatch/combine, PP sends; :mod:`superpod.training.mechanisms`). Ranks are
laid out TP innermost, then CP, then DP, then PP outermost (Megatron's order); the expert
layers fold their own layout over the same TP x CP x DP ranks, ETP innermost, then EP,
then expert-DP (Megatron MoE parallel folding), so a group lands on the fabric tier its
span reaches.

Every quantity is an array over plans; the breakdown parts add up to ``step_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.comm import p2p_s
from superpod.cost.compute import stream_s
from superpod.cost.hardware import BYTES, Hardware
from superpod.cost.layers import (BWD_GEMM, attention_flops_per_token, backward_attention_factor, head_forward_s,
                                  model_flops_per_token)
from superpod.cost.plan import DUALPIPE, FULL, OPS, SELECTIVE, TrainPlan
from superpod.spec.calibration import training_algorithms
from superpod.spec.model import Model
from superpod.training.dispatch import (alltoall_dispatcher_s, check_dispatcher, deepep_mnnvl_s, host_op_s, local_permute_s,
                                        routing_skew)
from superpod.training.host import layer_host_s, linears as host_linears, stage_wait_s
from superpod.training.kernels import expert_rate, layer_train_measured_s
from superpod.training.offload import offload_s
from superpod.training.mechanisms import cp_exchange_s, dp_sync_s, ep_alltoall_s, fsdp_s, straggler_s, tier_index
from superpod.training.quantise import quantise_s
from superpod.training.recompute import modules_flops_per_token, modules_s
from superpod.training.schedules import bubble_s

#: GEMM precision of each training recipe code (``TrainPlan.fp8``): MXFP8 runs FP8 GEMMs with
#: block scales, NVFP4 FP4 GEMMs (their scaling overheads are not itemised)
RECIPES = ("bf16", "fp8", "mxfp8", "fp4")
GEMM_FORMAT = {"bf16": "bf16", "fp8": "fp8", "mxfp8": "fp8", "fp4": "fp4"}



@dataclass(frozen=True)
class StepResult:
    """Step time and its breakdown for each plan (arrays, SI).

    The per-plan rates derive from ``step_s`` on demand, so a search that ranks millions
    of plans by step time computes them only where it reads them.
    """

    step_s: np.ndarray
    breakdown: dict[str, np.ndarray]
    micro_batches: np.ndarray
    tokens: float  # tokens per step
    chips: np.ndarray  # chips per plan
    model_flops: np.ndarray  # model FLOPs per step (no recompute)
    recompute_flops: np.ndarray  # extra FLOPs recomputation adds
    peak_flops: float  # dense peak the utilisations are quoted against
    forward_s: np.ndarray | None = None  # forward share of compute_s (m x forward of one micro-batch; traces)
    #: per mechanism, per step: ``wire_s`` (its transfers before any overlap), ``tier`` (index of the outermost
    #: fabric tier its group spans, -1 none); the exposed part is the breakdown's (``--explain``)
    mechanisms: dict[str, dict[str, np.ndarray]] | None = None

    @property
    def tokens_per_s(self) -> np.ndarray:
        return self.tokens / self.step_s

    @property
    def flops_per_chip(self) -> np.ndarray:
        """Achieved model FLOP/s per chip."""
        return self.model_flops / self.step_s / self.chips

    @property
    def mfu(self) -> np.ndarray:
        return self.flops_per_chip / self.peak_flops

    @property
    def hfu(self) -> np.ndarray:
        return (self.model_flops + self.recompute_flops) / self.step_s / self.chips / self.peak_flops



def step(model: Model, hw: Hardware, plan: TrainPlan, seq_len: int, global_batch,
         overhead_per_mb_layer_s: float = 0.0, precision_peak: str = "bf16",
         attention_impl: str = "flash", overhead_per_step_s: float = 0.0, cp_overlap: bool = True,
         tp_bwd_overlap: bool = True, dp_overlap: bool = True, grad_reduce_dtype: str = "fp32",
         dispatcher: str = "deepep", elementwise_passes: tuple[float, float] | None = None, kernels=None,
         compute_fraction: float = 1.0, attention_utilisation: float | None = None, host_ops=None,
         pp_layout: bool = False, recompute_modules: tuple[str, ...] | None = None,
         expert_flops: dict | None = None, routing: str = "balanced", fp8_dispatch: bool = True,
         offload_Bps: float | None = None) -> StepResult:
    """Price every plan in ``plan`` for one optimizer step of ``global_batch`` sequences.

    The slowest stage holds ``ceil(L / pp)`` layers (dense and MoE in the model's
    proportion) plus the LM head. ``overhead_per_mb_layer_s`` is the framework's host-side
    time per layer per micro-batch and ``attention_impl`` its attention kernel (calibration
    data, :mod:`superpod.training.framework`), ``overhead_per_step_s`` its fixed time per step
    (data loading, clipping, logging) and ``cp_overlap`` whether CP's K/V exchange hides
    behind attention (ring attention) or is exposed (all-gather first, as Llama 3);
    ``tp_bwd_overlap`` whether backward TP traffic hides behind weight-gradient GEMMs;
    ``dp_overlap`` whether the gradient reduction starts during the last backward pass;
    ``grad_reduce_dtype`` the format gradients are reduced in (DP and FSDP); ``dispatcher`` the
    MoE token dispatcher (:mod:`superpod.training.dispatch`: ``deepep``, ``hybridep`` or NCCL ``alltoall``);
    ``elementwise_passes``: ``(hidden, ffn)`` elementwise passes per token and layer of a stack
    that runs its norms, RoPE and activations unfused (eager PyTorch), in place of the cost
    layer's fused count (:data:`superpod.cost.layers.ELEMENTWISE_HIDDEN_PASSES`); the extra passes
    run forward, twice backward and again wherever the elementwise ops are recomputed;
    ``kernels``: the chip's measured-kernel fits for the framework (BF16 GEMMs,
    :mod:`superpod.training.kernels`), their times divided by ``compute_fraction`` (power limit);
    ``attention_utilisation``: the share of the peak the stack's attention kernel reaches when it is
    an older one than the chip's profile prices (compute-bound training attention runs
    ``prefill_eta_c / attention_utilisation`` times longer, forward, backward and recomputed);
    ``host_ops``: the eager stack's launches per layer (:class:`superpod.training.framework.HostOps`),
    priced in the host-bound regime (:mod:`superpod.training.host`); None: no host bound;
    ``pp_layout``: the stack places layers per pipeline stage freely (Megatron-Core's
    ``--pipeline-model-parallel-layout``, e.g. ``Et|(tt|)*30L`` for DeepSeek-V3 on PP8 VPP4): when
    ``ceil(L / pp) x pp`` exceeds ``L`` the stage holding the LM head holds that many fewer layers (at
    most all its ``ceil(L / pp)``: the loss alone on a stage, as ``...|L``), so
    the slowest stage pays only the head's excess over the layers it gave up (never less than the
    ``ceil(L / pp)`` layers of the fullest stage); else the head sits on a full stage;
    ``recompute_modules``: what ``selective`` recompute re-runs (Megatron-Core's ``--recompute-modules``,
    :mod:`superpod.training.recompute`); None: the attention core; ``expert_flops``: per recipe and chip,
    the best rate the stack's grouped GEMM of the routed experts reaches (framework data); none: the roofline;
    ``routing``: the expert-load assumption (:func:`superpod.training.dispatch.routing_skew`);
    ``fp8_dispatch``: under an FP8 recipe the dispatch sends FP8 rows (DeepSeek's stack); False: BF16, as
    Megatron-Core (the article's sec. 3.2: its column-wise re-quantisation costs what FP8 dispatch saves).
    Every MoE layer also permutes its received rows by local expert and un-permutes them before the
    combine (:func:`superpod.training.dispatch.local_permute_s`). ``offload_Bps``: activations offloaded to
    host memory over a link of that rate per direction (:mod:`superpod.training.offload`); None: kept in HBM.
    """
    check_dispatcher(dispatcher)
    tp, pp, dp, ep, cp, etp = (floats(getattr(plan, k)) for k in ("tp", "pp", "dp", "ep", "cp", "etp"))
    b, v = floats(plan.micro_batch), floats(plan.vpp)
    prec = np.asarray(plan.fp8)
    s = float(seq_len)
    B = floats(global_batch)
    m = B / (dp * b)  # micro-batches per pipeline per step
    T = b * s / cp  # tokens per micro-batch on one chip
    context = s / 2  # causal average (each CP rank's queries still see half the sequence on average)
    h = model.hidden
    stage_layers = np.ceil(model.layers / pp)
    Ld = stage_layers * model.dense_layers / model.layers
    Lm = stage_layers * model.moe_layers / model.layers
    mech = training_algorithms().mechanisms

    # ---- compute and TP traffic per micro-batch on one stage, per GEMM precision ----
    codes = [int(c) for c in np.unique(prec)]
    per_prec = {
        key: [layer_train_measured_s(model, moe, T, context, tp, ep, hw, GEMM_FORMAT[RECIPES[key]], attention_impl,
                                     plan.sp, etp, kernels, compute_fraction,
                                     expert_rate(expert_flops, hw, RECIPES[key])) if n else None
              for moe, n in ((False, model.dense_layers), (True, model.moe_layers))]
        for key in codes
    }

    # routed experts wait for the busiest EP rank (formulas.md 3.3): balanced routing 1, random its spread
    skew = routing_skew(routing, T / tp * model.moe.top_k * etp, ep) if model.moe_layers else 1.0 + 0.0 * T
    for key in codes:
        e = per_prec[key][1]
        if e is not None and np.any(skew > 1.0):
            extra = (skew - 1.0) * e["experts_s"]
            per_prec[key][1] = {**e, "experts_s": e["experts_s"] + extra, "fwd_s": e["fwd_s"] + extra,
                                "bwd_s": e["bwd_s"] + BWD_GEMM * extra}

    def pick(vals):
        out = vals[codes[0]]
        for key in codes[1:]:
            out = np.where(prec == key, vals[key], out)
        return out

    def total(name):
        """Sum over the stage's dense and MoE layers of one part, in the plan's precision."""
        vals = {}
        for key, (d, e) in per_prec.items():
            vals[key] = (Ld * d[name] if d is not None else 0.0) + (Lm * e[name] if e is not None else 0.0)
        return pick(vals)

    def moe_part(name):
        return pick({key: e[name] for key, (_, e) in per_prec.items()})

    head_f = head_forward_s(model, T, tp, hw)  # last stage; embedding lookup is negligible
    head_stage_f = head_f
    if pp_layout:  # the head's stage gives up the layer slots the other stages fill (docstring)
        slack = np.where(pp > 1, np.minimum(stage_layers * pp - model.layers, stage_layers), 0.0)
        per_layer_f = total("fwd_s") / stage_layers
        head_stage_f = np.maximum(head_f - slack * per_layer_f, 0.0)
    slow = 0.0 if attention_utilisation is None else hw.kernels.attention.prefill_eta_c.si / attention_utilisation - 1.0
    attn_f = total("attention_s") * (1.0 + slow)
    attn_extra = total("attention_s") * slow  # an older attention kernel than the chip's profile
    eager = _eager_extra_s(model, T, tp, plan.sp, hw, elementwise_passes, Ld, Lm)
    t_fwd = total("fwd_s") + head_stage_f + eager + attn_extra
    t_bwd = total("bwd_s") + BWD_GEMM * head_stage_f + BWD_GEMM * eager + backward_attention_factor(attention_impl) * attn_extra
    rc = plan.recompute
    # full recompute re-runs each layer's forward, TP traffic included; selective only the attention core
    # TorchTitan's op policy saves every other matmul output and the attention output: half the GEMMs and the
    # elementwise passes run again (torchtitan activation checkpointing, selective_ac_option = "op")
    ops = 0.5 * (total("gemm_s") + total("experts_s")) + total("elementwise_s") + eager
    # quantisation passes of the FP8 / MXFP8 / NVFP4 recipes (forward inputs, backward gradients)
    q_layer = {moe: pick({key: quantise_s(model, moe, T, tp, hw, RECIPES[key], etp) for key in codes})
               for moe, n in ((False, model.dense_layers), (True, model.moe_layers)) if n}
    quant = Ld * q_layer.get(False, 0.0) + Lm * q_layer.get(True, 0.0)
    selective, rc_linears = attn_f, {False: 0.0, True: 0.0}
    if recompute_modules is not None:  # fine-grained recompute (superpod.training.recompute)
        selective = 0.0 * T
        for moe, n_layers in ((False, Ld), (True, Lm)):
            if moe not in q_layer:
                continue
            idx = 1 if moe else 0
            part = lambda name, idx=idx: pick({k: v[idx][name] for k, v in per_prec.items()})  # noqa: E731
            sec, lin = modules_s(model, moe, recompute_modules, part, part("attention_s") * (1.0 + slow), q_layer[moe],
                                 T, tp, ep, etp, hw)
            selective, rc_linears[moe] = selective + n_layers * sec, lin
    recompute = np.select([rc == FULL, rc == SELECTIVE, rc == OPS],
                          [total("fwd_s") + total("tp_fwd_s") + quant / 2 + eager + attn_extra, selective, ops], 0.0)

    # ---- communication per micro-batch ----
    act_bytes = T * h * BYTES["bf16"]
    layers = Ld + Lm
    tp_s = total("tp_fwd_s") + (total("tp_bwd_s") if tp_bwd_overlap else total("tp_fwd_s"))

    # context parallelism: K and V of this rank's s/cp tokens for its heads (MLA: per-head K/V, up-projected)
    kv_heads_local = model.heads / tp if model.mla is not None else model.kv_heads_per_rank(tp)
    kv_chunk = 2.0 * b * (s / cp) * kv_heads_local * model.head_dim * BYTES["bf16"]
    attn_layer_f = attn_f / np.maximum(layers, 1e-9)
    bwd_attn = backward_attention_factor(attention_impl) * attn_layer_f
    cpx = cp_exchange_s(kv_chunk, cp, tp, attn_layer_f, bwd_attn, hw, cp_overlap)
    cp_s = layers * (cpx["fwd_s"] + cpx["bwd_s"])

    if model.moe_layers:
        moe_compute = (moe_part("experts_s") + moe_part("gemm_s")) * (1 + BWD_GEMM)
        dual = np.asarray(plan.schedule) == DUALPIPE
        hot_T = skew * T / tp  # the busiest EP rank receives and sends skew x the mean
        mnnvl = (deepep_mnnvl_s(hot_T, model.moe.experts, model.moe.top_k, h, ep, etp, hw)
                 if dispatcher != "hybridep" else 0.0)  # HybridEP runs at the NVL72's rate
        a2a = ep_alltoall_s(hot_T, model.moe.top_k, h, ep, etp, hw, (prec > 0) & fp8_dispatch, moe_compute, dual, mech["ep_comm_sms"].si,
                            mnnvl)
        if dispatcher == "alltoall":  # NCCL: BF16 copies per token-expert pair, explicit permutes, host sync
            nc = alltoall_dispatcher_s(hot_T, model.moe.top_k, h, ep, etp, hw, moe_compute, dual, a2a["wire_s"],
                                       mech["ep_comm_sms"].si)
            a2a = {"exposed_s": nc["exposed_s"] + a2a["etp_s"], "wire_s": nc["wire_s"], "etp_s": a2a["etp_s"]}
        ep_s = np.where((ep > 1) | (etp > 1), Lm * a2a["exposed_s"], 0.0)
        permute = local_permute_s(hot_T * etp, model.moe.top_k, h, hw)  # forward and backward, one MoE layer
        ep_s = ep_s + Lm * permute
        ep_wire = Lm * (a2a["wire_s"] + a2a["etp_s"])
    else:
        ep_s = ep_wire = np.zeros_like(T)

    pp_bytes = act_bytes / np.where(plan.sp > 0, tp, 1.0)
    hop = p2p_s(pp_bytes, tp * cp * dp, hw)
    pp_s = np.where(pp > 1, 2 * v * hop, 0.0)

    t_f = t_fwd + (tp_s + cp_s + ep_s + pp_s) / 2 + recompute / 2 + quant / 2
    t_b = t_bwd + (tp_s + cp_s + ep_s + pp_s) / 2 + recompute / 2 + quant / 2
    wait = _host_wait(model, hw, plan, host_ops, dispatcher, per_prec, pick, codes, prec, T, tp, ep, etp, Ld, Lm,
                      layers, quant, recompute, slow, tp_s + cp_s + pp_s, ep_s, t_f, t_b, rc_linears)
    t_f = t_f + wait["fwd_s"]
    t_b = t_b + wait["bwd_s"]
    off = (offload_s(model, plan, seq_len, Ld, Lm, t_fwd, t_bwd, offload_Bps, recompute_modules)
           if offload_Bps is not None else {"fwd_s": 0.0 * T, "bwd_s": 0.0 * T, "bytes": 0.0 * T})
    t_f, t_b = t_f + off["fwd_s"], t_b + off["bwd_s"]
    bubble = bubble_s(plan.schedule, pp, v, t_f, t_b)

    # ---- data-parallel gradient sync, FSDP gathers and optimizer ----
    br = model.breakdown()
    expert_params = br["routed_experts"]
    dense_params = model.params - expert_params
    psi = dense_params / (tp * pp)
    psi_e = expert_params / (ep * etp * pp)
    replicas = dp * cp
    e_replicas = np.maximum(tp * dp * cp / (ep * etp), 1.0)  # expert-DP (folding)
    zero = plan.zero
    q_grad, q_param = BYTES[grad_reduce_dtype], BYTES["bf16"]  # gradient reduction format, BF16 parameter gathers
    bucket = mech["dp_bucket_params"].si
    layer_f = (t_fwd - head_stage_f) / np.maximum(layers, 1e-9)
    layer_b = (t_bwd - BWD_GEMM * head_stage_f + recompute) / np.maximum(layers, 1e-9)  # recompute runs in the backward
    dense_sync = dp_sync_s(psi * q_grad, psi * q_param, replicas, tp, hw, zero, t_b, bucket / np.maximum(psi, 1.0),
                           dp_overlap)
    expert_sync = dp_sync_s(psi_e * q_grad, psi_e * q_param, e_replicas, ep * etp, hw, np.maximum(zero, 1), t_b,
                            bucket / np.maximum(psi_e, 1.0), dp_overlap)
    dp_exposed = dense_sync["exposed_s"] + np.where(psi_e > 0, expert_sync["exposed_s"], 0.0)
    g_ratio = q_grad / q_param
    fs_d = fsdp_s(psi / np.maximum(stage_layers, 1) * q_param, replicas, tp, hw, layer_f, layer_b, stage_layers, zero,
                  g_ratio)
    fs_e = fsdp_s(psi_e / np.maximum(stage_layers, 1) * q_param, e_replicas, ep * etp, hw, layer_f, layer_b, stage_layers,
                  zero, g_ratio)
    z3 = m * (fs_d["exposed_s"] + fs_e["exposed_s"] * (psi_e > 0))
    opt = training_algorithms().optimizer
    shard = np.where(zero >= 1, replicas, 1.0)
    local_params = psi / shard + psi_e / np.where(zero >= 1, e_replicas, 1.0)
    optimizer = stream_s(local_params * opt.adam_traffic_bytes_per_param.si, hw)

    compute = m * (t_fwd + t_bwd)
    stragglers = straggler_s(compute + m * (recompute + quant), dp, mech["straggler_cv"].si)
    parts = {
        "compute_s": compute,
        "quantise_s": m * quant,
        "recompute_s": m * recompute,
        "tp_comm_s": m * tp_s,
        "cp_comm_s": m * cp_s,
        "ep_comm_s": m * ep_s,
        "pp_comm_s": m * pp_s,
        "bubble_s": bubble,
        "dp_comm_exposed_s": dp_exposed,
        "fsdp_comm_exposed_s": z3,
        "straggler_s": stragglers,
        "optimizer_s": optimizer,
        "host_wait_s": m * (wait["fwd_s"] + wait["bwd_s"]),
        "offload_s": m * (off["fwd_s"] + off["bwd_s"]),
        "overhead_s": m * stage_layers * overhead_per_mb_layer_s + overhead_per_step_s,
    }
    step_s = sum(parts.values())
    tokens = B * s
    chips = floats(plan.chips)
    model_flops = model_flops_per_token(model, s) * tokens
    attn_fwd = model.layers * attention_flops_per_token(model, s / 2) * tokens
    if recompute_modules is not None:
        attn_fwd = model.layers * modules_flops_per_token(model, recompute_modules,
                                                          float(attention_flops_per_token(model, s / 2))) * tokens
    recompute_flops = np.select([rc == FULL, rc == SELECTIVE, rc == OPS],
                                [model_flops / 3.0, attn_fwd, model.active_params * tokens], 0.0)
    return StepResult(
        step_s=step_s,
        breakdown=parts,
        micro_batches=m,
        tokens=tokens,
        chips=chips,
        model_flops=model_flops,
        recompute_flops=recompute_flops,
        peak_flops=hw.peak(precision_peak),
        forward_s=m * t_fwd,
        mechanisms={
            "tp": {"wire_s": m * 2 * total("tp_fwd_s"), "tier": tier_index(tp, 1, hw)},
            "cp": {"wire_s": m * layers * cpx["wire_s"], "tier": tier_index(cp, tp, hw)},
            "ep": {"wire_s": m * ep_wire, "tier": tier_index(ep, etp, hw)},
            "pp": {"wire_s": m * pp_s, "tier": tier_index(np.minimum(pp, 2), tp * cp * dp, hw)},
            "dp": {"wire_s": dense_sync["wire_s"] + expert_sync["wire_s"] * (psi_e > 0), "tier": tier_index(replicas, tp, hw)},
            "fsdp": {"wire_s": m * (fs_d["wire_s"] + fs_e["wire_s"] * (psi_e > 0)), "tier": tier_index(replicas, tp, hw)},
            "recompute": {"wire_s": 0.0 * T, "tier": -1.0 + 0.0 * T},
            "offload": {"wire_s": m * 2.0 * off["bytes"] / (offload_Bps or 1.0), "tier": -1.0 + 0.0 * T},
            "host": {"wire_s": m * wait["host_s"], "tier": -1.0 + 0.0 * T},
        },
    )


def _host_wait(model: Model, hw: Hardware, plan: TrainPlan, host_ops, dispatcher, per_prec, pick, codes, prec, T, tp, ep,
               etp, Ld, Lm, layers, quant, recompute, slow, comm_s, ep_s, t_f, t_b, rc_linears) -> dict[str, np.ndarray]:
    """The GPU's wait for the host on one stage per micro-batch (:mod:`superpod.training.host`): ``fwd_s``,
    ``bwd_s`` and ``host_s`` (the host's launch time). The stage's per-micro-batch quantisation,
    recompute and communication are shared among its layers in proportion to their count."""
    zero = 0.0 * T
    if host_ops is None:
        return {"fwd_s": zero, "bwd_s": zero, "host_s": zero}
    ratio = host_ops.op_tables_ratio.si if host_ops.op_tables_ratio is not None else 1.0
    op_s = host_ops.op_s.si if host_ops.op_s is not None else ratio * host_op_s(hw.chip)
    aten_s = host_ops.aten_op_s.si if host_ops.aten_op_s is not None else op_s
    per_layer = 1.0 / np.maximum(layers, 1e-9)
    shared_f = (comm_s + quant + recompute) / 2 * per_layer  # the stage's other work, per layer, each half
    quantised = prec > 0
    rc = np.asarray(plan.recompute)
    kinds = {}
    for moe in (False, True):
        if not (model.moe_layers if moe else model.dense_layers):
            continue
        idx = 1 if moe else 0
        part = lambda name: pick({k: v[idx][name] for k, v in per_prec.items()})  # noqa: E731
        attn = part("attention_s") * (1.0 + slow)
        ep_half = np.where((ep > 1) | (etp > 1), ep_s / 2 / np.maximum(Lm, 1e-9), 0.0) if moe else zero
        ops = layer_host_s(host_ops, op_s, aten_s, model, moe, ep, etp, quantised, dispatcher,
                        np.select([rc == FULL, rc == SELECTIVE], [sum(host_linears(model, moe, ep, etp)), rc_linears[moe]],
                                  0.0))
        kinds[moe] = {**ops, "pre_s": attn + part("gemm_s") + part("elementwise_s") + shared_f, "router_s": zero,
                      "post_s": part("experts_s") + ep_half if moe else zero, "bwd_s": part("bwd_s") + shared_f + ep_half}
    w = stage_wait_s(kinds.get(False), kinds.get(True), Ld, Lm, floats(plan.vpp))
    return {"fwd_s": w["fwd_s"], "bwd_s": w["bwd_s"], "host_s": w["host_s"]}


def _eager_extra_s(model: Model, T, tp, sp, hw: Hardware, passes, Ld, Lm):
    """Forward seconds of the elementwise passes an unfused stack runs beyond the fused count, on one stage."""
    if passes is None:
        return 0.0 * T
    from superpod.cost.layers import ELEMENTWISE_FFN_PASSES, ELEMENTWISE_HIDDEN_PASSES

    hid, ffn = passes
    split = np.where(np.asarray(sp) > 0, tp, 1.0)
    out = 0.0 * T
    for n_layers, f in ((Ld, model.ffn), (Lm, model.moe.expert_ffn * model.moe.top_k if model.moe else 0.0)):
        per_token = (hid - ELEMENTWISE_HIDDEN_PASSES) * model.hidden / split + (ffn - ELEMENTWISE_FFN_PASSES) * f / tp
        out = out + n_layers * stream_s(T * per_token * BYTES["bf16"], hw)
    return out
