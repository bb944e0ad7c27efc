"""Serve: decode throughput per chip against tokens/s per user over a range of TPOT targets (one curve per
system), the plan chosen at each target, a request-level simulation's TTFT/TPOT distributions
(:func:`superpod.simulate`), and the integer deployment ``serve --phase pd`` builds under the TTFT/TPOT
targets (issue 12): its Pareto frontier (tokens/s per user vs per chip, the chosen point starred), its
workers, and the fleet and cost of a target output rate at an electricity price.

The tab is a list of sections (:data:`SECTIONS`), each ``f(api, model, systems, **ctx) -> View``: a new
serving view (a Pareto frontier, a chosen deployment, fleet size and cost) is one more function.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from superpod.errors import SuperpodError
from superpod.faces.report.views import COLORS, Chart, Metric, Note, Table, View, figure, finite

TPOT_TARGETS_S = (0.010, 0.015, 0.020, 0.030, 0.050, 0.075, 0.100, 0.150)
#: defaults of the deployment sections: README's architect question (TTFT < 2 s, TPOT < 50 ms, 1e7 output tok/s)
TPOT_SLO_S, TTFT_SLO_S, TARGET_OUTPUT_TOKENS_PER_S, ELECTRICITY = 0.05, 2.0, 1e7, "china"
#: the named electricity prices (catalog/scale/cost.toml); the dashboard adds a custom USD/kWh
ELECTRICITY_REGIONS = ("china", "us", "eu")


def curve(api, model: str, systems: Sequence[str], targets_s: Sequence[float] = TPOT_TARGETS_S, **_: Any) -> View:
    """Decode tokens/s per chip against 1/TPOT, one point per TPOT target met."""
    v = View()
    fig = figure(f"{model} decode: throughput against interactivity", "tokens/s per user (1 / TPOT)",
                 "decode output tokens/s per chip")
    rows = []
    for c, s in enumerate(systems):
        pts, last = [], None
        for slo in targets_s:
            try:
                r = api.serve(model, s, tpot_slo_s=slo)
            except SuperpodError as e:  # a target the system cannot meet; reported once if it meets none
                last = e
                continue
            d = r.record["decode"]
            pts.append((1.0 / d["tpot_s"], d["tokens_per_s_per_chip"], slo))
            rows.append([s, slo * 1e3, round(d["tpot_s"] * 1e3, 2), round(d["tokens_per_s_per_chip"], 1),
                         round(d["batch_per_chip"], 1), r.plan.quant, r.plan.tp, r.plan.ep, r.plan.dp,
                         round(d["tokens_per_s_per_kw"], 1), round(d["energy_j_per_token"], 4)])
        if not pts and last is not None:
            v.add(Note(f"{s}: {last}", error=True))
        if pts:
            x, y, t = zip(*sorted(pts))
            fig.add_scatter(x=x, y=y, mode="lines+markers", name=s, line={"color": COLORS[c % len(COLORS)]},
                            customdata=np.asarray(t) * 1e3,
                            hovertemplate=s + ": %{y:,.0f} tokens/s per chip at %{x:.1f} tokens/s per user "
                                          "(TPOT target %{customdata:g} ms)<extra></extra>")
    v.add(Chart("serve-curve", fig, 7, 4))
    v.add(Table("serve-targets", ["system", "TPOT target (ms)", "TPOT (ms)", "tokens/s per chip", "batch per chip", "quant",
                                  "tp", "ep", "dp attention", "tokens/s per kW", "J per token"], rows,
                "The decode plan chosen at each TPOT target"))
    return v


def _short(x: Any) -> str:
    """A deployment entry in a table cell: numbers to 4 digits, a pool (a dict) as its key=value pairs."""
    if isinstance(x, dict):
        return "(" + " ".join(f"{k}={_short(y)}" for k, y in x.items()) + ")"
    return f"{x:,.4g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def simulation(api, model: str, systems: Sequence[str], rate: float = 2.0, requests: int = 400,
               tpot_slo_s: float | None = 0.05, ttft_slo_s: float | None = 2.0, chips: int | None = None,
               **_: Any) -> View:
    """TTFT and TPOT distributions of ``requests`` Poisson arrivals at ``rate``/s on each system's deployment
    (of ``chips`` chips; default the system's size)."""
    v = View()
    ttft = figure(f"TTFT of {requests} requests at {rate:g}/s", "TTFT (s)", "requests", barmode="overlay")
    tpot = figure("TPOT per request", "TPOT (ms)", "requests", barmode="overlay")
    rows = []
    for c, s in enumerate(systems):
        # trace= asks the API for each request's timeline (the face would write the file; nothing is written here)
        r = v.guard(lambda s=s: api.simulate(model, s, rate=rate, requests=requests, tpot_slo_s=tpot_slo_s,
                                             ttft_slo_s=ttft_slo_s, chips=chips, trace="timeline.json"),
                    f"{s}: ")
        if r is None:
            continue
        t = r.record["timeline"]
        arrival, first = np.asarray(t["arrival_s"]), np.asarray(t["first_token_s"])
        start, finish, out = np.asarray(t["decode_start_s"]), np.asarray(t["finish_s"]), np.asarray(t["output_tokens"])
        per_tpot = np.where(out > 1, (finish - start) / np.maximum(out - 1.0, 1.0), np.nan) * 1e3
        col = {"color": COLORS[c % len(COLORS)]}
        ttft.add_histogram(x=finite(first - arrival), name=s, nbinsx=40, opacity=0.6, marker=col)
        tpot.add_histogram(x=finite(per_tpot), name=s, nbinsx=40, opacity=0.6, marker=col)
        rows.append([s, r.mode, *[round(r.ttft_s[q], 4) for q in ("p50", "p90", "p99")],
                     *[round(r.tpot_s[q] * 1e3, 2) for q in ("p50", "p90", "p99")],
                     round(r.throughput_output_tokens_per_s, 1), round(r.goodput_fraction * 100, 1),
                     ", ".join(f"{k} {_short(x)}" for k, x in r.deployment.items())])
        v.add(Metric(f"{s}: goodput", f"{r.goodput_fraction * 100:.1f}%",
                     f"share of requests meeting TTFT <= {ttft_slo_s} s and TPOT <= {tpot_slo_s} s"))
    if rows:
        v.add(Chart("serve-ttft", ttft, 5.5, 3.4), Chart("serve-tpot", tpot, 5.5, 3.4))
        v.add(Table("serve-simulation", ["system", "mode", "TTFT p50 (s)", "TTFT p90 (s)", "TTFT p99 (s)", "TPOT p50 (ms)",
                                         "TPOT p90 (ms)", "TPOT p99 (ms)", "output tokens/s", "goodput (%)", "deployment"],
                    rows, "Request-level simulation"))
    return v


@lru_cache(maxsize=64)
def _pd(api, model: str, system: str, tpot_slo_s: float | None, ttft_slo_s: float | None,
        target_output_tokens_per_s: float | None, electricity: str | float | None) -> tuple[dict | None, str | None]:
    """``serve --phase pd --pareto`` of one system sized for the target (record, or the one-line error); the
    three deployment sections share it."""
    try:
        r = api.serve(model, system, phase="pd", tpot_slo_s=tpot_slo_s, ttft_slo_s=ttft_slo_s, pareto=True,
                      target_output_tokens_per_s=target_output_tokens_per_s, electricity=electricity)
    except SuperpodError as e:
        return None, str(e)
    return r.record, None


def _records(api, model, systems, tpot_slo_s, ttft_slo_s, target_output_tokens_per_s, electricity):
    return [(s, *_pd(api, model, s, tpot_slo_s, ttft_slo_s, target_output_tokens_per_s, electricity)) for s in systems]


def pareto(api, model: str, systems: Sequence[str], tpot_slo_s: float | None = TPOT_SLO_S,
           ttft_slo_s: float | None = TTFT_SLO_S, target_output_tokens_per_s: float | None = TARGET_OUTPUT_TOKENS_PER_S,
           electricity: str | float | None = ELECTRICITY, **_: Any) -> View:
    """Output tokens/s per chip against per user (1 / TPOT) over layouts and batches, steady state without
    queueing (planners/serve_pareto.py), one line per system; the chosen deployment's capacity per chip starred."""
    v = View()
    fig = figure(f"{model}: Pareto frontier (star = chosen deployment)", "output tokens/s per user (1 / TPOT)",
                 "output tokens/s per chip")
    for c, (s, rec, err) in enumerate(_records(api, model, systems, tpot_slo_s, ttft_slo_s,
                                               target_output_tokens_per_s, electricity)):
        if rec is None:
            v.add(Note(f"{s}: {err}", error=True))
            continue
        col = COLORS[c % len(COLORS)]
        pts = rec["pareto"]["points"]
        fig.add_scatter(x=[p["tokens_per_s_per_user"] for p in pts], y=[p["tokens_per_s_per_chip"] for p in pts],
                        mode="lines+markers", name=s, line={"color": col},
                        text=[f"batch {p['batch_per_chip']:g}/chip, {p['chips_per_worker']} chips/worker, TP {p['tp']}, "
                              f"EP {p['moe_ep']}" for p in pts],
                        hovertemplate=s + ": %{y:,.0f} tokens/s per chip at %{x:.1f} tokens/s per user "
                                          "(%{text})<extra></extra>")
        ch = rec["pareto"].get("chosen")
        if ch:
            fig.add_scatter(x=[ch["tokens_per_s_per_user"]], y=[ch["tokens_per_s_per_chip"]], mode="markers",
                            name=f"{s} chosen", marker={"symbol": "star", "size": 16, "color": col},
                            hovertemplate=s + f" chosen: %{{y:,.0f}} tokens/s per chip used at %{{x:.1f}} per user "
                                              f"(batch {ch['batch_per_chip']:g}/chip)<extra></extra>")
    v.add(Chart("serve-pareto", fig, 7, 4))
    return v


def _pool(name: str, p: dict) -> list:
    return [name, p["workers"], p["chips_per_worker"], p["tp"], p["moe_ep"], p["moe_tp"], p["dp_attention"],
            round(p["batch"], 1), "yes" if p["overlap"] else "no", p["mtp_k"]]


def deployment(api, model: str, systems: Sequence[str], tpot_slo_s: float | None = TPOT_SLO_S,
               ttft_slo_s: float | None = TTFT_SLO_S, target_output_tokens_per_s: float | None = TARGET_OUTPUT_TOKENS_PER_S,
               electricity: str | float | None = ELECTRICITY, **_: Any) -> View:
    """The chosen integer deployment (prefill and decode workers, or co-located replicas; planners/serve_capacity.py)
    and its capacity: the highest request rate meeting the targets at the SLO percentile."""
    v = View()
    pools, caps = [], []
    for s, rec, _err in _records(api, model, systems, tpot_slo_s, ttft_slo_s, target_output_tokens_per_s, electricity):
        if rec is None:
            continue  # the Pareto section shows the error
        d = rec["deployment"]
        pools += [[s, *_pool(k, d[k])] for k in ("prefill", "decode", "replicas") if k in d]
        caps.append([s, d["mode"], d["chips_used"], d["chips_left"], d["nodes_used"], f"p{rec['slo_percentile']}",
                     round(rec["capacity_requests_per_s"], 2), round(rec["capacity_output_tokens_per_s"], 0),
                     rec["capacity_bound"]])
    if pools:
        v.add(Table("serve-deployment", ["system", "pool", "workers", "chips per worker", "tp", "moe ep", "moe tp",
                                         "dp attention", "batch per chip", "overlap", "mtp"], pools,
                    "The chosen deployment (prefill batch: prompt tokens per chip per step; decode: sequences per chip)"),
              Table("serve-capacity", ["system", "mode", "chips used", "chips left", "nodes", "SLO percentile",
                                       "capacity (req/s)", "capacity (output tok/s)", "bound"], caps,
                    "Capacity of one deployment under the TTFT/TPOT targets"))
    return v


def fleet_cost(api, model: str, systems: Sequence[str], tpot_slo_s: float | None = TPOT_SLO_S,
               ttft_slo_s: float | None = TTFT_SLO_S, target_output_tokens_per_s: float | None = TARGET_OUTPUT_TOKENS_PER_S,
               electricity: str | float | None = ELECTRICITY, **_: Any) -> View:
    """Whole deployments for ``target_output_tokens_per_s``: systems, racks, megawatts, and the cost per million
    tokens at ``electricity`` (a region or USD/kWh), priced with superpod scale's cost model (catalog/scale/cost.toml)."""
    v = View()
    rows, notes = [], []
    for s, rec, _err in _records(api, model, systems, tpot_slo_s, ttft_slo_s, target_output_tokens_per_s, electricity):
        if rec is None or "fleet" not in rec:
            continue
        f, k = rec["fleet"], rec["cost"]
        v.add(Metric(f"{s}: $ per M output tokens", f"{k['usd_per_mtok_output']:,.3f}",
                     f"all-in {k['usd_per_mtok_all_in']:,.3f}; {f['systems'] or f['instances']:,} systems, "
                     f"{f['power_facility_w'] / 1e6:,.2f} MW facility"))
        rows.append([s, f["instances"], f["systems"], f["chips"], round(f["racks"], 1), round(f["output_tokens_per_s"], 0),
                     round(f["requests_per_s"], 1), round(f["power_it_w"] / 1e6, 2), round(f["power_facility_w"] / 1e6, 2),
                     round(k["usd_per_mtok_output"], 4), round(k["usd_per_mtok_input"], 4), round(k["usd_per_mtok_all_in"], 4),
                     round(k["tco_usd_per_year"] / 1e6, 2), round(k["capex_usd"] / 1e6, 2),
                     round(k["energy_share_of_cost"] * 100, 1), round(k["electricity_usd_per_kwh"], 4)])
        notes.append(Note(f"{s} cost inputs: " + "; ".join(f"{n}: {b}" for n, b in k["bases"].items())))
    if rows:
        v.add(Table("serve-fleet", ["system", "instances", "systems", "chips", "racks", "output tok/s held", "req/s held",
                                    "power IT (MW)", "power facility (MW)", "$ per M output tok", "$ per M input tok",
                                    "$ per M output tok all-in", "TCO per year ($M)", "capex ($M)", "energy share (%)",
                                    "electricity ($/kWh)"], rows,
                    f"Fleet for {target_output_tokens_per_s:,.0f} output tokens/s at electricity {electricity}"), *notes)
    return v


#: the serve tab's sections, in order
SECTIONS = (curve, simulation, pareto, deployment, fleet_cost)


def serve(api, model: str, systems: Sequence[str], **ctx: Any) -> View:
    v = View()
    for section in SECTIONS:
        v.add(*section(api, model, systems, **ctx).blocks)
    return v
