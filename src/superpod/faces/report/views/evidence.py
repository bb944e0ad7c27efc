"""Claims (each published figure recomputed from the catalog, with its verdict and basis) and Validation
(predicted against measured per group, training and serving, and the measured-silicon serving runs per
partition, each with its MAPE)."""

from __future__ import annotations

from superpod.faces.report.views import COLORS, Chart, Metric, Table, View, figure

VERDICT_COLORS = {"reproduced": "#2ca02c", "explained": "#ff7f0e", "disputed": "#c0392b"}


def claims(api) -> View:
    v = View()
    res = v.guard(api.claims)
    if res is None:
        return v
    v.add(*[Metric(k, str(n)) for k, n in res.counts.items()])
    rows = [r.to_dict() for r in res]
    fig = figure("Computed / claimed", y="ratio", showlegend=False)
    fig.add_bar(x=[r["id"] for r in rows], y=[r.get("ratio") for r in rows],
                marker={"color": [VERDICT_COLORS.get(r["verdict"], "#888888") for r in rows]},
                hovertext=[f"{r['verdict']}: {r['claim']}<br>{r['basis']}" for r in rows], hoverinfo="text+y")
    fig.add_hline(y=1.0, line={"color": "black", "dash": "dot", "width": 1})
    v.add(Chart("claims-ratio", fig, 9, 3.2))
    v.add(Table("claims", ["id", "claim", "claimed", "computed", "verdict", "basis", "source"],
                [[r["id"], r["claim"], f"{r['op']} {r['claimed']:g} {r['unit']}", round(r["computed"], 4), r["verdict"],
                  r["basis"], r.get("source", "")] for r in rows]))
    return v


def _scatter(title: str, groups: list[tuple[str, list[tuple[float, float]]]], unit: str = ""):
    fig = figure(title, f"measured {unit}".strip(), f"predicted {unit}".strip(), logx=True, logy=True)
    allv = [x for _, pts in groups for p in pts for x in p if x and x > 0]
    for c, (name, pts) in enumerate(groups):
        fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="markers", name=name,
                        marker={"color": COLORS[c % len(COLORS)], "size": 6, "opacity": 0.7})
    if allv:
        lo, hi = min(allv) * 0.8, max(allv) * 1.25
        fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = measured", showlegend=False,
                        line={"color": "black", "dash": "dash", "width": 1})
    return fig


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def validation(api, silicon: bool = True) -> View:
    v = View()
    res = v.guard(api.validate)
    rows = []
    if res is not None:
        for grp in res.groups:
            v.add(Metric(f"{grp['group']} MAPE", _pct(grp["mape"]), f"target <= {_pct(grp.get('target_mape'))}"))
            by_metric: dict[str, list] = {}
            for c in grp["cases"]:
                by_metric.setdefault(c["metric"], []).append((c["measured"], c["predicted"]))
            v.add(Chart(f"validation-{grp['group']}", _scatter(f"{grp['group']}: MAPE {_pct(grp['mape'])}",
                                                               sorted(by_metric.items())), 5, 3.6))
            rows.append([grp["group"], "all", len(grp["cases"]), _pct(grp["mape"]), _pct(grp.get("max_abs_error"))])
    if silicon:
        sil = v.guard(api.validate_silicon)
        if sil is not None:
            s = sil.summary
            v.add(Metric("silicon TTFT MAPE", _pct(s["ttft_mape"])), Metric("silicon TPOT MAPE", _pct(s["tpot_mape"]),
                                                                             f"{s['answered']:,} of {s['rows']:,} rows answered"))
            ok = [r for r in sil.rows if r["status"] == "ok"]
            for m, unit in (("ttft", "ms"), ("tpot", "ms")):
                parts: dict[str, list] = {}
                for r in ok:
                    parts.setdefault(f"{r['framework']} {r['gpu']}", []).append(
                        (float(r[f"measured_{m}_ms"]), float(r[f"predicted_{m}_ms"])))
                v.add(Chart(f"validation-silicon-{m}", _scatter(f"silicon {m.upper()}: MAPE {_pct(s[f'{m}_mape'])}",
                                                                sorted(parts.items()), unit), 5, 3.6))
            for p in sil.partitions:
                if p["answered"]:
                    rows.append([f"silicon {p['framework']} {p['gpu']}", f"{p['model']} {p['mode']} {p['precision']}",
                                 p["answered"], _pct(p["ttft_mape"]), _pct(p["tpot_mape"])])
    v.add(Table("validation", ["group", "partition", "cases", "MAPE (TTFT for silicon)", "worst (TPOT MAPE for silicon)"],
                rows, "MAPE per group and partition"))
    return v
