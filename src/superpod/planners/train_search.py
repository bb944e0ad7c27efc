"""Best training plans: every valid TP/SP/PP/schedule/DP-ZeRO/EP/CP/micro-batch/recompute
combination priced at once as one open numpy grid, infeasible ones dropped, the rest ranked.

Rules (each a boolean array over the grid): DP = chips / (TP x PP x CP) is whole; TP
divides the heads and (GQA) the KV heads or is a multiple of them; EP divides the
experts, and ETP x EP divides TP x CP x DP (Megatron's MoE parallel folding: the
expert layers are laid ETP, EP, expert-DP over the same ranks as attention's TP, CP, DP);
the global batch splits into whole micro-batches per DP rank; CP
splits the sequence into 2 x CP chunks; interleaving needs 1 < VPP <= layers / PP and
micro-batches a multiple of PP; DualPipe an even PP; and the plan fits in HBM after the
framework reserve. Ranked by tokens/s, ties broken by memory headroom.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from superpod.cost.hardware import Hardware
from superpod.cost.memory import training_memory
from superpod.cost.plan import (CP_MAX, DUALPIPE, FULL, GPIPE, INTERLEAVED, NO_RECOMPUTE, ONE_F_ONE_B, PP_MAX, SELECTIVE, TP_MAX,
                                ZERO_BUBBLE, TrainPlan,
                                cp_splits_sequence, powers_of_two, tp_splits_heads)
from superpod.errors import DoesNotFitError, InvalidOptionError, NoFeasiblePlanError, SuperpodError
from superpod.spec.catalog import load_chip
from superpod.spec.chip import Chip
from superpod.spec.model import Model
from superpod.training.framework import framework as get_framework
from superpod.training.host import parse_graph_scope
from superpod.training.kernels import handle as kernel_handle
from superpod.training.power import compute_fraction, power_limit_w as limit_of
from superpod.training.recompute import parse_modules
from superpod.training.mechanisms import MECHANISMS
from superpod.training.offload import KEEP_LAYERS
from superpod.training.step import RECIPES, StepResult, step

#: the plan settings a user can fix (the rest are searched)
FIELDS = ("tp", "pp", "dp", "ep", "etp", "cp", "sp", "vpp", "micro_batch", "zero", "recompute", "schedule")

def _divisors(n: int, cap: int) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def candidates(model: Model, chips: int, fixed: dict[str, Any], allowed: dict[str, list] | None = None) -> dict[str, list]:
    """Candidate values per field; a field the user fixed has exactly that value; ``allowed``
    (codes) narrows a field to what the framework implements."""
    tp = [d for d in _divisors(model.heads, TP_MAX) if d <= chips]
    # stages may be uneven (the slowest holds ceil(L/pp) layers), so PP need not divide L
    pp_cap = min(model.layers, PP_MAX)
    pp = sorted({p for p in powers_of_two(pp_cap) if p <= chips} | {d for d in _divisors(chips, pp_cap)})
    ep = [1] if model.moe is None else [e for e in _divisors(model.moe.experts, model.moe.experts) if e <= chips]
    cand = {
        "tp": tp,
        "pp": pp,
        "cp": [c for c in powers_of_two(CP_MAX) if c <= chips],
        "ep": ep,
        # expert TP is searched at 1 (whole experts; both public folding layouts, training.md 7.1-7.2, run ETP1);
        # a pinned --etp is priced as given. EP still folds over TP: EP need not divide DP x CP.
        "etp": [1],
        "sp": [0, 1],
        "micro_batch": [1, 2, 4, 8],
        "zero": [1, 2, 3],
        "recompute": [NO_RECOMPUTE, SELECTIVE, FULL],
    }
    allowed = allowed or {}
    for k, ok in allowed.items():
        if k in cand:
            cand[k] = [x for x in cand[k] if x in ok] or list(ok)
    for k, v in fixed.items():
        if k in cand and v is not None:
            cand[k] = [v]
    # schedule and virtual stages vary together: only interleaving has VPP > 1
    pairs = [(GPIPE, 1), (ONE_F_ONE_B, 1), (ZERO_BUBBLE, 1), (DUALPIPE, 1)] + [(INTERLEAVED, v) for v in (2, 3, 4, 6)]
    if "schedule" in allowed:
        pairs = [p for p in pairs if p[0] in allowed["schedule"]]
    if fixed.get("schedule") is not None:
        pairs = [p for p in pairs if p[0] == fixed["schedule"]]
    if fixed.get("vpp") is not None:
        pairs = [p for p in pairs if p[1] == fixed["vpp"]] or [(fixed.get("schedule", INTERLEAVED), fixed["vpp"])]
    cand["schedule_vpp"] = pairs
    return cand


def _codes(fixed: dict[str, Any]) -> dict[str, Any]:
    return {k: (TrainPlan.code(k, v) if k in ("recompute", "schedule", "sp") and v is not None else v)
            for k, v in fixed.items()}


@dataclass(frozen=True)
class Grid:
    """The open plan grid with the derived DP and micro-batch count, and its validity mask."""

    plan: TrainPlan
    valid: np.ndarray
    reasons: dict[str, np.ndarray]


def build_grid(model: Model, chips: int, seq_len: int, global_batch: int, fixed: dict[str, Any], fp8: int,
               allowed: dict[str, list] | None = None) -> Grid:
    fixed = _codes(fixed)
    cand = candidates(model, chips, fixed, allowed)
    pairs = cand.pop("schedule_vpp")
    g = TrainPlan.grid(joint={("schedule", "vpp"): pairs}, dp=1, fp8=int(fp8), micro_batches=1, **cand)
    tp, pp, cp, ep, etp = g.tp, g.pp, g.cp, g.ep, g.etp
    div = tp * pp * cp
    dp = np.where(chips % div == 0, chips // np.maximum(div, 1), 0)
    if fixed.get("dp") is not None:
        dp = np.where(dp == fixed["dp"], dp, 0)
    b = g.micro_batch
    per_rank = dp * b
    m = np.where((dp > 0) & (global_batch % np.maximum(per_rank, 1) == 0), global_batch // np.maximum(per_rank, 1), 0)
    plan = replace(g, dp=np.maximum(dp, 1), micro_batches=np.maximum(m, 1))
    kv = model.kv_heads
    s = g.schedule
    reasons = {
        "chips = TP x PP x CP x DP": dp > 0,
        "TP divides the attention heads (and KV heads)": tp_splits_heads(model.heads, kv, tp),
        "global batch splits into whole micro-batches per DP rank": (m > 0) | (dp == 0),
        "CP splits the sequence into 2 x CP chunks": cp_splits_sequence(seq_len, cp),
        "EP divides the experts and ETP x EP divides TP x CP x DP": ((ep == 1) & (etp == 1)) | (
            (dp > 0) & ((tp * cp * dp) % (ep * etp) == 0)),
        "interleaving needs 1 < VPP <= layers/PP and micro-batches a multiple of PP": np.where(
            s == INTERLEAVED, (g.vpp > 1) & (g.vpp * pp <= model.layers) & (m % pp == 0), g.vpp == 1),
        "DualPipe needs an even PP and at least PP micro-batches": (s != DUALPIPE) | ((pp % 2 == 0) & (m >= pp)),
        "one schedule per PP = 1 and SP only with TP > 1": ((pp > 1) | (s == ONE_F_ONE_B)) & ((tp > 1) | (g.sp == 0)),
    }
    if model.moe is not None:
        reasons["EP divides the experts and ETP x EP divides TP x CP x DP"] &= model.moe.experts % ep == 0
    valid = np.ones(plan.shape, dtype=bool)
    for r in reasons.values():
        valid = valid & r
    return Grid(plan=plan, valid=valid, reasons=reasons)


def check_precision(hw: Hardware, precision: str) -> int:
    """The recipe code of ``precision``; a chip without the units it needs is refused, never downgraded.

    FP8 needs FP8 units; MXFP8 (OCP micro-scaling, per-32 block scales in hardware) and NVFP4
    need the FP4 generation (Blackwell, MI355X, Ascend 950 and later: chips with FP4 units).
    """
    if precision not in RECIPES:
        raise InvalidOptionError(f"--precision must be one of {', '.join(RECIPES)}, got {precision!r}")
    if precision != "bf16":
        hw.peak("fp8" if precision != "fp4" else "fp4")
    if precision == "mxfp8":
        hw.peak("fp4", fix=f"MXFP8 training needs block-scaled (MX) GEMM units, which come with FP4 units; use --precision fp8")
    return RECIPES.index(precision)


@dataclass
class SearchResult:
    plans: list[dict[str, Any]]  # best first
    evaluated: int
    feasible: int
    seconds: float
    forward_s: list[float] | None = None  # forward share of each plan's compute_s (traces)
    power_limit_w: float | None = None  # board power limit the chips run at (their tdp_w unless given)
    compute_fraction: float = 1.0  # share of the dense peaks sustained at that limit (training.power)
    dispatcher: str | None = None  # MoE token dispatcher priced (None: dense model)


def _gather(x, shape, i: int):
    """Entry ``i`` (flat order) of an array broadcast to the grid's shape, without copying."""
    return np.broadcast_to(x, shape)[np.unravel_index(i, shape)]


def search(model: Model, hw: Hardware, seq_len: int, global_batch: int, fixed: dict[str, Any] | None = None,
           top: int = 1, fp8: bool = False, framework: str = "megatron", precision: str | None = None,
           power_limit_w: float | None = None, chip: Chip | None = None, dispatcher: str | None = None,
           recompute_modules=None, routing: str = "balanced", cuda_graph_scope=None,
           offload_activations: tuple[float, float] | None = None) -> SearchResult:
    """The ``top`` fastest feasible plans for ``global_batch`` sequences of ``seq_len`` tokens.

    ``power_limit_w``: the board power limit (default the chip's ``tdp_w``); compute runs at
    the share of the peaks the chip's ``power_curve`` gives there (:mod:`superpod.training.power`),
    MFU stays against the nameplate peak. ``chip``: the system's chip spec (default: by name).
    ``dispatcher``: the MoE token dispatcher (default the framework's, :mod:`superpod.training.dispatch`).
    ``recompute_modules``: Megatron-Core's ``--recompute-modules`` (``"mlp mla_up_proj"`` or a list): what
    selective recompute re-runs (:mod:`superpod.training.recompute`); pins ``recompute`` to selective.
    ``routing``: ``balanced`` (force-balanced) or ``random`` expert loads (:func:`superpod.training.dispatch.routing_skew`).
    ``cuda_graph_scope``: Megatron-Core's ``--cuda-graph-scope`` (``"attn moe_router"`` or a list): the parts of an
    eager stack's layers replayed from CUDA graphs (:mod:`superpod.training.host`).
    ``offload_activations``: ``(link_Bps, host_bytes)`` per chip: activations offloaded to host memory over a link
    of that rate per direction, at most ``host_bytes`` of them (:mod:`superpod.training.offload`); None: kept in HBM.
    """
    t0 = time.perf_counter()
    if chip is None:
        try:
            chip = load_chip(hw.chip)
        except SuperpodError:  # a chip from a user's file, known here by name only: no power curve to read
            if power_limit_w is not None:
                raise InvalidOptionError(f"--power-limit-w needs the chip spec of {hw.chip} (pass chip=)") from None
    frac = compute_fraction(chip, power_limit_w) if chip is not None else 1.0
    run_hw = hw if frac == 1.0 else hw.scaled(peak=frac)
    fw = get_framework(framework)
    if cuda_graph_scope is not None:
        scope = parse_graph_scope(cuda_graph_scope, model)
        if fw.host_ops is None:
            raise InvalidOptionError(f"--cuda-graph-scope: framework {fw.name} prices no eager launches (nothing to capture)")
        fw = fw.model_copy(update={"host_ops": fw.host_ops.model_copy(update={"graph_scope": scope})})
    precision = precision or ("fp8" if fp8 else "bf16")
    code = check_precision(hw, precision)
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    if recompute_modules is not None:
        recompute_modules = parse_modules(recompute_modules, model)
        if fixed.get("recompute", "selective") != "selective":
            raise InvalidOptionError(f"--recompute-modules runs under selective recompute (Megatron-Core's "
                                     f"--recompute-granularity selective), not recompute={fixed['recompute']}")
        fixed["recompute"] = "selective"
    for k in ("ep", "etp"):
        if model.moe is None and fixed.get(k, 1) != 1:  # never ignore a degree that cannot apply
            raise InvalidOptionError(f"{k}={fixed[k]} needs an MoE model: {model.name} is dense (no experts to spread)")
    allowed = {k: [TrainPlan.code(k, x) for x in v] for k, v in fw.allowed().items()}
    for k, ok in allowed.items():  # a setting the stack does not implement is refused, never replaced
        if k in fixed and TrainPlan.code(k, fixed[k]) not in ok:
            names = fw.allowed()[k]
            raise InvalidOptionError(f"framework {fw.name} does not implement {k}={fixed[k]}; it runs {k} in "
                                     f"{', '.join(str(n) for n in names)}")
    grid = build_grid(model, hw.n_chips, seq_len, global_batch, fixed, code, allowed)
    plan = grid.plan
    res = step(model, run_hw, plan, seq_len, global_batch, fw.overhead_per_microbatch_layer_s.si, attention_impl=fw.attention,
               overhead_per_step_s=fw.overhead_per_step_s.si, cp_overlap=fw.cp_overlap, tp_bwd_overlap=fw.tp_bwd_overlap,
               dp_overlap=fw.dp_overlap, grad_reduce_dtype=fw.grad_reduce_dtype, dispatcher=dispatcher or fw.dispatcher,
               elementwise_passes=fw.elementwise_passes, kernels=kernel_handle(hw, fw.kernels), compute_fraction=frac,
               attention_utilisation=_attention_utilisation(fw, hw), host_ops=fw.host_ops,
               pp_layout=fw.pp_layout, recompute_modules=recompute_modules, expert_flops=fw.expert_flops,
               routing=routing, fp8_dispatch=fw.fp8_dispatch,
               offload_Bps=offload_activations[0] if offload_activations is not None else None)
    if run_hw is not hw:
        res = replace(res, peak_flops=hw.peak("bf16"))  # utilisation against the nameplate peak
    need, parts = training_memory(model, plan, seq_len, fw.reserve_bytes.si, recompute_modules=recompute_modules,
                                  offload_keep_layers=KEEP_LAYERS if offload_activations is not None else None)
    ok = grid.valid & (need <= hw.hbm_bytes)
    if offload_activations is not None:  # what left HBM must fit in the host memory a chip may use
        kept, _ = training_memory(model, plan, seq_len, fw.reserve_bytes.si, recompute_modules=recompute_modules)
        ok = ok & (kept - need <= offload_activations[1])
    shape = plan.shape
    evaluated = int(np.prod(shape))
    idx = np.flatnonzero(np.broadcast_to(ok, shape))
    feasible = int(idx.size)
    if feasible == 0:
        raise (DoesNotFitError if grid.valid.any() else NoFeasiblePlanError)(explain_infeasible(model, hw, grid, need, fixed))
    where = np.unravel_index(idx, shape)  # read only the feasible entries of each broadcast array
    step_sel = np.broadcast_to(res.step_s, shape)[where]
    head = hw.hbm_bytes - np.broadcast_to(need, shape)[where]
    order = np.lexsort((-head, step_sel))[:top]  # fastest first, then most memory headroom
    plans = [_record(plan, res, need, parts, hw, shape, int(i)) for i in idx[order]]
    fwd = [float(_gather(res.forward_s, shape, int(i))) for i in idx[order]]
    return SearchResult(plans=plans, evaluated=evaluated, feasible=feasible, seconds=time.perf_counter() - t0, forward_s=fwd,
                        power_limit_w=limit_of(chip, power_limit_w) if chip is not None else None, compute_fraction=frac,
                        dispatcher=(dispatcher or fw.dispatcher) if model.moe is not None else None)


def _attention_utilisation(fw, hw: Hardware) -> float | None:
    q = (fw.attention_utilisation or {}).get(hw.kernels.name)
    return None if q is None else q.si


def _record(plan: TrainPlan, res: StepResult, need, parts, hw: Hardware, shape, i: int) -> dict[str, Any]:
    row = plan.row(i)
    row.pop("fp8")
    # the rates of plan i only (the StepResult properties would compute them for every plan)
    step_s = float(_gather(res.step_s, shape, i))
    chips = float(_gather(res.chips, shape, i))
    model_flops = float(_gather(res.model_flops, shape, i))
    flops = model_flops / step_s / chips
    mb = row.pop("micro_batches")
    out = {
        "plan": row | {"micro_batches": mb, "precision": RECIPES[int(_gather(plan.fp8, shape, i))]},
        "step_s": step_s,
        "tokens_per_s": res.tokens / step_s,
        "tflops_per_chip": flops / 1e12,
        "mfu": flops / res.peak_flops,
        "hfu": (model_flops + float(_gather(res.recompute_flops, shape, i))) / step_s / chips / res.peak_flops,
        "memory_per_chip_bytes": float(_gather(need, shape, i)),
        "memory_breakdown_bytes": {k: float(_gather(v, shape, i)) for k, v in parts.items()},
        "breakdown": {k: float(_gather(v, shape, i)) for k, v in res.breakdown.items()},
    }
    if res.mechanisms:
        out["mechanisms"] = mechanism_record(res, hw, shape, i)
    out["tokens_per_s_per_chip"] = out["tokens_per_s"] / hw.n_chips
    return out


def mechanism_record(res: StepResult, hw: Hardware, shape, i: int) -> dict[str, dict[str, Any]]:
    """Plan ``i``'s time per mechanism: exposed seconds per step (the breakdown's), the seconds
    its transfers take before overlap (``wire_s``), the part hidden and the fabric tier it runs on."""
    out = {}
    for key, label, part in MECHANISMS:
        exposed = float(_gather(res.breakdown[part], shape, i))
        m = res.mechanisms.get(key)
        row: dict[str, Any] = {"label": label, "exposed_s": exposed}
        if m is not None and key != "recompute":
            wire = float(_gather(m["wire_s"], shape, i))
            t = int(_gather(m["tier"], shape, i))
            row |= {"wire_s": wire, "hidden_s": max(wire - exposed, 0.0), "tier": hw.tiers[t].name if t >= 0 else None}
        out[key] = row
    return out


def explain_infeasible(model: Model, hw: Hardware, grid: Grid, need, fixed: dict[str, Any]) -> str:
    """Which constraint failed, for the closest candidates."""
    shape = grid.plan.shape
    valid = np.broadcast_to(grid.valid, shape).ravel()
    if not valid.any():
        # the rules that stop the plans which satisfy every other rule
        blocking = []
        for name, rule in grid.reasons.items():
            others = np.ones(shape, dtype=bool)
            for other, r in grid.reasons.items():
                if other != name:
                    others = others & r
            if others.any() and not (others & rule).any():
                blocking.append(name)
        failing = blocking or [n for n, r in grid.reasons.items() if not np.broadcast_to(r, shape).any()]
        failing = failing or list(grid.reasons)
        given = ", ".join(f"{k}={v}" for k, v in fixed.items()) or "no fixed settings"
        return f"no valid plan for {model.name} on {hw.n_chips} chips ({given}): needs {'; '.join(failing)}"
    need_flat = np.broadcast_to(need, shape).ravel()
    i = int(np.flatnonzero(valid)[np.argmin(need_flat[valid])])
    row = grid.plan.row(i)
    gb = 1e9
    hints = []
    if row["dp"] > 1 and row["zero"] < 3:
        hints.append("--zero 3")
    if row["recompute"] != "full":
        hints.append("--recompute full")
    if row["pp"] * 2 <= model.layers and "pp" not in fixed and row["tp"] * row["pp"] * row["cp"] * 2 <= hw.n_chips:
        hints.append(f"--pp {row['pp'] * 2}")
    hints.append(f"about {int(np.ceil(hw.n_chips * need_flat[i] / hw.hbm_bytes)):,} chips or more")
    return (
        f"no plan fits in memory: the smallest needs {need_flat[i] / gb:,.1f} GB per chip, "
        f"{hw.chip} has {hw.hbm_bytes / gb:,.1f} GB (short by {(need_flat[i] - hw.hbm_bytes) / gb:,.1f} GB) "
        f"with tp={row['tp']} pp={row['pp']} dp={row['dp']} ep={row['ep']} zero={row['zero']} "
        f"recompute={row['recompute']}; try {' or '.join(hints)}"
    )
