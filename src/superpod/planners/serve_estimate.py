"""``superpod serve``: price a model on a system for one phase (or a co-located or
disaggregated deployment): a record per phase (throughput, latencies, memory, breakdown) and the plan.

Throughput is per chip of the pool serving that phase: prefill counts input tokens,
decode output tokens. With no batch, concurrency or SLO the maximum-throughput point that
fits in memory is reported; with ``tpot_slo_s`` the largest decode batch meeting it.
Plan parameters left out are searched (:mod:`.search`) and listed under ``plan.picked``.
Whole-system figures (``tokens_per_s_per_system``) count the whole instances of a phase's plan the
system's nodes and scale-up domains hold (``instances``, ``chips_used``, ``chips_left``;
:class:`SystemTotals`), and the single-pool search (decode, prefill, co-located) ranks plans by that
throughput (:data:`DEPLOYED`), not per chip; for ``pd`` they are the integer deployment's capacity on
the chips it uses.

Conventions (docs/conventions.md): plan degrees (``tp``, ``ep``, ``dp``) count ranks; the
record states the pool's ``chips`` and ``ranks`` (and each phase's instance ``chips`` and
``ranks``); power is nameplate IT power (``system_power_it_w``) and facility power at the
catalog PUE (``system_power_facility_w``), and each phase's per-kW and J/token figures say
which (``tokens_per_s_per_kw_it``, ``energy_facility_j_per_token``...); ``tokens_per_s_per_tflops``
is per TFLOP/s of the ``--quant`` format's dense peak (``peak_basis``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from superpod.errors import DoesNotFitError, InvalidOptionError, SuperpodError
from superpod.planners import serve_cache
from superpod.planners.compare import split_sized
from superpod.planners.conventions import (
    peak_basis,
)
from superpod.planners.serve_capacity import (
    PREFILL_POLICY_SHARE,
    check_percentile,
    deployment_record,
    search_colocated,
    search_pd,
    whole_instances,
)
from superpod.planners.serve_fleet import cost, fleet
from superpod.planners.serve_pareto import pareto_frontier
from superpod.planners.serve_records import _breakdown, _closed_loop_fields, _tflops, decode_record, plan_record
from superpod.planners.serve_search import (
    COARSE_BATCH,
    PREFILL_TOKENS,
    best,
    grid_for,
    refine_batch,
)
from superpod.planners.serve_totals import _system_totals
from superpod.serving.colocated import BREAKDOWN as BOTH_PARTS
from superpod.serving.colocated import colocated
from superpod.serving.context import make_ctx
from superpod.serving.decode import BREAKDOWN as DECODE_PARTS
from superpod.serving.decode import decode
from superpod.serving.forward import Ctx
from superpod.serving.framework import mtp
from superpod.serving.pd import size_pools
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.prefill import BREAKDOWN as PREFILL_PARTS
from superpod.serving.prefill import prefill
from superpod.spec.catalog import load_system

PHASES = ("prefill", "decode", "both", "pd")
DEFAULT_ACCEPT = mtp().default_accept.si  # CloudMatrix-Infer's measured acceptance (frameworks/serving.toml [mtp]), when only --mtp is given


def _pick(c: Ctx, evaluate, grid_args: dict, batch, limits: dict, objective: str, what: str, refine: bool,
          deployed=None):
    """The best plan of the grid (and, with ``refine``, its best integer batch). ``deployed`` (a
    :meth:`Setup.deployed` function of the plan grid): rank by the throughput of the whole instances the
    system holds (per-chip rate x the chips they occupy, :data:`DEPLOYED`) instead of per chip."""
    if deployed is not None:
        evaluate, objective = _with_deployed(evaluate, objective, deployed), DEPLOYED
    g, valid, picked = grid_for(c, batch=batch, **grid_args)
    i, flat_plan, flat = best(evaluate, g, objective, valid, limits, what, c)
    row = flat_plan.row(i)
    values = {k: float(v[i]) for k, v in flat.items()}
    if refine:
        top = min(max(values.get("max_batch", row["batch"]), 1.0), 8192)
        out = refine_batch(evaluate, row, top, limits, objective)
        if out is not None:
            j, g2, f2 = out
            row = g2.row(j)
            values = {k: float(v[j]) for k, v in f2.items()}
    return row, values, picked


#: the search objective of a single pool on a system: per-chip rate x the chips of its whole instances
DEPLOYED = "tokens_per_s_deployed"


def _with_deployed(evaluate, key: str, deployed):
    def f(g):
        res = evaluate(g)
        return res | {DEPLOYED: res[key] * deployed(g)}
    return f


def _check_options(phase, eplb, cache_hit, mtp, mtp_accept, tp, ep, dp, input_len, output_len, kv_len, batch_per_chip,
                   concurrency, tpot_slo_s, ttft_slo_s, rate) -> None:
    """Refuse an option value superpod does not accept (never replace it by a default)."""
    if phase not in PHASES:
        raise InvalidOptionError(f"--phase must be one of {', '.join(PHASES)}, not {phase!r}")
    if eplb not in ("perfect", "balanced", "none"):
        raise InvalidOptionError(f"--eplb must be perfect, balanced or none, not {eplb!r}")
    if not 0.0 <= cache_hit < 1.0:
        raise InvalidOptionError(f"--cache-hit must be in [0, 1), got {cache_hit}")
    if mtp_accept is not None and not 0.0 <= mtp_accept <= 1.0:
        raise InvalidOptionError(f"--mtp-accept must be in [0, 1], got {mtp_accept}")
    if mtp is not None and (isinstance(mtp, bool) or int(mtp) != mtp or mtp < 0):
        raise InvalidOptionError(f"--mtp must be a whole number >= 0, got {mtp!r}")
    for name, v in (("--tp", tp), ("--moe-ep", ep), ("--dp", dp)):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
            raise InvalidOptionError(f"{name} must be a whole number >= 1, got {v!r}")
    for name, v in (("--input-len", input_len), ("--output-len", output_len), ("--kv-len", kv_len),
                    ("--batch-per-chip", batch_per_chip), ("--concurrency", concurrency),
                    ("--tpot-slo-ms", tpot_slo_s), ("--ttft-slo-ms", ttft_slo_s), ("--rate", rate)):
        if v is not None and not v > 0:
            raise InvalidOptionError(f"{name} must be > 0, got {v!r}")


def serve(model: str, system: str, *, chips: int | None = None, phase: str = "decode",
          input_len: float = 4096, output_len: float = 1024, kv_len: float | None = None, cache_hit: float = 0.0,
          batch_per_chip: float | None = None, concurrency: float | None = None,
          tpot_slo_s: float | None = None, ttft_slo_s: float | None = None,
          quant: str | None = None, kv_dtype: str | None = None, tp: int | None = None, ep: int | None = None,
          dp: int | None = None, moe_tp: int | None = None, moe_ep: int | None = None, mtp: int | None = None, mtp_accept: float | None = None,
          eplb: str = "balanced", overlap: bool | None = None, framework: str | None = None,
          rate: float | None = None, cache_prefixes: int | None = None, cache_zipf: float | None = None,
          cache_pool_bytes: float | None = None, cache_affinity: bool = False, cache_trace=None,
          slo_percentile: int = 90, target_output_tokens_per_s: float | None = None,
          target_requests_per_s: float | None = None, electricity: str | float | None = None,
          capex_per_chip_usd: float | None = None, years: float | None = None, pue: float | None = None,
          pareto: bool = False, token_budget: int | None = None, max_running: int | None = None,
          recv_interval: int | None = None, random_range_ratio: float | None = None,
          batch_wait_iters: int | None = None, batch_wait_ratio: float | None = None,
          adp_balance_iters: int | None = None, adp_batching_wait_iters: int | None = None) -> dict[str, Any]:
    """One system's serving estimate as a plain dict (SI units; see the module docstring).

    ``moe_ep`` is ``ep`` under the frameworks' name (give one); ``moe_tp`` splits each
    routed expert over that many ranks (``moe_tp x moe_ep`` ranks hold the experts once).
    ``--phase pd`` and ``both`` add the integer ``deployment`` of the chips and its capacity under
    the SLOs at ``slo_percentile`` (:mod:`.serve_capacity`); targets add the ``fleet``, cost options
    the ``cost`` (:mod:`.serve_fleet`); ``pareto`` the ``pareto`` frontier (:mod:`.serve_pareto`).
    ``token_budget``, ``max_running``, ``recv_interval`` and TensorRT-LLM's holds (``batch_wait_*``,
    ``adp_*``: :mod:`superpod.serving.holds`): the co-located scheduler as the server was
    launched, and ``random_range_ratio`` the benchmark's length draw, for ``concurrency`` (the closed
    loop of a benchmark)."""
    system, chips = split_sized(system, chips)  # ``name@N`` sizes the system, as in train and scale
    if ep is not None and moe_ep is not None and ep != moe_ep:
        raise InvalidOptionError(f"--ep is an alias of --moe-ep: got --ep {ep} and --moe-ep {moe_ep}; give one")
    ep = moe_ep if moe_ep is not None else ep
    _check_options(phase, eplb, cache_hit, mtp, mtp_accept, tp, ep, dp, input_len, output_len, kv_len, batch_per_chip,
                   concurrency, tpot_slo_s, ttft_slo_s, rate)
    s = setup(model, system, chips, quant, kv_dtype, framework, tp, ep, moe_tp, dp, mtp, mtp_accept, overlap, eplb)
    c, pool_chips, k, acc, assumed, grid_args = s.c, s.pool_chips, s.k, s.acc, s.assumed, s.grid_args
    tier = serve_cache.tier(c, system, chips, input_len, output_len, kv_len, cache_hit, cache_prefixes, cache_zipf,
                            cache_pool_bytes, cache_affinity, cache_trace)  # the caching tier: the hit rate its pool serves
    wl = tier.workload
    out: dict[str, Any] = dict(s.header)
    breakdown: dict[str, Any] = {}
    rows: dict[str, dict] = {}
    picked: set[str] = set()
    instance_chips = s.instance_chips

    if phase in ("prefill", "pd"):
        batch = [batch_per_chip] if (batch_per_chip is not None and phase == "prefill") else list(PREFILL_TOKENS)
        limits = {"ttft_s": ttft_slo_s} if ttft_slo_s else {}
        row, v, p = _pick(c, lambda g: prefill(c, g, wl.input_len, wl.cache_hit), grid_args, batch, limits,
                          "tokens_per_s_per_chip", "prefill weights and batch KV", False,
                          s.deployed if phase == "prefill" else None)
        if phase == "pd" and not ttft_slo_s:
            row, v = _prefill_policy(c, wl, grid_args, row, v)
        picked |= set(p) | ({"batch"} if batch_per_chip is None or phase == "pd" else set())
        out["prefill"] = {
            "tokens_per_s_per_chip": v["tokens_per_s_per_chip"],
            "computed_tokens_per_s_per_chip": v["computed_tokens_per_s_per_chip"],
            "tokens_per_s_per_tflops": v["tokens_per_s_per_chip"] / _tflops(c),
            "ttft_s": v["ttft_s"], "step_s": v["step_s"], "batch_tokens_per_chip": v["batch_tokens_per_chip"],
            "chips": max(instance_chips(row), 1.0), "weight_bytes_per_chip": v["weight_bytes"],
        }
        breakdown["prefill"] = _breakdown(v, PREFILL_PARTS)
        rows["prefill"] = row
    if phase in ("decode", "pd"):
        if batch_per_chip is not None and phase == "decode":
            batch, refine = [batch_per_chip], False
        elif concurrency is not None and phase == "decode":
            batch, refine = [concurrency / pool_chips], False
        else:
            batch, refine = COARSE_BATCH, True
        limits = {"tpot_s": tpot_slo_s} if tpot_slo_s else {}
        row, v, p = _pick(c, lambda g: decode(c, g, wl.decode_context), grid_args, batch, limits,
                          "tokens_per_s_per_chip", "weights and KV cache", refine, s.deployed if phase == "decode" else None)
        picked |= set(p) | ({"batch"} if refine else set())
        out["decode"] = decode_record(c, v, row, wl, max(instance_chips(row), 1.0))
        breakdown["decode"] = _breakdown(v, DECODE_PARTS)
        rows["decode"] = row
    if phase == "both":
        if concurrency is not None:
            batch, refine = [concurrency / pool_chips], False
        elif batch_per_chip is not None:
            batch, refine = [batch_per_chip], False
        else:
            batch, refine = COARSE_BATCH, True
        limits = {key: val for key, val in (("tpot_s", tpot_slo_s), ("ttft_s", ttft_slo_s)) if val}
        try:
            row, v, p = _pick(c, lambda g: colocated(c, g, wl), grid_args, batch, limits,
                              "output_tokens_per_s_per_chip", "weights and KV cache", refine,
                              s.deployed if concurrency is None else None)
        except DoesNotFitError:
            if concurrency is None:
                raise
            # the KV cache cannot hold the concurrency: pick the layout at one request per chip;
            # the closed loop below runs what fits and queues the rest
            row, v, p = _pick(c, lambda g: colocated(c, g, wl), grid_args, [1.0], {},
                              "output_tokens_per_s_per_chip", "weights and KV cache", False)
            row = row | {"batch": concurrency / pool_chips}
        picked |= set(p) | ({"batch"} if refine else set())
        n_chips = float(pool_chips if concurrency is not None else max(instance_chips(row), 1.0))
        out["both"] = {
            "output_tokens_per_s_per_chip": v["output_tokens_per_s_per_chip"],
            "input_tokens_per_s_per_chip": v["input_tokens_per_s_per_chip"],
            "ttft_s": v["ttft_s"], "tpot_s": v["tpot_s"], "step_s": v["step_s"],
            "concurrency": v["concurrency_per_chip"] * n_chips, "concurrency_per_chip": v["concurrency_per_chip"],
            "chips": n_chips, "kv_bytes_per_chip": v["kv_bytes_per_chip"], "weight_bytes_per_chip": v["weight_bytes"],
        }
        if concurrency is not None:
            holds = {"batch_wait_iters": batch_wait_iters, "batch_wait_tokens_ratio": batch_wait_ratio,
                     "adp_balance_iters": adp_balance_iters,
                     "adp_batching_wait_iters": (10 if adp_batching_wait_iters is None else adp_batching_wait_iters)
                     if adp_balance_iters is not None else None}  # TensorRT-LLM's AttentionDpConfig default: 10
            if c.fw.name != "tensorrt-llm" and any(v is not None for v in holds.values()):
                given = next(k for k, v in holds.items() if v is not None)
                raise InvalidOptionError(f"--{given.replace('_tokens', '').replace('_', '-')} is a TensorRT-LLM "
                                         f"scheduler setting; the framework here is {c.fw.name} (--framework tensorrt-llm)")
            launched = {"token_budget": token_budget, "max_running": max_running, "recv_interval": recv_interval} | holds
            out["both"] |= _closed_loop_fields(c, row, wl, concurrency / pool_chips, launched, random_range_ratio or 1.0)
        breakdown["both"] = _breakdown(v, BOTH_PARTS)
        rows["both"] = row
    if phase == "pd":
        out["pd"] = size_pools(c, out["prefill"], out["decode"], wl.input_len, wl.output_len,
                               out["prefill"]["chips"], rate)
    dep = None
    if phase == "pd" or (phase == "both" and concurrency is None and batch_per_chip is None):
        pct = check_percentile(slo_percentile)
        search = search_pd if phase == "pd" else search_colocated
        dep = search(c, grid_args, s.dp, pool_chips, load_system(system).chips_per_node, wl, ttft_slo_s, tpot_slo_s, pct)
        out["deployment"] = deployment_record(dep)
        out |= {k: dep[k] for k in ("capacity_requests_per_s", "capacity_output_tokens_per_s", "slo_percentile",
                                    "capacity_bound")}
        if dep.get("capacity_policy"):
            out["capacity_policy"] = dep["capacity_policy"]
        if phase == "pd" and rate is not None and target_requests_per_s is None:
            target_requests_per_s = rate  # --rate: the fleet that holds it
        costs = (electricity, capex_per_chip_usd, years)
        if target_output_tokens_per_s is not None or target_requests_per_s is not None or any(x is not None for x in costs) or pue is not None:
            out["fleet"] = fleet(system, pool_chips, dep, wl.output_len, target_output_tokens_per_s,
                                 target_requests_per_s, pue)
            out["cost"] = cost(system, out["fleet"], dep, wl.input_len, wl.output_len, electricity=electricity,
                               capex_per_chip_usd=capex_per_chip_usd, years=years)
            if pue is not None:
                out["cost"]["bases"]["pue"] = "user input"
    elif any(x is not None for x in (target_output_tokens_per_s, target_requests_per_s, electricity, capex_per_chip_usd,
                                     years, pue)) or pareto:
        raise InvalidOptionError("fleet, cost and Pareto options size a deployment: use --phase pd or both "
                                 "(without --concurrency / --batch-per-chip)")
    if pareto:
        out["pareto"] = pareto_frontier(c, grid_args, s.dp, pool_chips, load_system(system).chips_per_node, wl, phase,
                                        dep, ttft_slo_s)
    first = rows.get("decode") or rows.get("both") or rows["prefill"]
    out["plan"] = plan_record(c, first, k, acc, eplb, wl, rows, picked | ({"quant"} if quant is None else set()), assumed)
    out["breakdown"] = breakdown
    _system_totals(out, system, chips, dep if phase == "pd" else None)
    out["cache"] = serve_cache.record(tier, c, out, rows, phase, rate, {  # today's prefill search, at hit 0
        "grid_args": grid_args, "limits": {"ttft_s": ttft_slo_s} if ttft_slo_s else {},
        "batch": batch_per_chip if phase == "prefill" else None,
        "rank": (lambda ev: (_with_deployed(ev, "tokens_per_s_per_chip", s.deployed), DEPLOYED)) if phase == "prefill" else None,
        "policy": (lambda r, v: _prefill_policy(c, replace(wl, cache_hit=0.0), grid_args, r, v))
        if phase == "pd" and not ttft_slo_s else None})
    return out


def _prefill_policy(c: Ctx, wl: Workload, grid_args: dict, row: dict, v: dict) -> tuple[dict, dict]:
    """Without a TTFT target a deployment's prefill pool runs the smallest token budget within
    ``PREFILL_POLICY_SHARE`` of the best rate (:data:`superpod.planners.serve_capacity.NO_TTFT_POLICY`):
    full batches without the minute-long TTFT of the largest batch on long prompts."""
    for b in PREFILL_TOKENS:
        try:
            r, vb, _ = _pick(c, lambda g: prefill(c, g, wl.input_len, wl.cache_hit), grid_args, [b], {},
                             "tokens_per_s_per_chip", "prefill weights and batch KV", False)
        except SuperpodError:
            continue
        if vb["tokens_per_s_per_chip"] >= PREFILL_POLICY_SHARE * v["tokens_per_s_per_chip"]:
            return r, vb
    return row, v


@dataclass(frozen=True)
class Setup:
    """What one serving evaluation holds fixed once the options are read: the context, the pool,
    MTP, the plan-grid arguments and the record's header (shared by :func:`serve` and the sweep)."""

    c: Ctx
    pool_chips: int
    dp: int | None
    k: int
    acc: float
    assumed: list[str]
    grid_args: dict[str, Any]
    header: dict[str, Any]
    cpn: int = 1
    dom: float = 1.0

    def deployed(self, g: ServePlan) -> np.ndarray:
        """Chips the whole instances of each plan of grid ``g`` occupy on the system (:func:`whole_instances`)."""
        c = self.c
        r = np.maximum(g.ep * g.moe_tp, g.tp * (self.dp or 1)) if c.model.moe else np.asarray(g.tp, dtype=float)
        chips = np.ceil(np.maximum(r / c.dev, 1.0) - 1e-9)
        return whole_instances(chips, self.pool_chips, self.cpn, self.dom) * chips

    def instance_chips(self, row: dict[str, Any]) -> float:
        """Chips of one instance of plan ``row``: the expert ranks or the attention ranks, whichever is more."""
        c = self.c
        if c.model.moe:
            return max(row["ep"] * row["moe_tp"], row["tp"] * (self.dp or 1)) / c.dev
        return row["tp"] / c.dev


def setup(model, system, chips, quant, kv_dtype, framework, tp, ep, moe_tp, dp, mtp, mtp_accept, overlap,
          eplb) -> Setup:
    """The context and fixed settings of one serving evaluation (options already checked)."""
    c = make_ctx(model, system, chips, quant, kv_dtype, framework)
    if moe_tp is not None and (isinstance(moe_tp, bool) or int(moe_tp) != moe_tp or moe_tp < 1):
        raise InvalidOptionError(f"--moe-tp must be a whole number >= 1, got {moe_tp!r}")
    if moe_tp is not None and moe_tp > 1 and c.model.moe is None:
        raise InvalidOptionError(f"{c.model.name} has no experts: --moe-tp must be 1")
    pool_chips = chips if chips is not None else c.hw.n_chips
    pool_ranks = pool_chips * c.dev
    if dp is not None and ep is None and c.model.moe is not None:
        ep = max(dp * (tp or 1) // (moe_tp or 1), 1)
    assumed = []
    k = int(mtp or 0)
    if k and mtp_accept is None:
        mtp_accept = DEFAULT_ACCEPT
        assumed.append(f"mtp_accept {DEFAULT_ACCEPT} (CloudMatrix-Infer's measured acceptance)")
    acc = float(mtp_accept or 0.0)
    grid_args = dict(tp=tp, ep=ep, moe_tp=moe_tp, pool_ranks=pool_ranks, overlap=overlap, mtp_k=k, mtp_accept=acc,
                     eplb=eplb, dp=dp if c.model.moe is not None else None)  # dp: moe_tp x ep = tp x dp held
    header = {"model": c.model.name, "system": system, "chip": c.hw.chip, "framework": c.fw.name,
              "chips": pool_chips, "ranks": int(pool_ranks), "ranks_per_chip": int(c.dev),
              "peak_basis": peak_basis(c.quant), "peak_flops_per_chip": c.hw.peak(c.quant)}
    spec = load_system(system)
    return Setup(c, pool_chips, dp, k, acc, assumed, grid_args, header, spec.chips_per_node, spec.scaleup_domain)
