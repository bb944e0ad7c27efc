"""``superpod scale``: effective compute, goodput, power, energy and cost of training MODEL on SYSTEM.

``effective FLOP/s = job chips x dense BF16 peak x MFU x goodput``: MFU from the training
search (:mod:`superpod.planners.train_search`, the best plan on the job's chips), goodput
from failures, checkpoints and restarts (:mod:`.recovery`), power from the catalog's
breakdown at the job's utilisation (:mod:`.energy`), cost from capex, amortisation and
electricity (:mod:`.cost`). :func:`evaluate` does the arithmetic after the search with
numpy arrays, so the scaling sweep prices every size at once.

Conventions (docs/conventions.md): ``plan`` degrees count ranks (``chips``/``ranks``,
``job_chips``/``job_ranks``); power is at the job's utilisation, facility (``power_facility_w``
= IT x PUE) and IT (``power_it_w``), and so is every energy key; ``mfu`` and
``effective_flops`` are against the dense BF16 peak, ``paper_flops`` against the run
precision's dense peak (``*_basis``); the default batch is the shared policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from superpod.cost.hardware import Hardware
from superpod.units import from_si
from superpod.errors import InfeasiblePlanError, InvalidOptionError, NoFeasiblePlanError
from superpod.planners.compare import parse_sized
from superpod.planners.conventions import (AT_UTILISATION, MFU_BASIS, NAMEPLATE, default_global_batch, peak_basis,
                                           power_record, user_batch_policy)
from superpod.planners.ranks import chip_fixed, rank_record
from superpod.planners.train_estimate import check_fixed
from superpod.planners.train_search import search
from superpod.spec.catalog import load_model
from superpod.spec.model import Model
from superpod.spec.system import System
from superpod.scaling import params
from superpod.scaling.economics import capex_usd, cost_record
from superpod.planners.serve_estimate import serve
from superpod.scaling.energy import joules_per_token, power_w, serving_energy
from superpod.scaling.layout import job_chips, placement
from superpod.scaling.recovery import RecoveryOptions, recovery

#: the plan space tried first by ``fast`` searches (the usual winners at scale), then micro-batch 1 with any
#: recompute mode; on 72 cases (3 models x 4 systems x 128-196,608 chips) its best plan was within 0.8% of
#: the full search's tokens/s at 1/8 of the time (benchmarks/scale_sweep.py --check)
FAST_FIXED = {"micro_batch": 1, "recompute": 0}


@dataclass(frozen=True)
class ScaleOptions:
    """Everything a user can set; None means the catalog default (catalog/scale/*.toml)."""

    precision: str = "bf16"
    seq_len: int | None = None
    global_batch: int | None = None  # sequences per optimizer step
    tokens: float | None = None  # token budget for time to train
    days: float | None = None  # run length for expected interruptions (default: the time to train)
    framework: str = "megatron"
    pue: float | None = None
    electricity: str | float | None = None  # preset name or USD/kWh
    amortisation_years: float | None = None
    capex_per_chip_usd: float | None = None
    recovery: RecoveryOptions = field(default_factory=RecoveryOptions)
    fixed: dict = field(default_factory=dict)  # plan settings pinned for the search (tp in ranks)
    fast: bool = False  # try FAST_FIXED first (sweeps)

    def __post_init__(self) -> None:
        if self.precision not in ("bf16", "fp8"):
            raise InvalidOptionError(f"--precision must be bf16 or fp8, got {self.precision!r}")
        for name, v in (("--seq-len", self.seq_len), ("--global-batch", self.global_batch)):
            if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
                raise InvalidOptionError(f"{name} must be a whole number >= 1, got {v!r}")
        for name, v in (("--tokens", self.tokens), ("--days", self.days), ("--amortisation-years", self.amortisation_years),
                        ("--capex-per-chip", self.capex_per_chip_usd)):
            if v is not None and not v > 0:
                raise InvalidOptionError(f"{name} must be > 0, got {v!r}")
        if self.pue is not None and not self.pue >= 1:
            raise InvalidOptionError(f"--pue must be >= 1, got {self.pue!r}")
        check_fixed(self.fixed)


def _workload(opts: ScaleOptions, chips: int | None = None) -> tuple[int, int, float]:
    """``(seq_len, global batch in sequences, token budget)``; the batch by the shared policy on
    ``chips`` installed chips unless given (``chips=None``: the policy's cap, as the sweep holds it)."""
    t = params.training()
    seq = int(opts.seq_len or t.seq_len.si)
    batch = int(opts.global_batch) if opts.global_batch is not None else default_global_batch(chips, seq)[0]
    tokens = float(opts.tokens or t.tokens.si)
    return seq, batch, tokens


def batch_policy(opts: ScaleOptions, chips: int | None) -> dict[str, Any]:
    """How the run's global batch was chosen (the record's ``global_batch_policy``)."""
    if opts.global_batch is not None:
        return user_batch_policy("--global-batch")
    return default_global_batch(chips, opts.seq_len)[1]


def best_plan(model: Model, system: System, chips: int, seq: int, batch: int, opts: ScaleOptions) -> tuple[dict, Any]:
    """The training search's best plan on ``chips`` chips (fast mode: FAST_FIXED first), its
    ``plan`` counted in ranks (:mod:`superpod.planners.ranks`)."""
    hw = Hardware.of(system.at(chips))
    r = system.chip.ranks
    fp8 = opts.precision == "fp8"
    if opts.fast and not opts.fixed:
        try:
            return rank_record(search(model, hw, seq, batch, FAST_FIXED, 1, fp8, opts.framework).plans[0], r), None
        except InfeasiblePlanError:
            # micro-batch 1 with every recompute mode holds the least memory and divides any batch
            # a larger micro-batch divides, so if it fails the full space fails too
            res = search(model, hw, seq, batch, {"micro_batch": 1}, 1, fp8, opts.framework)
            return rank_record(res.plans[0], r), res
    res = search(model, hw, seq, batch, chip_fixed(check_fixed(opts.fixed), hw.chip, r), 1, fp8, opts.framework)
    return rank_record(res.plans[0], r), res


def evaluate(model: Model, system: System, installed, job, tokens_per_s, mfu, busy, step_s, opts: ScaleOptions,
             tokens: float) -> dict[str, Any]:
    """Reliability, power, energy, cost and effective compute, as arrays over sizes."""
    rel, en, co = params.reliability(), params.energy(), params.costs()
    installed = np.asarray(installed, dtype=float)
    job = np.asarray(job, dtype=float)
    rec = recovery(model.params, system, job, installed, rel, opts.recovery, step_s)
    g = rec["goodput"]
    pue = opts.pue if opts.pue is not None else en.pue.si
    if pue < 1:
        raise InvalidOptionError(f"--pue must be >= 1, got {pue}")
    pw = power_w(system, installed, job, np.asarray(busy) * g, en.accelerator_idle_fraction.si, pue, rec["spare_chips"])
    useful = np.asarray(tokens_per_s, dtype=float) * g
    time_to_train = tokens / useful
    run_s = opts.days * 86400.0 if opts.days is not None else time_to_train
    price, price_basis = co.price_usd_per_kwh(opts.electricity)
    years = opts.amortisation_years if opts.amortisation_years is not None else from_si(co.amortisation.si, "year")
    if years <= 0:
        raise InvalidOptionError(f"--amortisation-years must be > 0, got {years}")
    capex, capex_basis = capex_usd(system, installed, co, rec["spare_chips"], opts.capex_per_chip_usd)
    cost = cost_record(capex, years, pw["total_w"], price, co.opex_other_per_year.si, useful, run_s)
    bf16 = system.chip.bf16_flops.si if system.chip.bf16_flops is not None else float("nan")
    peak = system.chip.peak_flops(opts.precision, fallback=True)
    return {
        "effective_flops": job * bf16 * np.asarray(mfu) * g,
        "paper_flops": installed * peak,
        "goodput": g,
        "useful_tokens_per_s": useful,
        "time_to_train_s": time_to_train,
        "run_s": run_s,
        "interruptions_expected": run_s / rec["job_mtbf_s"],
        "energy_j_per_token": joules_per_token(pw["total_w"], useful),
        "energy_run_j": pw["total_w"] * run_s,
        "recovery": rec,
        "power": pw,
        "cost": cost,
        "bases": {"electricity_usd_per_kwh": price, "electricity_basis": price_basis, "capex_basis": capex_basis,
                  "amortisation_years": years, "pue": pue, "opex_other_per_year": co.opex_other_per_year.si},
    }


def _scalar(x):
    if isinstance(x, dict):
        return {k: _scalar(v) for k, v in x.items()}
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x


def scale(model: str, system: str, chips: int | None = None, opts: ScaleOptions = ScaleOptions(),
          serve_tokens_per_s_per_chip: float | None = None, serve_tpot_s: float | None = None) -> dict[str, Any]:
    """One system's scale record: job size, training rate, goodput, power, energy and cost (SI; keys carry units)."""
    t0 = time.perf_counter()
    m = load_model(model)
    sized = parse_sized(system, chips)
    s, n = sized.system, sized.n_chips
    r = sized.ranks_per_chip
    seq, batch, tokens = _workload(opts, n)
    jc = int(job_chips(m, n, seq, batch))
    if jc < 1:
        raise NoFeasiblePlanError(f"no chip count <= {n:,} can hold {m.name} with a {batch:,}-sequence batch")
    plan, res = best_plan(m, s, jc, seq, batch, opts)
    step = plan["step_s"]
    busy = 1.0 - plan["breakdown"].get("bubble_s", 0.0) / step
    ev = _scalar(evaluate(m, s, n, jc, plan["tokens_per_s"], plan["mfu"], busy, step, opts, tokens))
    rec, pw, cost = ev["recovery"], ev["power"], ev["cost"]
    lam = sum(rec["rates_per_s"].values())
    power = power_record(pw["it_w"], ev["bases"]["pue"], ev["useful_tokens_per_s"], AT_UTILISATION)
    paper_fmt = s.chip.peak(opts.precision, fallback=True)[0]
    out: dict[str, Any] = {
        "model": m.name, "system": s.name, "chips": n, "job_chips": jc, "idle_chips": n - jc,
        "ranks": n * r, "job_ranks": jc * r, "ranks_per_chip": r,
        "precision": opts.precision, "seq_len": seq, "global_batch": batch, "global_batch_tokens": batch * seq,
        "global_batch_policy": batch_policy(opts, n),
        "tokens": tokens,
        "effective_flops": ev["effective_flops"], "paper_flops": ev["paper_flops"],
        "effective_share_of_paper": ev["effective_flops"] / ev["paper_flops"],
        "effective_flops_basis": f"{MFU_BASIS} peak x MFU x goodput", "paper_flops_basis": peak_basis(paper_fmt),
        "mfu": plan["mfu"], "mfu_basis": MFU_BASIS, "goodput": ev["goodput"],
        "tokens_per_s": plan["tokens_per_s"], "useful_tokens_per_s": ev["useful_tokens_per_s"],
        "time_to_train_s": ev["time_to_train_s"], "time_to_train_days": ev["time_to_train_s"] / 86400.0,
        "run_s": ev["run_s"],
        "job_mtbf_s": rec["job_mtbf_s"], "interruptions_expected": ev["interruptions_expected"],
        "interruptions_per_day": lam * 86400.0,
        "failure_share": {k: v / lam for k, v in rec["rates_per_s"].items()},
        "optics_failure_share": rec["rates_per_s"]["network"] / lam,
        "optical_modules": rec["optical_modules"], "optical_modules_basis": rec["optical_modules_basis"],
        "checkpoint_interval_s": rec["checkpoint_interval_s"], "checkpoint_s": rec["checkpoint_s"],
        "checkpoint_bytes": rec["checkpoint_bytes"], "in_memory_checkpoint": rec["in_memory_checkpoint"],
        "restart_s": rec["restart_s"], "restart_parts_s": rec["restart_parts_s"],
        "lost_work_per_failure_s": rec["lost_work_per_failure_s"],
        "spare_chips": rec["spare_chips"], "spare_pool_nodes": rec["spare_pool_nodes"],
        "spare_available": rec["spare_available"], "checkpoint_rule": rec["interval_rule"],
        **power,
        "power_facility_breakdown_w": pw["parts_w"], "power_facility_by_category_w": pw["category_w"],
        "energy_facility_run_j": ev["energy_run_j"], "energy_it_run_j": pw["it_w"] * ev["run_s"],
        # older names: power_w = power_facility_w, it_power_w = power_it_w, energy_j_per_token =
        # energy_facility_j_per_token, energy_run_j = energy_facility_run_j, power_breakdown_w and
        # power_by_category_w = power_facility_breakdown_w and power_facility_by_category_w
        "power_w": pw["total_w"], "it_power_w": pw["it_w"], "power_breakdown_w": pw["parts_w"],
        "power_by_category_w": pw["category_w"], "utilisation": pw["utilisation"],
        "power_basis": pw["accelerator_basis"],
        "energy_j_per_token": ev["energy_j_per_token"], "energy_run_j": ev["energy_run_j"],
        "cost_per_mtok": cost["cost_per_mtok"], "energy_cost_per_mtok": cost["energy_cost_per_mtok"],
        "capex_usd": cost["capex_usd"], "usd_per_hour": cost["usd_per_hour"], "run_cost_usd": cost["run_cost_usd"],
        "tco_usd": cost["tco_usd"], "energy_share_of_cost": cost["energy_share_of_cost"],
        "cost_bases": ev["bases"],
        "plan": plan["plan"], "step_s": step, "breakdown": plan["breakdown"],
        "memory_per_chip_bytes": plan["memory_per_chip_bytes"],
        "placement": _placement(plan["plan"], s),
    }
    co = params.costs()
    b = ev["bases"]
    out["cost_per_mtok_by_electricity"] = {
        k: float(cost_record(cost["capex_usd"], b["amortisation_years"], pw["total_w"], q.si, b["opex_other_per_year"],
                             ev["useful_tokens_per_s"], ev["run_s"])["cost_per_mtok"])
        for k, q in co.electricity_usd_per_kwh.items()}
    if serve_tpot_s is not None and not serve_tpot_s > 0:
        raise InvalidOptionError(f"--serve-tpot-ms must be > 0, got {serve_tpot_s * 1e3!r}")
    if serve_tokens_per_s_per_chip is not None or serve_tpot_s is not None:
        rate = serve_tokens_per_s_per_chip
        if rate is None:
            rate = decode_tokens_per_s_per_chip(m.name, s.name, n, serve_tpot_s)
        if rate <= 0:
            raise InvalidOptionError(f"--serve-tokens-per-s-per-chip must be > 0, got {rate}")
        en = params.energy()
        pue = ev["bases"]["pue"]
        sv = serving_energy(s, n, rate, en.accelerator_idle_fraction.si, pue)
        it_w = sv["power_w"] / pue
        out["serving"] = sv | {  # power_w and energy_j_per_output_token: older names of the facility keys
            "power_facility_w": sv["power_w"], "power_it_w": it_w, "pue": pue, "power_draw": NAMEPLATE,
            "energy_facility_j_per_output_token": sv["energy_j_per_output_token"],
            "energy_it_j_per_output_token": it_w / sv["output_tokens_per_s"],
            "tpot_s": serve_tpot_s, "throughput_basis": "user input" if serve_tokens_per_s_per_chip is not None else "serving estimator"}
    out["search"] = ({"evaluated": res.evaluated, "feasible": res.feasible, "seconds": res.seconds} if res is not None
                     else {"mode": "fast"})
    out["seconds"] = time.perf_counter() - t0
    return out


def _placement(plan: dict, system: System) -> dict:
    """Where the plan's groups land: reach in chips (the chip-level plan), group sizes in ranks."""
    out = placement(plan | {"tp": plan.get("tp_chips", plan["tp"])}, system)
    tp = out["groups"]["tp"]
    if plan["tp"] > 1 and tp["size"] == 1:  # the ranks of one package: its die-to-die link, no fabric tier
        tp["tier"] = "in-package"
    tp["size"] = plan["tp"]
    out["ranks_per_chip"] = system.chip.ranks
    return out


def decode_tokens_per_s_per_chip(model: str, system: str, chips: int | None, tpot_s: float) -> float:
    """Decode output tokens/s per chip at a TPOT target, from the serving estimator."""
    out = serve(model, system, chips=chips, phase="decode", tpot_slo_s=tpot_s)
    return float(out["decode"]["tokens_per_s_per_chip"])
