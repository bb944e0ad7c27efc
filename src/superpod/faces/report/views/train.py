"""Train: the best plan per system, where its step time goes, its memory per chip by part, the top-K
plans, and a user's own plan priced against the best (:func:`superpod.train` takes any plan field fixed)."""

from __future__ import annotations

from typing import Any, Sequence

from superpod.faces.report.views import Chart, Metric, Table, View, figure, g

#: the plan fields a user may fix (superpod.train's options), with the choices offered for the enumerated ones
PLAN_FIELDS = ("tp", "pp", "dp", "ep", "cp", "micro_batch", "sp", "vpp", "zero", "recompute", "schedule")
CHOICES = {"recompute": ["none", "selective", "full"], "schedule": ["gpipe", "1f1b", "interleaved", "zero-bubble", "dualpipe"],
           "zero": [0, 1, 2, 3], "sp": [False, True]}


def _sized(system: str, chips: int | None) -> str:
    return f"{system}@{chips}" if chips else system


def _stacked(title: str, unit: str, labels: list[str], parts: list[dict[str, float]], scale: float = 1.0):
    fig = figure(title, x=unit, barmode="stack", height=160 + 40 * len(labels))
    for k in dict.fromkeys(k for p in parts for k in p):
        vals = [p.get(k, 0.0) / scale for p in parts]
        if any(vals):
            fig.add_bar(y=labels, x=vals, orientation="h", name=k.removesuffix("_s").replace("_", " "),
                        hovertemplate="%{y}: " + k + " %{x:.4g} " + unit + "<extra></extra>")
    fig.update_yaxes(autorange="reversed")
    return fig


def _row(r: dict[str, Any]) -> list[Any]:
    from superpod.api.results import TrainPlan

    return [TrainPlan.of(r["plan"]).text(), round(r["step_s"], 4), round(r["tokens_per_s_per_chip"], 1),
            round(r["mfu"] * 100, 2), round(r["memory_per_chip_bytes"] / 1e9, 2)]


def train(api, model: str, systems: Sequence[str], chips: int | None = None, top: int = 5) -> View:
    v = View()
    recs = [r for r in (v.guard(lambda s=s: api.train(model, _sized(s, chips), top=top), f"{s}: ") for s in systems) if r]
    if not recs:
        return v
    for r in recs:
        v.add(Metric(f"{r.system}: tokens/s per chip", f"{r.tokens_per_s_per_chip:,.0f}",
                     help=f"{r.plan.text()}; MFU {r.mfu * 100:.1f}%, step {r.step_s:.3g} s"))
    labels = [f"{r.system} ({r.chips:,})" for r in recs]
    v.add(Chart("train-breakdown", _stacked(f"{model}: where one optimizer step goes", "seconds", labels,
                                            [r.breakdown for r in recs]), 9, 1.6 + 0.5 * len(recs)))
    mem = [r.record["memory_breakdown_bytes"] for r in recs]
    fig = _stacked("Memory per chip by part (worst pipeline stage)", "GB", labels, mem, 1e9)
    for i, r in enumerate(recs):
        fig.add_scatter(x=[r.record["hbm_bytes"] / 1e9], y=[labels[i]], mode="markers", name="HBM" if i == 0 else None,
                        showlegend=i == 0, marker={"symbol": "line-ns-open", "size": 18, "color": "black"})
    v.add(Chart("train-memory", fig, 9, 1.6 + 0.5 * len(recs)))
    v.add(Table("train-best", ["system", "chips", "best plan", "step (s)", "tokens/s per chip", "MFU (%)",
                               "memory per chip (GB)", "HBM (GB)"],
                [[r.system, r.chips, *_row(r.record), round(r.record["hbm_bytes"] / 1e9, 1)] for r in recs], "Best plans"))
    v.add(Table("train-top", ["system", "rank", "plan", "step (s)", "tokens/s per chip", "MFU (%)", "memory per chip (GB)"],
                [[r.system, i + 1, *_row(t)] for r in recs for i, t in enumerate(r.top)], f"Top {top} plans per system"))
    return v


def plan_of(result) -> dict[str, Any]:
    """The fields of a result's plan a user may edit."""
    return {k: getattr(result.plan, k) for k in PLAN_FIELDS}


def priced(api, model: str, system: str, chips: int | None, plan: dict[str, Any], best=None) -> View:
    """``plan`` (any subset of :data:`PLAN_FIELDS`) priced, with the change from ``best`` (a TrainResult)."""
    v = View()
    fixed = {k: x for k, x in plan.items() if x is not None}
    r = v.guard(lambda: api.train(model, _sized(system, chips), **fixed))
    if r is None:
        return v

    def delta(now: float, then: float | None) -> str | None:
        return None if not then else f"{(now / then - 1) * 100:+.1f}% vs the best plan"

    v.add(Metric("tokens/s per chip", f"{r.tokens_per_s_per_chip:,.0f}", r.plan.text(),
                 delta(r.tokens_per_s_per_chip, best.tokens_per_s_per_chip if best else None)),
          Metric("step", f"{r.step_s:.4g} s", None, delta(r.step_s, best.step_s if best else None)),
          Metric("MFU", f"{r.mfu * 100:.1f}%", None, delta(r.mfu, best.mfu if best else None)),
          Metric("memory per chip", g(r.memory_per_chip_bytes, "B"), f"of {g(r.record['hbm_bytes'], 'B')} HBM"))
    rows = [r] if best is None else [best, r]
    labels = ["your plan"] if best is None else ["best plan", "your plan"]
    v.add(Chart("train-plan", _stacked(f"{r.plan.text()}", "seconds", labels, [x.breakdown for x in rows]), 9, 2.2))
    return v
