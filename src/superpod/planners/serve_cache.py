"""``superpod serve``'s caching tier: the ``cache`` object of a serving record (issue 16).

Before pricing, :func:`tier` works out what the pool can hold (host DRAM x cache share x the
nodes it spans: the whole scale-up domain for a pooled tier such as CloudMatrix 384's EMS, one
node for a per-node tier such as NVL72's Grace memory or an HGX server's DDR5) and so the hit
rate it serves: the stated ``--cache-hit`` times the share of reuses LRU finds resident
(:mod:`superpod.serving.caching`). The phases are priced at that served rate.

After pricing, :func:`record` sets the prefill pool's plan beside the same plan recomputing
every prefix (the same requests per step): the fetch over the pool path (layer-wise, never
above the path's bandwidth), fetch vs recompute (the cheaper wins, and superpod says which),
TTFT saved, prefill chips saved for the same load, the pool bandwidth used, the cost per
million tokens with and without the tier (amortised capex + facility energy + other opex,
``catalog/scale/cost.toml``), and the model-caching figures: the time to load an instance's
weights from the pool vs from storage. Hit rate 0 leaves every phase exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from superpod.cost.memory_serve import kv_bytes_per_token
from superpod.errors import InvalidOptionError, SuperpodError
from superpod.planners.conventions import default_pue
from superpod.planners.serve_search import PREFILL_TOKENS, best, grid_for
from superpod.scaling.economics import YEAR_S, capex_usd, usd_per_s
from superpod.scaling.params import costs
from superpod.serving.caching import MAX_PREFIXES, capacity_hit_ratio, lru_trace_hit, read_trace, step_with_fetch, weight_load_s
from superpod.serving.context import Ctx
from superpod.serving.memory import kv_bytes_per_sequence_token
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.prefill import prefill
from superpod.spec.catalog import load_system
from superpod.spec.host_memory import HostMemory
from superpod.spec.system import System


@dataclass(frozen=True)
class Tier:
    """The caching tier of one serving evaluation, as far as it is known before pricing."""

    system: System
    host: HostMemory | None
    stated_hit: float
    served_hit: float
    capacity_ratio: float
    pool_bytes: float
    pool_nodes: int
    prefix_tokens: float
    prefix_bytes: float
    working_set_bytes: float | None
    chip_Bps: float
    workload: Workload
    notes: list[str] = field(default_factory=list)


def check_options(cache_hit: float, cache_prefixes, cache_zipf, cache_pool_bytes, cache_affinity: bool = False,
                  cache_trace=None) -> None:
    """Refuse cache options that cannot apply (never silently ignored)."""
    if cache_trace is not None:
        for name, v in (("--cache-hit", cache_hit or None), ("--cache-prefixes", cache_prefixes), ("--cache-zipf", cache_zipf)):
            if v is not None:
                raise InvalidOptionError(f"--cache-trace gives the hit rate and the working set: leave out {name}")
        return
    if cache_prefixes is not None and (isinstance(cache_prefixes, bool) or int(cache_prefixes) != cache_prefixes
                                       or not 1 <= cache_prefixes <= MAX_PREFIXES):
        raise InvalidOptionError(f"--cache-prefixes must be a whole number in [1, {MAX_PREFIXES:,}], got {cache_prefixes!r}")
    if cache_zipf is not None and not 0.0 <= cache_zipf <= 5.0:
        raise InvalidOptionError(f"--cache-zipf must be in [0, 5], got {cache_zipf!r}")
    if cache_pool_bytes is not None and not cache_pool_bytes > 0:
        raise InvalidOptionError(f"--cache-pool-gb must be > 0, got {cache_pool_bytes!r}")
    given = [n for n, v in (("--cache-prefixes", cache_prefixes), ("--cache-zipf", cache_zipf),
                            ("--cache-pool-gb", cache_pool_bytes), ("--cache-affinity", cache_affinity or None))
             if v is not None]
    if given and not cache_hit > 0:
        raise InvalidOptionError(f"{', '.join(given)} describe the prefix cache: give --cache-hit > 0 as well")
    if cache_zipf is not None and cache_prefixes is None:
        raise InvalidOptionError("--cache-zipf needs --cache-prefixes (how many prefixes the popularity spans)")


def tier(c: Ctx, system: str, chips: int | None, input_len: float, output_len: float, kv_len: float | None,
         cache_hit: float, cache_prefixes: int | None = None, cache_zipf: float | None = None,
         cache_pool_bytes: float | None = None, cache_affinity: bool = False, cache_trace=None) -> Tier:
    """The pool, its capacity and the hit rate it serves (``cache_hit`` itself when no working set is given;
    with ``cache_trace`` the LRU replay of the trace's prefixes at the pool's capacity)."""
    check_options(cache_hit, cache_prefixes, cache_zipf, cache_pool_bytes, cache_affinity, cache_trace)
    sysm = load_system(system)
    host = sysm.host_memory
    sized = sysm.at(chips)
    notes: list[str] = []
    per_node = sysm.chips_per_node
    wants = cache_hit > 0 or cache_trace is not None
    if host is None:
        pool_nodes, pool, chip_Bps = 0, 0.0, float("nan")
        if wants:
            notes.append(f"{sysm.name} has no [host_memory] in the catalog: hits are taken as resident in HBM "
                         "(no pool capacity, fetch or eviction modelled)")
    else:
        if host.pooled:
            domain_nodes = max(int(sysm.scaleup_domain // per_node), 1)
            pool_nodes = min(sized.nodes, domain_nodes)
        elif cache_affinity:
            pool_nodes = sized.nodes
            if wants and sized.nodes > 1:
                notes.append("per-node tier with --cache-affinity: requests go to the node holding their prefix, "
                             "so the nodes' caches add up (load balance across nodes not modelled)")
        else:
            pool_nodes = 1
            if wants and sized.nodes > 1:
                notes.append("per-node tier: each node caches for every prefix (requests are not routed by prefix; "
                             "--cache-affinity routes them)")
        pool = host.cache_bytes_per_node() * pool_nodes
        chip_Bps = host.chip_Bps(per_node)
    if cache_pool_bytes is not None:
        pool = float(cache_pool_bytes)
        notes.append("pool capacity given by --cache-pool-gb")
    kv_tok = float(kv_bytes_per_token(c.model, c.kv_el))
    if cache_trace is not None:
        return _trace_tier(sysm, host, c, cache_trace, pool, pool_nodes, chip_Bps, kv_tok, input_len, output_len,
                           kv_len, notes)
    prefix_tokens = float(input_len) * float(cache_hit)
    prefix_bytes = prefix_tokens * kv_tok
    ratio = 1.0
    working = None
    if cache_prefixes is not None and (host is not None or cache_pool_bytes is not None):
        working = prefix_bytes * cache_prefixes
        ratio = float(capacity_hit_ratio(pool, prefix_bytes, int(cache_prefixes), cache_zipf))
        if ratio < 1.0:
            notes.append(f"the pool holds {pool / max(working, 1.0):.0%} of the working set: LRU finds "
                         f"{ratio:.1%} of reuses resident")
    served = float(cache_hit) * ratio if ratio < 1.0 else float(cache_hit)
    wl = Workload(input_len, output_len, kv_len, served)
    return Tier(sysm, host, float(cache_hit), served, ratio, pool, pool_nodes, prefix_tokens, prefix_bytes, working,
                chip_Bps, wl, notes)


#: the highest served hit rate (serve refuses --cache-hit 1: a prompt has at least one new token)
MAX_HIT = 0.999


def _trace_tier(sysm, host, c, path, pool, pool_nodes, chip_Bps, kv_tok, input_len, output_len, kv_len, notes) -> Tier:
    """The tier from a trace: the hit rate of an exact LRU replay from a cold pool, and of an unbounded one."""
    reqs = read_trace(path)
    served = lru_trace_hit(reqs, pool / kv_tok) if host is not None or pool > 0 else lru_trace_hit(reqs, float("inf"))
    unbounded = lru_trace_hit(reqs, float("inf"))
    distinct: dict[str, float] = {}
    for pid, pre, _ in reqs:
        distinct[pid] = max(distinct.get(pid, 0.0), pre)
    mean_prompt = sum(r[2] for r in reqs) / len(reqs)
    notes.append(f"hit rate from {len(reqs):,} requests of {path} replayed through LRU from a cold pool "
                 f"(mean prompt {mean_prompt:,.0f} tokens; the plan is sized for --input-len {input_len:,.0f})")
    served = min(served, MAX_HIT)
    prefix_tokens = float(input_len) * served
    wl = Workload(input_len, output_len, kv_len, served)
    return Tier(sysm, host, unbounded, served, served / unbounded if unbounded > 0 else 1.0, pool, pool_nodes,
                prefix_tokens, prefix_tokens * kv_tok, sum(distinct.values()) * kv_tok, chip_Bps, wl, notes)


def _usd_per_chip_s(t: Tier) -> tuple[float, str]:
    """Amortised capex + facility electricity + other opex of one chip, USD per second."""
    k = costs()
    sized = t.system.at(t.system.size)
    capex, basis = capex_usd(t.system, 1.0, k)
    it_w = sum(sized.power_parts_w().values()) / sized.n_chips
    price, _ = k.price_usd_per_kwh(None)
    rate = usd_per_s(float(capex), k.amortisation.si / YEAR_S, it_w * default_pue(), price,
                     k.opex_other_per_year.si)
    return float(rate), basis


def _f(x) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def record(t: Tier, c: Ctx, out: dict[str, Any], rows: dict[str, dict], phase: str, rate: float | None,
           search: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record's ``cache`` object (see the module docstring; SI units)."""
    h = t.served_hit
    host = t.host
    rec: dict[str, Any] = {
        "stated_hit_rate": t.stated_hit, "hit_rate": h, "capacity_hit_ratio": t.capacity_ratio,
        "pool": None if host is None else {"technology": host.technology, "path": host.path, "pooled": host.pooled,
                                           "nodes": t.pool_nodes},
        "pool_bytes": t.pool_bytes, "working_set_bytes": t.working_set_bytes,
        "prefix_tokens_per_request": t.prefix_tokens, "prefix_bytes_per_request": t.prefix_bytes,
        "pool_path_Bps_per_chip": t.chip_Bps,
        "decision": "none", "fetch_s_per_request": 0.0, "pool_Bps": 0.0, "pool_path_Bps": 0.0,
        "ttft_saved_s": 0.0, "prefill_chips_saved": 0.0, "notes": list(t.notes),
    }
    if "prefill" in rows:
        rec |= _prefill_side(t, c, out, rows["prefill"], phase, rate, search)
    elif h > 0:
        rec["notes"].append(f"--phase {phase}: the prefill pool is not priced, so TTFT and prefill chips saved are not split out")
    rec |= _weights(t, out)
    return rec


def _no_cache(c: Ctx, row: dict[str, Any], L: float, h: float, search: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, float], str]:
    """The prefill plan and values with no cache: today's search at hit 0 (``search`` holds its
    grid arguments, limits and fixed batch), else the given plan's requests per step recomputed."""
    if search is not None:
        batch = [search["batch"]] if search.get("batch") is not None else list(PREFILL_TOKENS)
        try:
            g, valid, _ = grid_for(c, batch=batch, **search["grid_args"])
            ev, key = (search.get("rank") or (lambda e: (e, "tokens_per_s_per_chip")))(lambda g: prefill(c, g, L, 0.0))
            i, fp, flat = best(ev, g, key, valid,
                               search.get("limits") or {}, "prefill weights and batch KV", c)
            row0, v0 = fp.row(i), {k: _f(v[i]) for k, v in flat.items()}
            if search.get("policy") is not None:  # serve's prefill policy without a TTFT target
                row0, v0 = search["policy"](row0, v0)
                v0 = {k: _f(x) for k, x in v0.items()}
            return row0, v0, "the plan superpod picks with no cache"
        except SuperpodError:
            pass
    r0 = row | {"batch": float(row["batch"]) / (1.0 - h)}
    v0 = prefill(c, ServePlan.one(**r0), L, 0.0)
    return r0, {k: _f(v) for k, v in v0.items()}, "the cached plan's requests per step, every prefix recomputed"


def _prefill_side(t: Tier, c: Ctx, out: dict[str, Any], row: dict[str, Any], phase: str, rate: float | None,
                  search: dict[str, Any] | None) -> dict[str, Any]:
    """Fetch vs recompute for the no-cache plan's requests per step, and what the tier saves."""
    h, m = t.served_hit, c.model
    L, O = float(t.workload.input_len), float(t.workload.output_len)
    if h > 0:
        row0, v0, basis0 = _no_cache(c, row, L, h, search)
    else:
        row0, v0, basis0 = row, {k: float(out["prefill"][k]) for k in ("step_s", "ttft_s", "tokens_per_s_per_chip")}, \
            "the plan superpod picks with no cache"
    step0, ttft0, x0 = v0["step_s"], v0["ttft_s"], v0["tokens_per_s_per_chip"]
    T0 = float(row0["batch"])
    seqs = T0 / L  # requests per step per chip, kept with the cache
    rowc = row0 | {"batch": max(T0 * (1.0 - h), 1.0)}
    plan = ServePlan.one(**rowc)
    if h > 0:
        vh = prefill(c, plan, L, h)
        step_h, ttft_h = _f(vh["step_s"]), _f(vh["ttft_s"])
    else:
        step_h, ttft_h = step0, ttft0
    kv_tok = _f(kv_bytes_per_sequence_token(m, plan, c.kv_el, c.dev))  # this chip's share, all layers
    fetch_bytes_step = seqs * L * h * kv_tok
    usable = t.host is not None and h > 0 and t.chip_Bps > 0
    fetch_step = fetch_bytes_step / t.chip_Bps if usable else 0.0
    step_t = float(step_with_fetch(step_h, fetch_step, m.layers)) if usable else step_h
    decision = "none" if h == 0 else ("resident" if not usable else ("fetch" if step_t <= step0 else "recompute"))
    notes = [f"TTFT and prefill throughput with and without the tier are for the same requests per step ({basis0})"] if h > 0 else []
    if decision == "recompute":
        notes.append(f"fetching a step's prefixes ({fetch_step * 1e3:,.1f} ms over {t.host.path}) costs more than "
                     f"recomputing them: superpod recomputes (the cache figures are the recompute figures; the phase "
                     "records are priced as if the hits were resident in HBM)")
        step_t, fetch_step, fetch_bytes_step = step0, 0.0, 0.0
    chunks = ttft_h / step_h if step_h > 0 else 1.0
    ttft_t = ttft0 if decision == "recompute" else chunks * step_t
    x_t = x0 if decision == "recompute" else seqs * L / step_t
    # prefill chips the same load needs without the tier, and with it
    if phase == "pd" and rate is not None:
        n0, basis = rate * L / x0, f"--rate {rate:g}/s"
    elif phase == "pd":
        d = out["decode"]
        cs_p, cs_d = L / x0, O / float(d["tokens_per_s_per_chip"])
        n0, basis = cs_p / (cs_p + cs_d) * out["system_chips"], f"the {out['system_chips']:,}-chip deployment's load"
    else:
        n0, basis = float(out["chips"]), f"the {out['chips']:,}-chip prefill pool's load"
    n_t = n0 if x_t == x0 else n0 * x0 / x_t  # (recompute: the same chips, exactly)
    usd, capex_basis = _usd_per_chip_s(t)
    res = {
        "decision": decision, "fetch_s_per_request": (L * h * kv_tok / t.chip_Bps) if decision == "fetch" and usable else 0.0,
        "fetch_bytes_per_step_per_chip": fetch_bytes_step, "fetch_s_per_step": fetch_step,
        "prefill_step_s": step_t, "prefill_step_no_cache_s": step0,
        "ttft_s": ttft_t, "ttft_no_cache_s": ttft0, "ttft_saved_s": ttft0 - ttft_t,
        "prefill_tokens_per_s_per_chip": x_t, "prefill_tokens_per_s_per_chip_no_cache": x0,
        "prefill_chips_no_cache": n0, "prefill_chips": n_t, "prefill_chips_saved": n0 - n_t, "prefill_chips_basis": basis,
        "pool_Bps": n_t * fetch_bytes_step / step_t if step_t > 0 else 0.0,
        "pool_path_Bps": n_t * t.chip_Bps if usable else 0.0,
        "usd_per_chip_hour": usd * 3600.0, "capex_basis": capex_basis,
    }
    if phase == "pd":
        cs_d = O / float(out["decode"]["tokens_per_s_per_chip"])
        res["cost_basis"] = "output tokens, both pools"
        res["cost_per_mtok_usd"] = 1e6 * usd * (L / x_t + cs_d) / O
        res["cost_per_mtok_usd_no_cache"] = 1e6 * usd * (L / x0 + cs_d) / O
        res["pd_output_tokens_per_s_per_chip"] = O / (L / x_t + cs_d)
    else:
        res["cost_basis"] = "input tokens, prefill pool"
        res["cost_per_mtok_usd"] = 1e6 * usd / x_t
        res["cost_per_mtok_usd_no_cache"] = 1e6 * usd / x0
    res["cost_saved_per_mtok_usd"] = res["cost_per_mtok_usd_no_cache"] - res["cost_per_mtok_usd"]
    res["notes"] = list(t.notes) + notes
    return res


def _weights(t: Tier, out: dict[str, Any]) -> dict[str, Any]:
    """Model caching: an instance's cold start from the pool vs from storage."""
    host = t.host
    phase = next((ph for ph in ("decode", "prefill", "both") if ph in out), None)
    if host is None or phase is None:
        return {"weight_load_s_pool": None, "weight_load_s_storage": None, "weight_load_instance": None}
    per_node = t.system.chips_per_node
    w_chip = float(out[phase]["weight_bytes_per_chip"])
    inst_chips = float(out[phase].get("chips", 1.0))
    storage = w_chip * min(per_node, inst_chips) / host.storage_Bps_per_node.si
    from_pool: float | None = float(weight_load_s(w_chip, t.chip_Bps))
    scope = "any chip of the domain (pooled)"
    if not host.pooled:
        if w_chip * per_node <= host.cache_bytes_per_node():
            scope = "a warm node only (per-node tier: the node's own host memory holds its chips' weights)"
        else:
            from_pool, scope = None, "per-node tier too small for the node's weights"
    return {"weight_load_s_pool": from_pool, "weight_load_s_storage": storage,
            "weight_load_instance": {"phase": phase, "chips": inst_chips, "weight_bytes_per_chip": w_chip,
                                     "pool_scope": scope}}


def _ms(s: float) -> str:
    return f"{s * 1e3:,.1f} ms"


def table_rows(cache: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Rows for ``superpod serve``'s table (none when no prefix is cached: the table stays as it was)."""
    if not cache or not cache.get("stated_hit_rate"):
        return []
    pool = cache["pool"]
    where = "no host-memory tier (hits resident in HBM)" if pool is None else (
        f"{cache['pool_bytes'] / 1e12:,.2f} TB, {pool['technology']} over {pool['path']}, "
        f"{'pooled over ' + str(pool['nodes']) + ' nodes' if pool['pooled'] else 'per node'}")
    rows = [("cache hit rate (served / stated)", f"{cache['hit_rate']:.1%} / {cache['stated_hit_rate']:.1%}"),
            ("cache pool", where)]
    if "ttft_no_cache_s" in cache:
        rows += [("cache: fetch or recompute", f"{cache['decision']} (fetch {_ms(cache['fetch_s_per_request'])} per request)"),
                 ("cache: TTFT saved", f"{_ms(cache['ttft_saved_s'])} ({_ms(cache['ttft_no_cache_s'])} -> {_ms(cache['ttft_s'])})"),
                 ("cache: prefill chips saved", f"{cache['prefill_chips_saved']:,.1f} of {cache['prefill_chips_no_cache']:,.1f}"),
                 ("cache: pool bandwidth used", f"{cache['pool_Bps'] / 1e9:,.1f} GB/s of {cache['pool_path_Bps'] / 1e9:,.0f} GB/s"),
                 (f"cache: cost per 1M {cache['cost_basis'].split(',')[0]}",
                  f"${cache['cost_per_mtok_usd']:.3g} (no cache ${cache['cost_per_mtok_usd_no_cache']:.3g})")]
    return rows


def explain(cache: dict[str, Any] | None, system: str) -> str:
    """``serve --explain``'s lines on the caching tier: the pool, the hit rate, fetch vs recompute, model caching."""
    if not cache:
        return ""
    pool = cache["pool"]
    lines = [f"{system} caching tier:"]
    if pool is None:
        lines.append("  no [host_memory] in the catalog: no pool, fetch or eviction modelled")
    else:
        lines.append(f"  pool: {cache['pool_bytes'] / 1e12:,.2f} TB of {pool['technology']} "
                     f"({'pooled over ' + str(pool['nodes']) + ' nodes' if pool['pooled'] else 'one node'}), "
                     f"{cache['pool_path_Bps_per_chip'] / 1e9:,.0f} GB/s per chip over {pool['path']}")
    if cache["stated_hit_rate"]:
        ws = cache["working_set_bytes"]
        lines.append(f"  hit rate {cache['hit_rate']:.1%} = stated {cache['stated_hit_rate']:.1%} x "
                     f"{cache['capacity_hit_ratio']:.1%} of reuses resident under LRU"
                     + (f" (working set {ws / 1e12:,.2f} TB)" if ws else " (working set not given: taken to fit)"))
        if "ttft_no_cache_s" in cache:
            lines.append(f"  prefix {cache['prefix_tokens_per_request']:,.0f} tokens = "
                         f"{cache['prefix_bytes_per_request'] / 1e6:,.1f} MB of KV per request; per prefill step "
                         f"{cache['fetch_bytes_per_step_per_chip'] / 1e9:,.2f} GB per chip in {_ms(cache['fetch_s_per_step'])}, "
                         f"loaded layer by layer under {_ms(cache['prefill_step_s'])} of compute")
            lines.append(f"  {cache['decision']}: step {_ms(cache['prefill_step_s'])} with the tier vs "
                         f"{_ms(cache['prefill_step_no_cache_s'])} recomputing every prefix (same requests per step)")
            lines.append(f"  prefill chips for {cache['prefill_chips_basis']}: {cache['prefill_chips_no_cache']:,.1f} -> "
                         f"{cache['prefill_chips']:,.1f}; cost ${cache['cost_per_mtok_usd_no_cache']:.3g} -> "
                         f"${cache['cost_per_mtok_usd']:.3g} per 1M {cache['cost_basis']} at "
                         f"${cache['usd_per_chip_hour']:.2f} per chip-hour")
    for note in cache["notes"]:
        lines.append(f"  note: {note}")
    inst = cache.get("weight_load_instance")
    if inst:
        pool_s = cache["weight_load_s_pool"]
        lines.append(f"  model caching: a {inst['phase']} instance ({inst['chips']:,.0f} chips, "
                     f"{inst['weight_bytes_per_chip'] / 1e9:,.1f} GB per chip) loads its weights in "
                     + (f"{pool_s:,.2f} s from the pool ({inst['pool_scope']})" if pool_s is not None else
                        f"- from the pool ({inst['pool_scope']})")
                     + f" vs {cache['weight_load_s_storage']:,.2f} s from storage")
    return "\n".join(lines)
