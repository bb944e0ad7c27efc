"""Serve: decode throughput per chip against tokens/s per user over a range of TPOT targets (one curve per
system), the plan chosen at each target, and a request-level simulation's TTFT/TPOT distributions
(:func:`superpod.simulate`).

The tab is a list of sections (:data:`SECTIONS`), each ``f(api, model, systems, **ctx) -> View``: a new
serving view (a Pareto frontier, a chosen deployment, fleet size and cost) is one more function.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from superpod.errors import SuperpodError
from superpod.faces.report.views import COLORS, Chart, Metric, Note, Table, View, figure, finite

TPOT_TARGETS_S = (0.010, 0.015, 0.020, 0.030, 0.050, 0.075, 0.100, 0.150)


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
                     ", ".join(f"{k} {x:,.4g}" for k, x in r.deployment.items())])
        v.add(Metric(f"{s}: goodput", f"{r.goodput_fraction * 100:.1f}%",
                     f"share of requests meeting TTFT <= {ttft_slo_s} s and TPOT <= {tpot_slo_s} s"))
    if rows:
        v.add(Chart("serve-ttft", ttft, 5.5, 3.4), Chart("serve-tpot", tpot, 5.5, 3.4))
        v.add(Table("serve-simulation", ["system", "mode", "TTFT p50 (s)", "TTFT p90 (s)", "TTFT p99 (s)", "TPOT p50 (ms)",
                                         "TPOT p90 (ms)", "TPOT p99 (ms)", "output tokens/s", "goodput (%)", "deployment"],
                    rows, "Request-level simulation"))
    return v


#: the serve tab's sections, in order
SECTIONS = (curve, simulation)


def serve(api, model: str, systems: Sequence[str], **ctx: Any) -> View:
    v = View()
    for section in SECTIONS:
        v.add(*section(api, model, systems, **ctx).blocks)
    return v
