"""Scale: effective compute, MFU, goodput and facility power against chips (log-log; dotted verticals mark
each system's scale-up domain), from :func:`superpod.scaling_curves`, and the scenario view (the same paper
FLOPs built several ways, :func:`superpod.scenario`; the default is Huaweiopolis)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from superpod.faces.report.views import COLORS, Chart, Metric, Table, View, figure, finite, g

PANELS = (("effective_flops", "effective FLOP/s", "FLOP/s", True), ("mfu", "MFU (best plan)", "MFU", False),
          ("goodput", "goodput (useful / wall time)", "goodput", False), ("power_w", "facility power", "W", True))


def curves(api, model: str, systems: Sequence[str], points: int = 10, min_chips: int = 64,
           max_chips: int = 262_144) -> View:
    v = View()
    rec = v.guard(lambda: api.scaling_curves(model, list(systems), points=points, min_chips=min_chips,
                                             max_chips=max_chips, workers=1))
    if rec is None:
        return v
    cs = rec.record["curves"]
    rows = []
    for key, title, unit, logy in PANELS:
        fig = figure(f"{model}: {title}", "chips in the training job", unit, logx=True, logy=logy)
        for c, cur in enumerate(cs):
            col = COLORS[c % len(COLORS)]
            x = np.asarray(cur["chips"], dtype=float)
            fig.add_scatter(x=x, y=finite(cur[key]), mode="lines+markers", name=cur["system"], line={"color": col},
                            hovertemplate=cur["system"] + ": %{x:,} chips, " + unit + " %{y:.3s}<extra></extra>")
            if key == "effective_flops":
                fig.add_scatter(x=x, y=finite(cur["paper_flops"]), mode="lines", name=f"{cur['system']} paper",
                                line={"color": col, "dash": "dash", "width": 1}, showlegend=False)
            dom = cur.get("scaleup_domain_chips")
            if dom and x.min() <= dom <= x.max():
                fig.add_vline(x=dom, line={"color": col, "dash": "dot", "width": 1})
        if logy:
            fig.update_yaxes(tickformat="~s")
        v.add(Chart(f"scale-{key}", fig, 5.2, 3.4))
    for cur in cs:
        for i, n in enumerate(cur["chips"]):
            rows.append([cur["system"], int(n), *[None if not np.isfinite(cur[k][i]) else float(cur[k][i])
                                                  for k in ("effective_flops", "paper_flops", "mfu", "goodput", "power_w")]])
    v.add(Table("scale-curves", ["system", "chips", "effective FLOP/s", "paper FLOP/s", "MFU", "goodput", "power (W)"],
                rows, "Scaling curves (dotted verticals on the charts: scale-up domains; dashed: paper FLOP/s)"))
    return v


def scenario(api, name: str = "huaweiopolis") -> View:
    v = View()
    res = v.guard(lambda: api.scenario(name))
    if res is None:
        return v
    ex = res.extra
    builds = ex["builds"]
    v.add(*[Metric(b["key"], g(b["effective_flops"], "FLOP/s"), b["label"]) for b in builds])
    fig = figure(f"{ex['title']}: effective against paper compute", y="FLOP/s", barmode="group")
    keys = [b["key"] for b in builds]
    fig.add_bar(x=keys, y=[b["paper_flops"] for b in builds], name="paper FLOP/s", marker={"color": "#bbbbbb"})
    fig.add_bar(x=keys, y=[b["effective_flops"] for b in builds], name="effective FLOP/s", marker={"color": COLORS[0]},
                hovertext=[f"{b['label']}: MFU {b['mfu']:.1%}, goodput {b['goodput']:.1%}" for b in builds],
                hoverinfo="text+y")
    fig.update_yaxes(tickformat="~s")
    v.add(Chart("scenario", fig, 6, 3.6))
    v.add(Table("scenario-builds", ["build", "label", "chips", "effective FLOP/s", "paper FLOP/s", "MFU", "goodput",
                                    "power (W)", "USD per M tokens", "ratio to first"],
                [[b["key"], b["label"], b["chips"], b["effective_flops"], b["paper_flops"], round(b["mfu"], 4),
                  round(b["goodput"], 4), b["power_w"], round(b["cost_per_mtok"], 4), b.get("ratio_to_first")]
                 for b in builds], ex.get("description")))
    return v
