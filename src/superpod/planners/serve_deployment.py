"""Turn a deployment (:mod:`.serve_capacity`: workers x layouts x batches) into what the
request-level simulation runs: instances per pool, batch caps and step-time tables of the
plans; :func:`simulate` runs it (``superpod simulate``), from the same options as ``serve`` or
from a deployment file ``serve --save-deployment`` wrote, and finds the capacity by simulation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from superpod.cost.comm import p2p_s
from superpod.cost.memory_serve import kv_bytes_per_token
from superpod.errors import InfeasiblePlanError, InvalidOptionError
from superpod.planners.compare import split_sized
from superpod.planners.serve_cache import check_options, tier
from superpod.planners.serve_capacity import PREFILL_GRID, check_percentile, search_colocated, search_pd
from superpod.planners.serve_deployment_file import read_deployment
from superpod.planners.serve_estimate import setup
from superpod.serving.closed_loop import scheduler
from superpod.serving.context import Ctx
from superpod.serving.decode import decode
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.prefill import prefill
from superpod.serving.caching import PrefixCachePool, PrefixRequests, read_trace
from superpod.serving.requests import arrivals, parse_dist, read_requests
from superpod.serving.simulate import Pools, simulate as run
from superpod.spec.catalog import load_model, load_system

MODES = ("pd", "colocated")
MAX_RUNS = 14  # simulations a capacity search takes, about (for the progress bar)
POLICIES = ("fcfs", "chunked")
WARM_MAX = 1_000_000  # LRU lookups that warm the pool at most (about a second)


def plan_deployment(model: str, system: str, mode: str, input_len: float, output_len: float, *,
                    chips: int | None = None, quant: str | None = None, kv_dtype: str | None = None,
                    framework: str | None = None, tp: int | None = None, moe_ep: int | None = None,
                    moe_tp: int | None = None, dp: int | None = None, mtp: int | None = None,
                    mtp_accept: float | None = None, overlap: bool | None = None, eplb: str = "balanced",
                    ttft_slo_s: float | None = None, tpot_slo_s: float | None = None, slo_percentile: int = 90,
                    cache_hit: float = 0.0) -> tuple[Ctx, dict[str, Any]]:
    """The context and the best integer deployment (:func:`~.serve_capacity.search_pd` or
    :func:`~.serve_capacity.search_colocated`) of ``model`` on ``system``."""
    if mode not in MODES:
        raise InvalidOptionError(f"--mode must be pd or colocated, not {mode!r}")
    pct = check_percentile(slo_percentile)
    s = setup(model, system, chips, quant, kv_dtype, framework, tp, moe_ep, moe_tp, dp, mtp, mtp_accept, overlap, eplb)
    wl = Workload(input_len, output_len, None, cache_hit)
    cpn = load_system(system).chips_per_node
    search = search_pd if mode == "pd" else search_colocated
    return s.c, search(s.c, s.grid_args, s.dp, s.pool_chips, cpn, wl, ttft_slo_s, tpot_slo_s, pct)


def _grid(row: dict[str, Any], batch) -> ServePlan:
    return ServePlan.grid(batch=batch, **{k: [v] for k, v in row.items() if k != "batch"})


def pools_of(c: Ctx, dep: dict[str, Any], input_len: float, output_len: float, policy: str = "fcfs",
             prefill_budget: float | None = None, max_batch: int | None = None) -> Pools:
    """The simulation's view of deployment ``dep``: step-time tables of each pool's plan at its batch.

    ``policy`` fcfs: a prefill worker takes whole waiting prompts up to its token budget (prompts longer
    than the budget run alone in chunks); chunked: prompts are split to fill every step to the budget.
    ``prefill_budget`` (tokens per worker step) and ``max_batch`` (sequences per decode worker) override
    the deployment's."""
    if policy not in POLICIES:
        raise InvalidOptionError(f"--policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    kv_len = input_len + output_len / 2.0
    pool = dep["decode"] if dep["mode"] == "pd" else dep["replicas"]
    d_row, cw = pool["plan"], float(pool["chips_per_worker"])
    slots = int(math.floor(pool["batch"] * cw + 1e-9))
    cap = max(int(max_batch) if max_batch else slots, 1)
    B = np.arange(0, cap + 1, dtype=float)
    table = np.asarray(np.broadcast_to(decode(c, _grid(d_row, np.maximum(B, 1) / cw), kv_len)["step_s"], B.shape)).ravel()
    tps = float(np.ravel(decode(c, ServePlan.one(**(d_row | {"batch": 1})), kv_len)["tokens_per_step"])[0])
    if dep["mode"] == "pd":
        pre = dep["prefill"]
        p_row, pc = pre["plan"], float(pre["chips_per_worker"])
        p_steps = np.ravel(np.broadcast_to(prefill(c, _grid(p_row, PREFILL_GRID), input_len)["step_s"], PREFILL_GRID.shape))
        kv_tok = float(kv_bytes_per_token(c.model, c.kv_el))

        def transfer(s_in):
            return np.asarray(p2p_s(np.asarray(s_in) * kv_tok, pc, c.hw)) / c.model.layers

        budget = float(prefill_budget) if prefill_budget else float(pre["batch"]) * pc
        return Pools("pd", int(pre["workers"]), budget, lambda x: np.interp(x / pc, PREFILL_GRID, p_steps),
                     int(pool["workers"]), cap, table, tps, transfer, chunked=policy == "chunked")
    p_steps = np.ravel(np.broadcast_to(prefill(c, _grid(d_row, PREFILL_GRID), input_len)["step_s"], PREFILL_GRID.shape))
    # the framework's per-iteration token budget of one scheduler (calibration/frameworks/scheduling.toml)
    budget = float(prefill_budget) if prefill_budget else scheduler(c.fw.name).budget(c.hw.hbm_bytes, float(d_row.get("dp", 1)))
    return Pools("colocated", 0, budget, lambda x: np.interp(x / cw, PREFILL_GRID, p_steps), int(pool["workers"]), cap,
                 table, tps, lambda s: np.zeros_like(np.asarray(s, dtype=float)), chunked=True)


def build_pools(model: str, system: str, mode: str, input_len: float, output_len: float, **opts: Any) -> tuple[Pools, dict]:
    """Plan the deployment (:func:`plan_deployment`) and tabulate its step times; ``info`` states the
    instances of each pool and the deployment."""
    c, dep = plan_deployment(model, system, mode, input_len, output_len, **opts)
    pools = pools_of(c, dep, input_len, output_len)
    return pools, info_of(dep)


def info_of(dep: dict[str, Any]) -> dict[str, Any]:
    if dep["mode"] == "pd":
        p, d = dep["prefill"], dep["decode"]
        info = {"prefill_instances": p["workers"], "prefill_chips_per_instance": p["chips_per_worker"],
                "decode_instances": d["workers"], "decode_chips_per_instance": d["chips_per_worker"],
                "decode_batch_cap": int(math.floor(d["batch"] * d["chips_per_worker"] + 1e-9))}
    else:
        r = dep["replicas"]
        info = {"instances": r["workers"], "chips_per_instance": r["chips_per_worker"],
                "batch_cap": int(math.floor(r["batch"] * r["chips_per_worker"] + 1e-9))}
    return info | {"deployment": dep}


def default_mode(model: str) -> str:
    """Disaggregated pools for MoE models (as DeepSeek and CloudMatrix-Infer deploy them), co-located otherwise."""
    return "pd" if load_model(model).moe is not None else "colocated"


def _slo_ok(out: dict[str, Any], pct: int, ttft_slo_s, tpot_slo_s) -> bool:
    key = f"p{pct}"
    return ((ttft_slo_s is None or out["steady_ttft_s"][key] <= ttft_slo_s)
            and (tpot_slo_s is None or out["steady_tpot_s"][key] <= tpot_slo_s))


def capacity_by_simulation(pools: Pools, requests: int, idist, odist, seed: int, pct: int, ttft_slo_s, tpot_slo_s,
                  guess: float, tol: float = 0.02, progress=None) -> tuple[float, dict[str, Any]]:
    """The highest Poisson rate whose steady-state p-th percentile TTFT and TPOT meet the targets,
    by bisection on simulations of ``requests`` requests (each at least four request lifetimes long)."""
    if ttft_slo_s is None and tpot_slo_s is None:
        raise InvalidOptionError("--find-capacity needs --ttft-slo-ms and/or --tpot-slo-ms (the targets to hold)")

    def ok(lam):
        out = run(pools, lam, requests, idist, odist, seed, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s)
        life = out["e2e_s"]["p50"]
        need = int(min(max(requests, 4 * life * lam), 400_000))
        if need > requests:
            out = run(pools, lam, need, idist, odist, seed, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s)
        if progress is not None:
            progress()
        return _slo_ok(out, pct, ttft_slo_s, tpot_slo_s), out

    lo, hi = guess / 1.5, guess * 1.5
    good, last = ok(lo)
    while not good and lo > guess * 1e-4:
        hi, lo = lo, lo / 2
        good, last = ok(lo)
    if not good:
        raise InfeasiblePlanError("the deployment misses the targets even at a trickle of requests: relax the targets")
    best_out = last
    while True:
        bad, out = ok(hi)
        if not bad:
            break
        lo, best_out, hi = hi, out, hi * 1.5
    while hi / lo > 1 + tol:
        mid = math.sqrt(lo * hi)
        good, out = ok(mid)
        if good:
            lo, best_out = mid, out
        else:
            hi = mid
    return lo, best_out


def simulate(model: str, system: str, rate: float | None = None, requests: int = 2000, *, input_dist: str | None = None,
             output_dist: str | None = None, input_len: float = 4096, output_len: float = 1024,
             mode: str | None = None, chips: int | None = None, quant: str | None = None, kv_dtype: str | None = None,
             tp: int | None = None, moe_ep: int | None = None, moe_tp: int | None = None, dp: int | None = None,
             overlap: bool | None = None, eplb: str = "balanced",
             mtp: int | None = None, mtp_accept: float | None = None, tpot_slo_s: float | None = None,
             ttft_slo_s: float | None = None, slo_percentile: int = 90, framework: str | None = None, seed: int = 0,
             deployment: str | Path | None = None, requests_file: str | Path | None = None, arrival: str = "poisson",
             policy: str = "fcfs", prefill_budget: float | None = None, max_batch: int | None = None,
             find_capacity: bool = False, progress=None, timeline: bool = False, cache_hit: float = 0.0,
             cache_prefixes: int | None = None, cache_zipf: float | None = None, cache_pool_bytes: float | None = None,
             cache_affinity: bool = False, cache_trace: str | Path | None = None) -> dict[str, Any]:
    """The ``superpod simulate`` record: latency percentiles, throughput, goodput, queues and utilisation of
    ``requests`` arrivals at ``rate``/s (Poisson or bursty, or a trace file's) on the deployment
    :func:`plan_deployment` plans or ``deployment`` (a file) gives; ``find_capacity``: the highest rate
    meeting the targets at the percentile (``capacity_requests_per_s``). ``progress(done, n)`` is called
    as requests finish. ``cache_*`` (as serve's): the caching tier as a third resource (:func:`cache_hook`)."""
    system, chips = split_sized(system, chips)  # ``name@N`` sizes the system
    pct = check_percentile(slo_percentile)
    check_options(cache_hit, cache_prefixes, cache_zipf, cache_pool_bytes, cache_affinity, cache_trace)
    cached = cache_hit > 0 or cache_trace is not None
    if cached:
        if find_capacity:
            raise InvalidOptionError("--find-capacity does not take the caching tier yet: drop the --cache-* options")
    if deployment is not None:
        f = read_deployment(deployment)
        for what, given, saved in (("MODEL", model, f["model"]), ("SYSTEM", system, f["system"])):
            if given != saved:
                raise InvalidOptionError(f"{deployment} deploys {saved!r}, not {what} {given!r}: give {saved}")
        input_len, output_len = f.get("input_len", input_len), f.get("output_len", output_len)
        chips = f.get("chips")
        dep = f["deployment"]
        c = setup(model, system, f.get("chips"), f.get("quant"), f.get("kv_dtype"), f.get("framework"),
                  None, None, None, None, None, None, None, "balanced").c
        mode = dep["mode"]
    else:
        mode = mode or default_mode(model)
        c, dep = plan_deployment(model, system, mode, input_len, output_len, chips=chips, quant=quant,
                                 kv_dtype=kv_dtype, framework=framework, tp=tp, moe_ep=moe_ep, moe_tp=moe_tp, dp=dp,
                                 mtp=mtp, mtp_accept=mtp_accept, overlap=overlap, eplb=eplb, ttft_slo_s=ttft_slo_s,
                                 tpot_slo_s=tpot_slo_s, slo_percentile=pct)
    pools = pools_of(c, dep, input_len, output_len, policy, prefill_budget, max_batch)
    idist, odist = parse_dist(input_dist, input_len), parse_dist(output_dist, output_len)
    extra: dict[str, Any] = {}
    if find_capacity:
        if requests_file is not None:
            raise InvalidOptionError("--find-capacity scales a synthetic arrival rate: drop --requests-file")
        guess = float(dep.get("capacity_requests_per_s") or rate or 1.0)
        runs = [0]

        def step():
            runs[0] += 1
            if progress is not None:
                progress(runs[0], max(runs[0] + 1, MAX_RUNS))

        lam, out = capacity_by_simulation(pools, requests, idist, odist, seed, pct, ttft_slo_s, tpot_slo_s, guess,
                                          progress=step)
        if progress is not None:
            progress(runs[0], runs[0])
        extra = {"capacity_requests_per_s": lam, "capacity_output_tokens_per_s": out["throughput_output_tokens_per_s"],
                 "analytic_capacity_requests_per_s": dep.get("capacity_requests_per_s")}
        rate = lam
    else:
        if requests_file is None and rate is None:
            raise InvalidOptionError("give --rate (requests/s), --requests-file or --find-capacity")
        trace = read_requests(requests_file) if requests_file is not None else None
        times = trace[0] if trace is not None else arrivals(arrival, rate, requests, seed)
        n = requests if times is None else len(times)
        if trace is not None:
            rate = n / max(float(times[-1]), 1e-9)
        lengths = (trace[1], trace[2]) if trace is not None else None
        hook = cache_hook(c, dep, pools, system, chips, input_len, output_len, n, seed, cache_hit, cache_prefixes, cache_zipf,
                          cache_pool_bytes, cache_affinity, cache_trace) if cached else None
        out = run(pools, rate, n, idist, odist, seed, progress=progress, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s,
                  timeline=timeline, arrival_s=times, lengths=lengths, cache=hook[0] if hook else None)
        if hook:
            base = run(pools, rate, n, idist, odist, seed, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s, arrival_s=times,
                       lengths=lengths)
            out["cache"] |= hook[1] | {
                "ttft_saved_s": base["ttft_s"]["mean"] - out["ttft_s"]["mean"],
                "ttft_p50_saved_s": base["ttft_s"]["p50"] - out["ttft_s"]["p50"],
                "ttft_no_cache_s": base["ttft_s"]}
    out |= extra
    out["model"], out["system"] = c.model.name, system
    out["mode"] = mode
    out["slo_percentile"] = pct
    out["policy"] = policy
    out["deployment"] = {k: v for k, v in info_of(dep).items() if k != "deployment"} | {"pools": _public(dep)}
    return out


def _public(dep: dict[str, Any]) -> dict[str, Any]:
    from superpod.planners.serve_capacity import deployment_record

    return deployment_record(dep)


def cache_hook(c: Ctx, dep: dict[str, Any], pools: Pools, system: str, chips: int | None, input_len: float, output_len: float, n: int,
               seed: int, cache_hit: float, cache_prefixes, cache_zipf, cache_pool_bytes, cache_affinity,
               cache_trace) -> tuple[PrefixRequests, dict[str, Any]]:
    """The caching tier of ``serve`` (:func:`~.serve_cache.tier`: pool capacity, path, served hit rate)
    as a per-request LRU pool: prefix ids from a Zipf(``cache_zipf``) draw over ``cache_prefixes`` (a
    stream apart from the lengths', so the run without the tier sees the same requests), the pool warmed
    to its steady state first (serve's hit rate is LRU's stationary one); or the ids of ``cache_trace``'s
    rows in order (cycled) from a cold pool, as serve replays it; no working set given: every prefix is
    resident. A prefill instance fetches over its chips' paths together (the KV split evenly over them)."""
    pd = dep["mode"] == "pd"
    inst = dep["prefill"] if pd else dep["replicas"]
    t = tier(c, system, chips, input_len, output_len, None,
             cache_hit, cache_prefixes, cache_zipf, cache_pool_bytes, cache_affinity, cache_trace)
    kv_tok = float(kv_bytes_per_token(c.model, c.kv_el))
    inst_Bps = t.chip_Bps * float(inst["chips_per_worker"]) if t.host is not None else float("inf")
    resident = t.host is None and cache_pool_bytes is None
    capacity = float("inf") if resident else t.pool_bytes
    budget = pools.prefill_budget_tokens
    recompute = float(pools.prefill_step_s(np.array([budget]))[0]) / budget
    pool = PrefixCachePool(capacity, kv_tok, inst_Bps, recompute)
    rng = np.random.default_rng([seed, 16])
    notes = []
    if cache_trace is not None:
        rows = read_trace(cache_trace)
        ids = [rows[i % len(rows)][0] for i in range(n)]
        share = np.array([rows[i % len(rows)][1] / rows[i % len(rows)][2] for i in range(n)])
        notes.append(f"prefix ids and shares from {cache_trace} in order (cycled over {len(rows):,} rows), cold pool")
    elif cache_prefixes is None or resident:
        ids, share = None, np.asarray(cache_hit)
        notes.append("no working set given (or no pool): every prefix taken as resident")
    else:
        N = int(cache_prefixes)
        pop = np.arange(1, N + 1, dtype=float) ** -float(cache_zipf or 0.0)
        pop /= pop.sum()
        ids = rng.choice(N, size=n, p=pop).tolist()
        share = np.asarray(cache_hit)
        slots = capacity / max(t.prefix_bytes, 1.0)
        warm_tokens = float(input_len) * float(cache_hit)
        if slots >= N:
            for k in range(N - 1, -1, -1):
                pool.lookup(k, warm_tokens)
        else:
            for k in rng.choice(N, size=int(min(max(5 * slots, 2000), WARM_MAX)), p=pop).tolist():
                pool.lookup(k, warm_tokens)
        pool.hits = pool.misses = 0
        pool.fetched_bytes = 0.0
        notes.append(f"prefix ids drawn from {N:,} prefixes (Zipf {cache_zipf or 0:g}), pool warmed to LRU's steady state")
    extra = {"stated_hit_rate": t.stated_hit, "serve_hit_rate": t.served_hit, "pool_bytes": t.pool_bytes,
             "pool": None if t.host is None else {"technology": t.host.technology, "path": t.host.path,
                                                  "pooled": t.host.pooled, "nodes": t.pool_nodes},
             "pool_path_Bps": inst_Bps * float(inst["workers"]) if t.host is not None else None,
             "notes": list(t.notes) + notes + ["prefill computes only the tokens the pool misses (attention over the "
                                               "cached prefix not added); KV to decode still moves the whole prompt"]}
    return PrefixRequests(pool, ids, share, int(c.model.layers)), extra
