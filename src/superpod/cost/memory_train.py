"""Training memory per chip: weights, gradients, optimizer state, activations, logits.

Every function broadcasts over plan arrays (numpy, no Python branching on plan values);
the model is one scalar :class:`~superpod.spec.model.Model`. Bytes throughout.

Stage convention (formulas.md sec. 4.1, 4.4). A chip holds ``ceil(L/p)`` transformer
layers of one pipeline stage. The **first** stage also holds the input embedding (token
and learned-position tables); the **last** stage holds the LM head (or, with tied
embeddings and p > 1, Megatron's copy of the word embedding), the final norm and any
MTP modules. With p = 1 one stage holds all of them. The first stage holds the most
in-flight activations, the last stage the logits; :func:`training_memory` prices both
and reports the larger (the "worst stage"). Under DualPipe each end rank hosts stage 0
*and* stage p-1 (the 2x parameters of sec. 5), so it holds embedding and head together.
Layers are counted in index order for the dense/MoE mix of a stage, also for the
interleaved schedule (an approximation: the first rank really holds chunks 0, p, 2p ...).

>>> from superpod.spec.catalog import load_model
>>> from superpod.cost.plan import TrainPlan
>>> m = load_model("megatron-gpt-22b")
>>> float(activation_bytes_per_layer(m, 2048, 4, 8, 1, 1, 1)) == 34 * 2048 * 4 * 6144 / 8   # TP8+SP+selective
True
>>> total, parts = training_memory(m, TrainPlan.one(tp=8, micro_batch=4, sp=1, recompute=1, zero=0), 2048)
>>> round(float(parts["activations"][0]) / 2**30, 2)   # Korthikanti Figure 1: 9.56 GiB
9.56
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.hardware import BYTES
from superpod.cost.plan import DUALPIPE, FULL, GPIPE, INTERLEAVED, NO_RECOMPUTE, SELECTIVE, TrainPlan
from superpod.spec.model import Model

PARTS = ("weights", "gradients", "optimizer", "activations", "logits", "reserve")
Form = Literal["auto", "korthikanti", "modern"]



def _norm_params(model: Model) -> int:
    return 2 * model.hidden if model.norm == "layernorm" else model.hidden


def _layer_split(model: Model, pp):
    """Layers per stage ``ceil(L/p)`` and MoE layers among the first and last stage's."""
    L = model.layers
    cum = np.concatenate([[0], np.cumsum([model.is_moe_layer(i) for i in range(L)])]).astype(np.int64)
    lps = np.minimum(-(-L // np.maximum(np.asarray(pp, dtype=np.int64), 1)), L)
    return lps, cum[lps], cum[L] - cum[L - lps]


def _mtp_split(model: Model, include_mtp: bool) -> tuple[int, int, bool]:
    """MTP parameters (non-expert, expert) and whether its FFN is MoE (formulas.md sec. 2.5)."""
    if not (include_mtp and model.mtp_layers):
        return 0, 0, False
    moe = model.is_moe_layer(model.layers - 1)
    ex = model.mtp_layers * model.experts * model.layer_params()["expert"] if moe else 0
    return model.mtp_params - ex, ex, moe


def _stage_params(model: Model, tp, pp, ep, include_mtp: bool = True):
    """Parameters per chip of the first and last stage, split non-expert (/t) and expert
    (/ep), plus the largest single unit (one layer or the embedding) for ZeRO-3 gathering."""
    u, h = model.layer_params(), model.hidden
    t, p, e = floats(tp), np.asarray(pp), floats(ep)
    dense_ne = u["attention"] + u["norms"] + u["dense_mlp"]
    moe_ne = u["attention"] + u["norms"] + u["shared"] + u["router"]
    moe_ex = model.experts * u["expert"]
    emb = u["embedding"] + _norm_params(model) * model.embedding_norm
    head_last = u["lm_head"] if not model.tied_embeddings else np.where(p > 1, model.vocab * h, 0)
    tail = head_last + _norm_params(model)  # LM head (or tied copy) + final norm
    mtp_ne, mtp_ex, _ = _mtp_split(model, include_mtp)
    lps, moe_f, moe_l = _layer_split(model, p)
    one = p == 1
    first_ne = (lps - moe_f) * dense_ne + moe_f * moe_ne + emb + np.where(one, tail + mtp_ne, 0)
    last_ne = (lps - moe_l) * dense_ne + moe_l * moe_ne + tail + mtp_ne + np.where(one, emb, 0)
    first_ex = moe_f * moe_ex + np.where(one, mtp_ex, 0)
    last_ex = moe_l * moe_ex + mtp_ex
    units = [emb / t, u["lm_head"] / t]
    if model.dense_layers:
        units.append(dense_ne / t)
    if model.moe_layers:
        units.append(moe_ne / t + moe_ex / e)
    unit = np.maximum.reduce(np.broadcast_arrays(*units))
    # DualPipe end rank: stages 0 and p-1 together, one shared copy of tied embeddings
    dual_ne = first_ne + last_ne - np.where(one, first_ne, 0) - (0 if not model.tied_embeddings else head_last)
    dual_ex = first_ex + last_ex - np.where(one, first_ex, 0)
    return (first_ne / t, first_ex / e), (last_ne / t, last_ex / e), (dual_ne / t, dual_ex / e), unit


def weight_bytes_per_chip(model: Model, tp, pp, ep, bytes_per_param, *, include_mtp: bool = True) -> np.ndarray:
    """Weight bytes on the worst pipeline stage (formulas.md sec. 4.1).

    ``M_w = (N_nonexpert/(t*p) + N_expert/(ep*p)) * q_w``, expert TP = 1: non-expert
    parameters (attention, norms, dense FFN, shared experts, router, embedding, head) are
    split by TP, routed experts by EP, and each stage holds ``ceil(L/p)`` layers. The
    first stage adds the embedding, the last the LM head (tied: its copy when p > 1), the
    final norm and MTP modules; the larger of the two is returned. DualPipe's 2x is not
    applied here (see :func:`inflight_microbatches` and :func:`training_state_bytes`).
    """
    (fn, fe), (ln, le), _, _ = _stage_params(model, tp, pp, ep, include_mtp)
    return np.maximum(fn + fe, ln + le) * floats(bytes_per_param)


def _state(ne, ex, unit, plan: TrainPlan, q_w, q_g, q_opt) -> dict[str, np.ndarray]:
    """ZeRO stage formulas (formulas.md sec. 4.2) for one chip's shard."""
    z = np.asarray(plan.zero)
    d_ne = floats(plan.dp) * plan.cp  # Megatron reduces and shards over DP x CP
    d_ex = np.maximum(floats(plan.tp) * plan.dp * plan.cp / (plan.ep * plan.etp), 1.0)  # expert-DP group (folding)

    def sharded(stage):  # parameters per chip after dividing by the DP group from that ZeRO stage on
        return ne / np.where(z >= stage, d_ne, 1.0) + ex / np.where(z >= stage, d_ex, 1.0)

    gathered = np.where(z >= 3, unit * (1.0 - 1.0 / d_ne), 0.0)  # ZeRO-3: one gathered layer
    return {"weights": q_w * (sharded(3) + gathered), "gradients": q_g * sharded(2), "optimizer": q_opt * sharded(1)}


def _stage_states(model, plan, q_w, q_g, q_opt, include_mtp):
    first, last, both, unit = _stage_params(model, plan.tp, plan.pp, floats(plan.ep) * plan.etp, include_mtp)
    dual = (np.asarray(plan.schedule) == DUALPIPE) & (np.asarray(plan.pp) > 1)
    ne, ex = np.where(dual, both[0], first[0]), np.where(dual, both[1], first[1])
    a = _state(ne, ex, unit, plan, q_w, q_g, q_opt)
    b = _state(np.where(dual, ne, last[0]), np.where(dual, ex, last[1]), unit, plan, q_w, q_g, q_opt)
    return a, b


def _worst(a: dict, b: dict) -> dict[str, np.ndarray]:
    """Per plan, the parts of whichever stage has the larger total (parts stay consistent)."""
    pick_b = sum(b.values()) > sum(a.values())
    return {k: np.where(pick_b, b[k], a[k]) for k in a}


def training_state_bytes(model: Model, plan: TrainPlan, master_bytes: float = BYTES["fp32"], *,
                         weight_bytes: float = BYTES["bf16"], grad_bytes: float = BYTES["bf16"],
                         moment_bytes: float = BYTES["fp32"], include_mtp: bool = True) -> dict[str, np.ndarray]:
    """Weights, gradients and optimizer bytes per chip on the worst stage (formulas.md sec. 4.2).

    Mixed-precision Adam: ``weight_bytes`` (2) + ``grad_bytes`` (2) + optimizer
    ``master_bytes + 2*moment_bytes`` (12) = 16 B/param [Rajbhandari et al., arXiv
    1910.02054]. For a shard of Psi parameters over a DP group of d ranks:

    * ZeRO-0: 16 Psi;  ZeRO-1: 4 Psi + 12 Psi/d;  ZeRO-2: 2 Psi + 14 Psi/d;
    * ZeRO-3: 16 Psi/d + one gathered unit (the largest layer or embedding shard) times
      (1 - 1/d), the part of it not already resident.

    Megatron's distributed optimizer is ZeRO-1 with FP32 gradients: ``grad_bytes=4``
    gives 6 + 12/d B/param (its "18 -> 6 + 12/d"). Non-expert parameters shard over the
    DP x CP group (Megatron's gradient group includes CP); routed experts over the
    expert-DP group ``t*d*c/ep`` (expert TP = 1, at least 1). Under DualPipe (p > 1) the
    end rank holds the first and the last stage. ``plan.fp8`` does not change these
    bytes (FP8 GEMMs keep BF16/FP32 weights and FP32 master copies).
    """
    q_opt = master_bytes + 2 * moment_bytes
    a, b = _stage_states(model, plan, weight_bytes, grad_bytes, q_opt, include_mtp)
    return {k: np.broadcast_to(v, np.broadcast_shapes(plan.shape, v.shape)) for k, v in _worst(a, b).items()}


def _use_korthikanti(model: Model, form: Form) -> bool:
    if form not in ("auto", "korthikanti", "modern"):
        raise ValueError(f"form must be 'auto', 'korthikanti' or 'modern', not {form!r}")
    return form == "korthikanti" or (form == "auto" and model.attention == "mha" and model.activation != "swiglu")


def discarded_elements(model: Model, moe_layer: bool, modules, tp) -> tuple[float, np.ndarray]:
    """Elements per token (unsplit, split over TP) that selective recompute of ``modules`` (Megatron-Core's
    ``--recompute-modules``, :mod:`superpod.training.recompute`) does not keep for the backward, of the
    tensors :func:`activation_bytes_per_layer` counts ("output discarding": a module's outputs are dropped
    and re-run, its input kept): ``mla_up_proj`` the up-projected Q, K and V (``n_q (2 d_qk + d_v)``, split);
    ``mlp`` a dense layer's MLP internals (``3 f`` SwiGLU, split); ``moe_act`` the routed experts' activation
    output (``k f_e``); ``shared_experts`` their internals (``3 f_s``); ``moe`` both experts' internals (the received rows are
    kept: the recompute does not re-send the dispatch);
    ``layernorm`` the two norm outputs (``2 h``, unsplit); ``core_attn`` nothing here (FlashAttention keeps
    no score matrix; the s^2 term of unfused attention is dropped by any selective recompute)."""
    t = floats(tp)
    mods = set(modules or ())
    mats = 3 if model.activation == "swiglu" else 2
    unsplit, split = 0.0, 0.0 * t
    if "layernorm" in mods:
        unsplit += 2.0 * model.hidden
    if "mla_up_proj" in mods and model.mla is not None:
        a = model.mla
        split = split + model.heads * (2 * (a.qk_nope_head_dim + a.qk_rope_head_dim) + a.v_head_dim) / t
    if not (model.moe is not None and moe_layer):
        if "mlp" in mods:
            split = split + mats * model.ffn / t
        return unsplit, split
    m = model.moe
    routed = m.top_k * mats * m.expert_ffn  # the received rows stay: the recompute does not re-send the dispatch
    shared = mats * m.shared_experts * m.shared_ffn
    if "moe" in mods:
        return unsplit, split + (routed + shared) / t
    if "moe_act" in mods:
        split = split + m.top_k * m.expert_ffn / t
    if "shared_experts" in mods:
        split = split + shared / t
    return unsplit, split


def activation_bytes_per_layer(model: Model, seq_len, micro_batch, tp, sp, cp, recompute, *, act_bytes: float = BYTES["bf16"],
                               moe_layer: bool | None = None, form: Form = "auto", modules=None) -> np.ndarray:
    """Stored activation bytes of one transformer layer for one micro-batch, per chip
    (formulas.md sec. 4.3; Korthikanti et al., arXiv 2205.05198, Table 2).

    Both forms count the tensors saved for backward per token. Unsplit (replicated across
    TP unless SP is on, then /t): the two norm inputs, the QKV and MLP inputs (4h
    elements; MLA adds its latents 2 r_q + 2 r_kv + d_rope). Split across TP heads: Q and
    the attention output (2 h_q), K and V (2 h_kv, at least one KV head per rank), and the
    MLP: GeLU 2f, SwiGLU 3f, MoE ``k(h + 3 f_e) + 3 f_s`` (plus E router logits, unsplit).
    Each element takes ``act_bytes``.

    * ``form="korthikanti"`` (auto for MHA with a GeLU/ReLU MLP, i.e. the GPT/Megatron
      catalog rows): adds the two 1-byte dropout masks (2h, unsplit) and the materialised
      softmax, its dropout mask and dropout output, ``(2 q_a + 1) a s`` per token (split).
      With f = 4h, MHA, q_a = 2 this is exactly Table 2: ``sbh(10 + 24/t + 5as/(ht))``,
      ``sbh/t (34 + 5as/h)`` with SP, and ``34 sbh/t`` with SP + selective recompute.
    * ``form="modern"`` (auto otherwise): no dropout, FlashAttention (no s^2 term),
      RMSNorm, SwiGLU: ``q_a (4h + 2h_q + 2h_kv + 3f)`` per token, /t with SP. [D]

    ``recompute``: 0 none; 1 selective drops the s^2 term (nothing to drop in the modern
    form); 2 full keeps only the layer input ``q_a h`` per token (/t with SP). The
    transient working set of the one layer being recomputed is not counted (as in the
    paper; it belongs to the framework reserve, sec. 4.6). CP: each rank holds s/c tokens;
    the s^2 term is (s/c) local queries times the full context s. ``moe_layer``: price an
    MoE layer (default: MoE if the model has experts). ``modules``: what selective recompute re-runs
    (Megatron-Core's ``--recompute-modules``; None: the attention core): their outputs are not kept
    (:func:`discarded_elements`).
    """
    k_form = _use_korthikanti(model, form)
    s, b, t, c = floats(seq_len), floats(micro_batch), floats(tp), floats(cp)
    seq_div = np.where(np.asarray(sp) != 0, t, 1.0)
    rc = np.asarray(recompute)
    h, qa = model.hidden, act_bytes
    mlp_mats = 3 if model.activation == "swiglu" else 2
    unsplit = 4.0 * h
    if model.mla is not None:
        a = model.mla
        unsplit += 2 * (a.q_lora_rank or 0) + 2 * a.kv_lora_rank + a.qk_rope_head_dim
        split = 2 * model.heads * (model.head_dim + a.v_head_dim) / t
    else:
        kv_heads = model.kv_heads_per_rank(t)
        split = 2 * model.heads * model.head_dim / t + 2 * kv_heads * model.head_dim
    moe = model.moe is not None if moe_layer is None else (moe_layer and model.moe is not None)
    if moe:
        m = model.moe
        split = split + (m.top_k * (h + mlp_mats * m.expert_ffn) + mlp_mats * m.shared_experts * m.shared_ffn) / t
        unsplit += m.experts
    else:
        split = split + mlp_mats * model.ffn / t
    if modules is not None:
        d_un, d_split = discarded_elements(model, moe, modules, t)
        keep = rc == SELECTIVE
        unsplit = unsplit - np.where(keep, d_un, 0.0)
        split = split - np.where(keep, d_split, 0.0)
    per_token = qa * (unsplit / seq_div + split)
    if k_form:
        per_token = per_token + 2.0 * h / seq_div  # attention and MLP dropout masks, 1 byte each
        s2 = (2 * qa + 1) * model.heads * s / t  # softmax, its dropout mask and dropout output
        per_token = per_token + np.where(rc == NO_RECOMPUTE, s2, 0.0)  # ops (3): as selective, the s^2 term dropped
    per_token = np.where(rc == FULL, qa * h / seq_div, per_token)
    return per_token * b * s / c


def inflight_microbatches(schedule, pp, m, vpp, stage=0) -> tuple[np.ndarray, np.ndarray]:
    """Micro-batches of activations (in units of one stage's L/p layers) that pipeline
    stage ``stage`` (0-based, default the first) holds at its peak, and the parameter
    multiplier of the schedule (formulas.md sec. 4.4, 5; arXiv 2205.05198 sec. 4.2.3).

    * GPipe (0): m.  1F1B (1) and ZB-H1 (3): ``min(p - i, m)``, so the first stage holds L
      layers' worth whatever p is.
    * Interleaved (2), v = vpp > 1: Megatron warms up ``2(p-i-1) + (v-1)p`` chunks of L/(pv)
      layers, so ``min(m v, 2(p-i-1) + (v-1)p + 1)/v``; at i = 0 this is
      ``p (1 + (p-1)/(p v))``, Korthikanti's factor. With v = 1 it is 1F1B.
    * DualPipe (4): ``min(p + 1, m)`` on every rank (DeepSeek-V3 Table 2 "PP+1"), and 2x
      parameters (each rank hosts stages i and p-1-i).
    """
    s, p, mb, i = np.asarray(schedule), floats(pp), floats(m), floats(stage)
    v = np.maximum(floats(vpp), 1.0)
    one_f = np.minimum(p - i, mb)
    inter = np.where(v > 1, np.minimum(mb * v, 2 * (p - i - 1) + (v - 1) * p + 1) / v, one_f)
    inflight = np.select([s == GPIPE, s == INTERLEAVED, s == DUALPIPE], [mb, inter, np.minimum(p + 1, mb)], one_f)
    inflight, mult = np.broadcast_arrays(inflight, np.where(s == DUALPIPE, 2, 1))
    return inflight, mult


def training_memory(model: Model, plan: TrainPlan, seq_len, reserve_bytes=0, *, act_bytes: float = BYTES["bf16"],
                    logits_bytes: float = BYTES["fp32"], master_bytes: float = BYTES["fp32"],
                    weight_bytes: float = BYTES["bf16"], grad_bytes: float = BYTES["bf16"],
                    moment_bytes: float = BYTES["fp32"], include_mtp: bool = True, form: Form = "auto",
                    recompute_modules=None, offload_keep_layers=None):
    """Peak memory per chip of a training plan on its worst pipeline stage.

    Returns ``(total_bytes, parts)``; ``parts`` holds ``weights``, ``gradients``,
    ``optimizer`` (:func:`training_state_bytes`, sec. 4.2), ``activations`` (per-layer
    bytes from :func:`activation_bytes_per_layer` times the stage's layers times
    :func:`inflight_microbatches`, sec. 4.3-4.4), ``logits`` and ``reserve``
    (``reserve_bytes``, sec. 4.6), and they sum exactly to the total.

    Logits: the last stage keeps ``logits_bytes * b * (s/c) * V / t`` (FP32, vocab-parallel
    cross entropy as in Megatron; Korthikanti's 4sbV/t term), once per micro-batch in flight
    at that stage (m under GPipe, else 1), times (1 + MTP depth) with MTP. Both the first
    stage (most activations, the embedding) and the last stage (logits, head) are priced
    and the larger total is reported with its own parts. Under DualPipe the end rank holds
    both stages' weights and (p+1) micro-batches of their mean activations. ``recompute_modules``:
    what selective recompute re-runs (:func:`activation_bytes_per_layer`). ``offload_keep_layers``:
    activation offloading to host memory keeps at most that many layers' activations of one micro-batch
    in HBM (the layer being computed and the one being copied; :mod:`superpod.training.offload`).
    """
    first_s, last_s = _stage_states(model, plan, weight_bytes, grad_bytes, master_bytes + 2 * moment_bytes, include_mtp)
    p, b, t, c = np.asarray(plan.pp), floats(plan.micro_batch), floats(plan.tp), floats(plan.cp)
    args = (model, seq_len, b, t, plan.sp, c, plan.recompute)
    act_d = activation_bytes_per_layer(*args, act_bytes=act_bytes, moe_layer=False, form=form, modules=recompute_modules)
    act_m = activation_bytes_per_layer(*args, act_bytes=act_bytes, moe_layer=True, form=form, modules=recompute_modules)
    lps, moe_f, moe_l = _layer_split(model, p)
    _, _, mtp_moe = _mtp_split(model, include_mtp)
    mtp_depth = model.mtp_layers if include_mtp else 0
    per_mb_last = (lps - moe_l) * act_d + moe_l * act_m + mtp_depth * (act_m if mtp_moe else act_d)
    per_mb_first = np.where(p == 1, per_mb_last, (lps - moe_f) * act_d + moe_f * act_m)
    sched = np.asarray(plan.schedule)
    dual = (sched == DUALPIPE) & (p > 1)
    inf_first, _ = inflight_microbatches(sched, p, plan.micro_batches, plan.vpp, 0)
    inf_last, _ = inflight_microbatches(sched, p, plan.micro_batches, plan.vpp, p - 1)
    act_first = inf_first * np.where(dual, (per_mb_first + per_mb_last) / 2, per_mb_first)
    act_last = np.where(dual, act_first, inf_last * per_mb_last)
    if offload_keep_layers is not None:  # the rest sits in host memory
        keep = floats(offload_keep_layers)
        act_first = np.minimum(act_first, keep * per_mb_first / np.maximum(lps, 1))
        act_last = np.minimum(act_last, keep * per_mb_last / np.maximum(lps, 1))
    logits = logits_bytes * b * floats(seq_len) / c * model.vocab / t * (1 + mtp_depth)
    logits = logits * np.where(sched == GPIPE, floats(plan.micro_batches), 1.0)
    reserve = floats(reserve_bytes)
    first = first_s | {"activations": act_first, "logits": np.where((p == 1) | dual, logits, 0.0), "reserve": reserve}
    last = last_s | {"activations": act_last, "logits": logits, "reserve": reserve}
    parts = _worst(first, last)
    total = parts["weights"] + parts["gradients"] + parts["optimizer"] + parts["activations"] + parts["logits"]
    total = total + parts["reserve"]
    shape = np.broadcast_shapes(plan.shape, np.shape(total))  # read-only views, no copies
    return np.broadcast_to(total, shape), {k: np.broadcast_to(floats(parts[k]), shape) for k in PARTS}
