"""``superpod train``: the best training plan(s) of a model on a sized system, with the job's
throughput, MFU, memory per chip, power and the search's statistics (SI units).

Conventions (docs/conventions.md): ``plan`` degrees count ranks (``tp`` x ranks per chip of
the chip-level plan the search prices, :mod:`superpod.planners.ranks`), the record states
``chips`` and ``ranks``; power is nameplate IT power (``power_it_w``) and facility power at
the catalog PUE (``power_facility_w``); ``mfu``/``hfu`` are against the dense BF16 peak
(``mfu_basis``); the default batch is the shared policy (``global_batch_policy``).
"""

from __future__ import annotations

from typing import Any

from superpod.cost.hardware import Hardware
from superpod.cost.plan import RECOMPUTE, SCHEDULES
from superpod.errors import InvalidOptionError
from superpod.planners.compare import parse_sized
from superpod.planners.conventions import (
    MFU_BASIS,
    NAMEPLATE,
    default_global_batch,
    default_pue,
    power_record,
    user_batch_policy,
)
from superpod.planners.ranks import chip_fixed, rank_record
from superpod.planners.train_search import FIELDS, search
from superpod.spec.catalog import load_model
from superpod.training.host import parse_graph_scope
from superpod.training.recompute import parse_modules
from superpod.training.dispatch import check_dispatcher, routing_skew

PRECISIONS = ("bf16", "fp8", "mxfp8", "fp4")
#: the pinned plan settings that are whole numbers >= 1
INTEGER_FIELDS = ("tp", "pp", "vpp", "dp", "ep", "etp", "cp", "micro_batch")


def check_fixed(fixed: dict[str, Any]) -> dict[str, Any]:
    """The pinned plan settings with ``None`` dropped; an unknown key or value is an error, never ignored."""
    out = {k: v for k, v in fixed.items() if v is not None}
    unknown = sorted(set(out) - set(FIELDS))
    if unknown:
        raise InvalidOptionError(f"unknown plan setting {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    for k in INTEGER_FIELDS:
        v = out.get(k)
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
            raise InvalidOptionError(f"--{k.replace('_', '-')} must be a whole number >= 1, got {v!r}")
    if "zero" in out and out["zero"] not in (0, 1, 2, 3):
        raise InvalidOptionError(f"--zero must be 0, 1, 2 or 3, got {out['zero']!r}")
    for k, names in (("schedule", SCHEDULES), ("recompute", RECOMPUTE)):
        v = out.get(k)
        if v is not None and v not in names and not (isinstance(v, int) and 0 <= v < len(names)):
            raise InvalidOptionError(f"--{k} must be one of {', '.join(names)}, got {v!r}")
    if "sp" in out and not isinstance(out["sp"], (bool, int)):
        raise InvalidOptionError(f"--sp must be true or false, got {out['sp']!r}")
    return out


def parse_plan(text: str) -> dict[str, Any]:
    """``"tp=8 pp=16 recompute=full sp=true"`` (spaces or commas) as pinned plan settings.

    >>> parse_plan("tp=8, pp=16 recompute=full sp=true")
    {'tp': 8, 'pp': 16, 'recompute': 'full', 'sp': True}
    """
    out: dict[str, Any] = {}
    for item in text.replace(",", " ").split():
        k, sep, v = item.partition("=")
        k = k.strip().replace("-", "_")
        if not sep or not v:
            raise InvalidOptionError(f"--compare-plan wants key=value pairs such as \"tp=8 pp=16\", got {item!r}")
        if k not in FIELDS:
            raise InvalidOptionError(f"--compare-plan: unknown plan setting {k!r}; known: {', '.join(FIELDS)}")
        low = v.strip().lower()
        if low in ("true", "false", "on", "off"):
            out[k] = low in ("true", "on")
        else:
            try:
                out[k] = int(low)
            except ValueError:
                out[k] = low
    return check_fixed(out)


def compare_plans(user: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """The user's plan beside the best one, mechanism by mechanism: where the extra time goes."""
    rows = []
    for key in best["breakdown"]:
        u, b = user["breakdown"][key], best["breakdown"][key]
        rows.append({"part": key, "plan_s": u, "best_s": b, "delta_s": u - b})
    rows.sort(key=lambda r: -r["delta_s"])
    why = [f"{r['part'].removesuffix('_s').replace('_', ' ')}: {r['plan_s']:.3g} s vs {r['best_s']:.3g} s per step "
           f"({r['delta_s']:+.3g} s)" for r in rows if abs(r["delta_s"]) > 1e-3 * best["step_s"]]
    return {"plan": user["plan"], "step_s": user["step_s"], "tokens_per_s": user["tokens_per_s"], "mfu": user["mfu"],
            "memory_per_chip_bytes": user["memory_per_chip_bytes"], "breakdown": user["breakdown"],
            "mechanisms": user.get("mechanisms"), "slowdown": user["step_s"] / best["step_s"], "parts": rows, "why": why}


def train(model: str, system: str, chips: int | None = None, seq_len: int = 4096, global_batch: int | None = None,
          global_batch_tokens: int | None = None, precision: str = "bf16", framework: str = "megatron",
          top: int = 1, timeline: bool = False, compare_plan: str | None = None, power_limit_w: float | None = None,
          dispatcher: str | None = None, recompute_modules: str | None = None, routing: str = "balanced",
          cuda_graph_scope: str | None = None, offload_activations: bool | None = None, **fixed) -> dict[str, Any]:
    """Best training plan(s) for ``model`` on ``system`` (``name@N`` sizes it): the ``superpod train`` record.

    ``fixed`` pins plan settings (tp, sp, pp, vpp, schedule, dp, zero, ep, etp, cp,
    micro_batch, recompute; ``tp`` in ranks); the rest are searched. ``compare_plan``
    (``"tp=8 pp=16 ..."``) prices that plan too (settings it leaves out searched) and adds
    ``compare``: its figures and, mechanism by mechanism, why the best plan is faster.
    ``power_limit_w``: the chips' board power limit (default their ``tdp_w``): compute runs at
    the share of the peaks the chip's ``power_curve`` gives (:mod:`superpod.training.power`).
    ``dispatcher``: the MoE token dispatcher, ``deepep`` or NCCL ``alltoall`` (default the
    framework's; :mod:`superpod.training.dispatch`). ``recompute_modules``: Megatron-Core's
    ``--recompute-modules`` (``"mlp mla_up_proj"``), priced under selective recompute
    (:mod:`superpod.training.recompute`). ``routing``: the expert-load assumption, ``balanced`` (default) or
    ``random`` (:func:`superpod.training.dispatch.routing_skew`). ``cuda_graph_scope``: Megatron-Core's
    ``--cuda-graph-scope`` (``"attn moe_router moe_preprocess"``): the parts of the layers replayed from CUDA
    graphs by an eager stack (:mod:`superpod.training.host`). ``offload_activations``: the layers' saved
    activations copied to the system's host memory and back (:mod:`superpod.training.offload`).
    """
    user_plan = parse_plan(compare_plan) if compare_plan else None
    if precision not in PRECISIONS:
        raise InvalidOptionError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if isinstance(top, bool) or int(top) != top or top < 1:
        raise InvalidOptionError(f"--top must be a whole number >= 1, got {top!r}")
    if seq_len < 1:
        raise InvalidOptionError(f"--seq-len must be >= 1, got {seq_len}")
    if global_batch is not None and global_batch_tokens is not None:
        raise InvalidOptionError("give --global-batch or --global-batch-tokens, not both")
    fixed = check_fixed(fixed)
    m = load_model(model)
    sized = parse_sized(system, chips)
    hw = Hardware.of(sized)
    r = sized.ranks_per_chip
    if global_batch is not None:
        policy = user_batch_policy("--global-batch")
    elif global_batch_tokens is not None:
        if global_batch_tokens % seq_len:
            raise InvalidOptionError(
                f"--global-batch-tokens {global_batch_tokens:,} is not a whole number of {seq_len:,}-token sequences")
        global_batch, policy = global_batch_tokens // seq_len, user_batch_policy("--global-batch-tokens")
    else:
        global_batch, policy = default_global_batch(sized.n_chips, seq_len)
    if global_batch < 1:
        raise InvalidOptionError(f"the global batch must hold at least one sequence, got {global_batch}")
    if dispatcher is not None:
        check_dispatcher(dispatcher)
        if m.moe is None:
            raise InvalidOptionError(f"--dispatcher {dispatcher} needs an MoE model: {m.name} is dense (no tokens to dispatch)")
    routing_skew(routing, 1.0, 1.0)  # a bad name is refused before the search
    offload = None
    if offload_activations:
        host = sized.system.host_memory
        if host is None:
            raise InvalidOptionError(f"--offload-activations needs the system's host memory and its link ([host_memory]): "
                                     f"{sized.system.name} has none in the catalog")
        per_node = sized.system.chips_per_node
        offload = (host.chip_Bps(per_node), host.cache_bytes_per_node() / per_node)
    run = {"power_limit_w": power_limit_w, "chip": sized.system.chip, "dispatcher": dispatcher,
           "offload_activations": offload,
           "recompute_modules": recompute_modules, "routing": routing, "cuda_graph_scope": cuda_graph_scope}
    res = search(m, hw, seq_len, global_batch, chip_fixed(fixed, hw.chip, r), top=top, precision=precision,
                 framework=framework, **run)
    plans = [rank_record(p, r) for p in res.plans]
    best = plans[0]
    it_w = sum(sized.power_parts_w().values())
    tdp = sized.system.chip.tdp_w
    if power_limit_w is not None and tdp is not None and power_limit_w < tdp.si:
        it_w -= sized.n_chips * (tdp.si - power_limit_w)  # capped boards draw at most their limit
    power = power_record(it_w, default_pue(), best["tokens_per_s"], NAMEPLATE)
    out = {
        "model": m.name,
        "system": sized.system.name,
        "chips": sized.n_chips,
        "ranks": sized.n_ranks,
        "ranks_per_chip": r,
        "seq_len": seq_len,
        "global_batch": global_batch,
        "global_batch_tokens": global_batch * seq_len,
        "global_batch_policy": policy,
        "precision": precision,
        "framework": framework,
        "power_limit_w": res.power_limit_w,
        "compute_fraction": res.compute_fraction,
        "dispatcher": res.dispatcher,
        "routing": routing if m.moe is not None else None,
        "recompute_modules": list(parse_modules(recompute_modules, m)) if recompute_modules is not None else None,
        "cuda_graph_scope": list(parse_graph_scope(cuda_graph_scope, m)) if cuda_graph_scope is not None else None,
        "offload_activations": bool(offload_activations),
        **best,
        "mfu_basis": MFU_BASIS,
        "peak_bf16_flops_per_chip": hw.peak("bf16") if "bf16" in hw.peak_flops else None,
        "hbm_bytes": hw.hbm_bytes,
        **power,
        "power_w": it_w,  # older name of power_it_w
        "tokens_per_s_per_kw": power["tokens_per_s_per_kw_it"],  # older name of tokens_per_s_per_kw_it
        "search": {"evaluated": res.evaluated, "feasible": res.feasible, "seconds": res.seconds,
                   "plans_per_s": res.evaluated / max(res.seconds, 1e-9)},
    }
    if user_plan is not None:
        mods = run["recompute_modules"] if user_plan.get("recompute", "selective") == "selective" else None
        mine = search(m, hw, seq_len, global_batch, chip_fixed(user_plan, hw.chip, r), top=1, precision=precision,
                      framework=framework, **{**run, "recompute_modules": mods}).plans[0]
        out["compare"] = compare_plans(rank_record(mine, r), best)
    if top > 1:
        out["top"] = plans
    if timeline:  # what a trace of one step needs beyond the breakdown (faces/report/trace.py)
        fwd = res.forward_s[0]
        out["timeline"] = {"compute_forward_s": fwd, "compute_backward_s": best["breakdown"]["compute_s"] - fwd}
    return out
