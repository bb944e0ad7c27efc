"""Training step time of parallel plans (formulas.md sec. 5 and 6), vectorized.

``step_s = m (t_F + t_B) + bubble + exposed DP sync + optimizer + overhead`` where
``t_F``/``t_B`` are one micro-batch's forward/backward on the slowest pipeline stage:
layer compute from the cost core, recompute, and the communication each parallelism
adds per micro-batch (TP all-reduce or SP gather/scatter, CP K/V gathers overlapped with
attention, EP dispatch/combine, PP sends). Ranks are laid out TP innermost, then CP,
then DP (EP groups span consecutive DP x CP ranks), then PP outermost (Megatron's
tp-cp-ep-dp-pp order), so a group lands on the fabric tier its span reaches.

Every quantity is an array over plans; the breakdown parts add up to ``step_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.comm import collective_s, combine_token_bytes, dispatch_token_bytes, moe_a2a_s, p2p_s
from superpod.cost.compute import stream_s
from superpod.cost.hardware import BYTES, Hardware
from superpod.cost.layers import (BWD_GEMM, attention_flops_per_token, backward_attention_factor, head_forward_s, layer_train_s,
                                  model_flops_per_token)
from superpod.cost.plan import DUALPIPE, FULL, SELECTIVE, TrainPlan
from superpod.spec.calibration import training_algorithms
from superpod.spec.model import Model
from superpod.training.schedules import bubble_s



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
         tp_bwd_overlap: bool = True, dp_overlap: bool = True) -> StepResult:
    """Price every plan in ``plan`` for one optimizer step of ``global_batch`` sequences.

    The slowest stage holds ``ceil(L / pp)`` layers (dense and MoE in the model's
    proportion) plus the LM head. ``overhead_per_mb_layer_s`` is the framework's host-side
    time per layer per micro-batch and ``attention_impl`` its attention kernel (calibration
    data, :mod:`superpod.training.framework`), ``overhead_per_step_s`` its fixed time per step
    (data loading, clipping, logging) and ``cp_overlap`` whether CP's K/V exchange hides
    behind attention (ring attention) or is exposed (all-gather first, as Llama 3);
    ``tp_bwd_overlap`` whether backward TP traffic hides behind weight-gradient GEMMs;
    ``dp_overlap`` whether the gradient reduction starts during the last backward pass.
    """
    tp, pp, dp, ep, cp = (floats(getattr(plan, k)) for k in ("tp", "pp", "dp", "ep", "cp"))
    b, v = floats(plan.micro_batch), floats(plan.vpp)
    prec = np.where(plan.fp8 > 0, 1, 0)
    s = float(seq_len)
    B = floats(global_batch)
    m = B / (dp * b)  # micro-batches per pipeline per step
    T = b * s / cp  # tokens per micro-batch on one chip
    context = s / 2  # causal average (each CP rank's queries still see half the sequence on average)
    h = model.hidden
    stage_layers = np.ceil(model.layers / pp)
    Ld = stage_layers * model.dense_layers / model.layers
    Lm = stage_layers * model.moe_layers / model.layers

    # ---- compute and TP traffic per micro-batch on one stage, per GEMM precision ----
    per_prec = {}
    for key, p in ((0, "bf16"), (1, "fp8")):
        if key == 1 and not (np.asarray(plan.fp8) > 0).any():
            continue
        per_prec[key] = [
            layer_train_s(model, moe, T, context, tp, ep, hw, p, attention_impl, plan.sp) if n else None
            for moe, n in ((False, model.dense_layers), (True, model.moe_layers))
        ]

    def total(name):
        """Sum over the stage's dense and MoE layers of one part, in the plan's precision."""
        vals = []
        for key in (0, 1):
            if key not in per_prec:
                vals.append(None)
                continue
            d, e = per_prec[key]
            vals.append((Ld * d[name] if d is not None else 0.0) + (Lm * e[name] if e is not None else 0.0))
        return vals[0] if vals[1] is None else np.where(prec == 1, vals[1], vals[0])

    def moe_part(name):
        vals = [per_prec[k][1][name] if k in per_prec else None for k in (0, 1)]
        return vals[0] if vals[1] is None else np.where(prec == 1, vals[1], vals[0])

    head_f = head_forward_s(model, T, tp, hw)  # last stage; embedding lookup is negligible
    attn_f = total("attention_s")
    t_fwd = total("fwd_s") + head_f
    t_bwd = total("bwd_s") + BWD_GEMM * head_f
    rc = plan.recompute
    # full recompute re-runs each layer's forward, TP traffic included; selective only the attention core
    recompute = np.where(rc == FULL, total("fwd_s") + total("tp_fwd_s"), np.where(rc == SELECTIVE, attn_f, 0.0))

    # ---- communication per micro-batch (forward; backward moves the same bytes) ----
    act_bytes = T * h * BYTES["bf16"]
    layers = Ld + Lm
    tp_s = total("tp_fwd_s") + (total("tp_bwd_s") if tp_bwd_overlap else total("tp_fwd_s"))

    # K and V of the whole sequence for this rank's heads (MLA: its per-head K/V, up-projected)
    kv_heads_local = model.heads / tp if model.mla is not None else model.kv_heads_per_rank(tp)
    kv_bytes = 2.0 * b * s * kv_heads_local * model.head_dim * BYTES["bf16"]
    cp_one = collective_s("all_gather", kv_bytes, cp, hw, tp)["total_s"]
    attn_layer_f = attn_f / np.maximum(layers, 1e-9)
    bwd_attn = backward_attention_factor(attention_impl) * attn_layer_f
    hidden_f, hidden_b = (attn_layer_f, bwd_attn) if cp_overlap else (0.0, 0.0)
    cp_s = np.where(cp > 1, layers * (np.maximum(cp_one - hidden_f, 0) + np.maximum(cp_one - hidden_b, 0)), 0.0)

    if model.moe_layers:
        disp_bytes = dispatch_token_bytes(h, prec == 1)
        a2a = (moe_a2a_s(T / tp, model.moe.top_k, disp_bytes, ep, hw, "dispatch", "normal", tp)["total_s"]
               + moe_a2a_s(T / tp, model.moe.top_k, combine_token_bytes(h), ep, hw, "combine", "normal", tp)["total_s"])
        moe_compute = (moe_part("experts_s") + moe_part("gemm_s")) * (1 + BWD_GEMM)
        exposed = np.where(plan.schedule == DUALPIPE, np.maximum(2 * a2a - moe_compute, 0.0), 2 * a2a)
        ep_s = np.where(ep > 1, Lm * exposed, 0.0)
    else:
        ep_s = np.zeros_like(T)

    pp_bytes = act_bytes / np.where(plan.sp > 0, tp, 1.0)
    hop = p2p_s(pp_bytes, tp * cp * dp, hw)
    pp_s = np.where(pp > 1, 2 * v * hop, 0.0)

    t_f = t_fwd + (tp_s + cp_s + ep_s + pp_s) / 2 + recompute / 2
    t_b = t_bwd + (tp_s + cp_s + ep_s + pp_s) / 2 + recompute / 2
    bubble = bubble_s(plan.schedule, pp, v, t_f, t_b)

    # ---- data-parallel gradient sync and optimizer ----
    br = model.breakdown()
    expert_params = br["routed_experts"]
    dense_params = model.params - expert_params
    psi = dense_params / (tp * pp)
    psi_e = expert_params / (ep * pp)
    replicas = dp * cp
    e_replicas = np.maximum(replicas / ep, 1.0)
    zero = plan.zero
    q_grad, q_param = BYTES["fp32"], BYTES["bf16"]  # FP32 gradient reduction, BF16 parameter gathers
    grad_rs = collective_s("reduce_scatter", psi * q_grad, replicas, hw, tp)["total_s"]
    param_ag = collective_s("all_gather", psi * q_param, replicas, hw, tp)["total_s"]
    grad_ar = collective_s("all_reduce", psi * q_grad, replicas, hw, tp)["total_s"]
    e_rs = collective_s("reduce_scatter", psi_e * q_grad, e_replicas, hw, tp * ep)["total_s"]
    e_ag = collective_s("all_gather", psi_e * q_param, e_replicas, hw, tp * ep)["total_s"]
    dp_total = np.where(zero == 0, grad_ar, grad_rs + param_ag) + e_rs + e_ag
    dp_total = np.where(replicas > 1, dp_total, 0.0)
    # gradients are reduced bucket by bucket during the last micro-batch's backward
    # (Megatron --overlap-grad-reduce); ZeRO-3 also gathers parameters every micro-batch
    dp_exposed = np.maximum(dp_total - t_b, 0.0) if dp_overlap else dp_total
    opt = training_algorithms().optimizer
    z3_gathers = opt.zero3_gathers_per_microbatch.si
    z3 = np.where((zero == 3) & (replicas > 1), m * np.maximum(z3_gathers * param_ag - (t_f + t_b), 0.0), 0.0)
    shard = np.where(zero >= 1, replicas, 1.0)
    local_params = psi / shard + psi_e / np.where(zero >= 1, e_replicas, 1.0)
    optimizer = stream_s(local_params * opt.adam_traffic_bytes_per_param.si, hw)

    compute = m * (t_fwd + t_bwd)
    parts = {
        "compute_s": compute,
        "recompute_s": m * recompute,
        "tp_comm_s": m * tp_s,
        "cp_comm_s": m * cp_s,
        "ep_comm_s": m * ep_s,
        "pp_comm_s": m * pp_s,
        "bubble_s": bubble,
        "dp_comm_exposed_s": dp_exposed + z3,
        "optimizer_s": optimizer,
        "overhead_s": m * stage_layers * overhead_per_mb_layer_s + overhead_per_step_s,
    }
    step_s = sum(parts.values())
    tokens = B * s
    chips = floats(plan.chips)
    model_flops = model_flops_per_token(model, s) * tokens
    attn_fwd = model.layers * attention_flops_per_token(model, s / 2) * tokens
    recompute_flops = np.where(rc == FULL, model_flops / 3.0, np.where(rc == SELECTIVE, attn_fwd, 0.0))
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
    )
