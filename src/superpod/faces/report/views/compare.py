"""Compare: system totals side by side, one bar chart per total with each bar's ratio to the first system;
hovering a bar shows where the number comes from (count x per-chip value, source, confidence A/B/C/U)."""

from __future__ import annotations

from typing import Sequence

from superpod.faces.report.views import COLORS, Chart, Metric, Table, View, figure, g

TOTALS = (("bf16_flops", "BF16 dense", "FLOP/s"), ("fp8_flops", "FP8 dense", "FLOP/s"), ("hbm_bytes", "HBM capacity", "B"),
          ("hbm_Bps", "HBM bandwidth", "B/s"), ("scaleup_bits_per_s", "scale-up bandwidth", "bit/s"),
          ("scaleout_bits_per_s", "scale-out bandwidth", "bit/s"), ("power_w", "IT power", "W"))


def compare(api, systems: Sequence[str], chips: int | None = None) -> View:
    v = View()
    res = v.guard(lambda: api.compare(list(systems), chips=chips))
    if res is None:
        return v
    rows = [r.to_dict() for r in res]
    names = [r["name"] for r in rows]
    v.add(*[Metric(f"{r['name']}: BF16 dense", g(r["bf16_flops"], "FLOP/s"),
                   help=r["basis"].get("bf16_flops")) for r in rows])
    for key, label, unit in TOTALS:
        raw = [r.get(key) for r in rows]
        if not any(raw):
            continue
        vals = [x or 0.0 for x in raw]

        def ratio(x: float | None) -> str:
            return f"{x / raw[0]:.2f}x" if x and raw[0] else "-"

        text = [f"{g(x, unit)} ({ratio(x)})" if x else "none" for x in raw]
        fig = figure(f"{label} ({unit})", y=unit, showlegend=False)
        fig.add_bar(x=names, y=vals, marker={"color": COLORS[: len(rows)]}, text=text, textposition="outside",
                    hovertext=[f"{n}: {t}, ratio to the first<br>{r['basis'].get(key, 'no basis recorded')}"
                               for n, t, r in zip(names, text, rows)], hoverinfo="text")
        fig.update_yaxes(range=[0, max(vals) * 1.25], tickformat="~s")
        v.add(Chart(f"compare-{key}", fig, 4.2, 3.0))
    v.add(Table("compare-totals", ["system", "chips", *[c[1] for c in TOTALS]],
                [[r["name"], r["chips"], *[r.get(k) for k, _, _ in TOTALS]] for r in rows], "Totals (SI units)"))
    v.add(Table("compare-basis", ["system", "total", "basis (source) [confidence]"],
                [[r["name"], k, b] for r in rows for k, b in r["basis"].items()], "Where each total comes from"))
    return v
