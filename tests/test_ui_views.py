"""The views the dashboard and the static report share (superpod.faces.report.views), and their static
drawings (superpod.faces.report.static): no browser, no Streamlit."""

from __future__ import annotations

import csv
import io

import pytest

from superpod import api
from superpod.faces.report import static
from superpod.faces.report.views import Chart, Metric, Note, Table, compare, serve, sweeps, train

PNG = b"\x89PNG\r\n\x1a\n"


def _charts(view):
    return [b for b in view.blocks if isinstance(b, Chart)]


def test_compare_has_a_chart_per_total_with_ratios_and_sources_on_hover():
    v = compare.compare(api, ["cloudmatrix384", "gb200-nvl72"], 384)
    charts = {c.key: c for c in _charts(v)}
    bf16 = charts["compare-bf16_flops"].fig.data[0]
    assert bf16.text[0].endswith("(1.00x)") and "x)" in bf16.text[1]
    assert "[A]" in bf16.hovertext[1] or "[B]" in bf16.hovertext[1]  # the basis, with its confidence
    assert not v.errors()


def test_every_chart_draws_as_png_and_svg():
    v = compare.compare(api, ["gb200-nvl72"], None)
    t = train.train(api, "llama3-8b", ["gb200-nvl72"], None, top=3)
    for c in _charts(v) + _charts(t):
        assert static.png(c.fig, width_in=3, height_in=2).startswith(PNG)
        assert static.svg(c.fig, width_in=3, height_in=2).startswith("<svg")


def test_train_lists_top_k_and_prices_a_user_plan():
    best = api.train("llama3-8b", "gb200-nvl72")
    v = train.train(api, "llama3-8b", ["gb200-nvl72"], None, top=3)
    top = next(b for b in v.blocks if isinstance(b, Table) and b.key == "train-top")
    assert len(top.rows) == 3
    plan = train.plan_of(best)
    same = train.priced(api, "llama3-8b", "gb200-nvl72", None, plan | {"dp": None}, best)
    step = next(b for b in same.blocks if isinstance(b, Metric) and b.label == "step")
    assert step.delta == "+0.0% vs the best plan"


def test_an_impossible_plan_is_a_one_line_error_note():
    v = train.priced(api, "llama3-8b", "gb200-nvl72", None, {"tp": 5, "pp": 7})
    (err,) = v.errors()
    assert "\n" not in err and err


def test_serve_sections_are_pluggable():
    assert serve.SECTIONS[0] is serve.curve
    v = serve.curve(api, "llama3-8b", ["gb200-nvl72"], (0.02, 0.05))
    (t,) = [b for b in v.blocks if isinstance(b, Table)]
    assert len(t.rows) == 2
    rows = list(csv.reader(io.StringIO(t.csv())))
    assert rows[0][0] == "system" and len(rows) == 3


def test_serve_deployment_sections_show_pareto_deployment_fleet_and_cost():
    assert serve.SECTIONS[-3:] == (serve.pareto, serve.deployment, serve.fleet_cost)
    kw = dict(tpot_slo_s=0.05, ttft_slo_s=2.0, target_output_tokens_per_s=1e7)
    rec = api.serve("llama3-8b", "gb200-nvl72", phase="pd", pareto=True, electricity="china", **kw).record
    (chart,) = _charts(serve.pareto(api, "llama3-8b", ["gb200-nvl72"], electricity="china", **kw))
    front, star = chart.fig.data
    assert len(front.x) == len(rec["pareto"]["points"]) and star.marker.symbol == "star"
    assert star.y[0] == rec["pareto"]["chosen"]["tokens_per_s_per_chip"]
    tables = {b.key: b for b in serve.deployment(api, "llama3-8b", ["gb200-nvl72"], electricity="china", **kw).blocks}
    assert [r[1] for r in tables["serve-deployment"].rows] == ["prefill", "decode"]
    assert tables["serve-deployment"].rows[1][2] == rec["deployment"]["decode"]["workers"]
    assert tables["serve-capacity"].rows[0][2] == rec["deployment"]["chips_used"]
    china, us = (next(b for b in serve.fleet_cost(api, "llama3-8b", ["gb200-nvl72"], electricity=e, **kw).blocks
                      if isinstance(b, Table)) for e in ("china", 0.2))
    col = china.columns.index("$ per M output tok")
    assert china.rows[0][col] == round(rec["cost"]["usd_per_mtok_output"], 4) < us.rows[0][col]
    assert china.rows[0][china.columns.index("systems")] == rec["fleet"]["systems"]
    bad = serve.pareto(api, "llama3-8b", ["no-such-system"], electricity="china", **kw)
    (err,) = bad.errors()
    assert "\n" not in err and not serve.deployment(api, "llama3-8b", ["no-such-system"]).blocks


def test_serve_simulation_table_shows_a_pd_or_colocated_deployment():
    v = serve.simulation(api, "llama3-8b", ["gb200-nvl72"], requests=50)
    (t,) = [b for b in v.blocks if isinstance(b, Table)]
    assert not v.errors() and "workers=" in t.rows[0][-1]


def test_sweeps_pivot_a_store(tmp_path):
    pytest.importorskip("duckdb")
    from superpod.planners.sweep.store import DuckStore

    path = tmp_path / "r.duckdb"
    s = DuckStore(path)
    s.write([{"point_hash": f"h{i}", "system": sy, "chips": float(n), "tps": float(n * k), "error": None}
             for i, (sy, k, n) in enumerate((sy, k, n) for sy, k in (("a", 1.0), ("b", 2.0)) for n in (8, 16))])
    s.close()
    assert ("tps", "DOUBLE") in sweeps.columns(str(path))
    v = sweeps.sweep(str(path), "chips", "tps", "system", "max")
    piv = next(b for b in v.blocks if isinstance(b, Table))
    assert piv.columns == ["chips", "a", "b"] and piv.rows == [[8.0, 8.0, 16.0], [16.0, 16.0, 32.0]]
    bad = sweeps.sweep(str(path), "chips", "nope", None)
    assert bad.errors() and all(isinstance(b, Note) for b in bad.blocks)
