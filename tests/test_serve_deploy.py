"""Integer serving deployments, capacity under SLOs, fleet, cost and the Pareto frontier (issue 12)."""


import numpy as np
import pytest

from superpod.errors import SuperpodError
from superpod.planners.serve_estimate import serve
from superpod.planners.serve_pareto import non_dominated
from superpod.scaling import params
from superpod.scaling.economics import YEAR_S
from superpod.spec.catalog import load_system

R1 = "deepseek-r1"
SLO = dict(ttft_slo_s=2.0, tpot_slo_s=0.05)


@pytest.fixture(scope="module")
def cm():
    return serve(R1, "cloudmatrix384", phase="pd", **SLO, target_output_tokens_per_s=1e7, electricity="china")


def _pools(dep):
    return [dep[p] for p in ("prefill", "decode", "replicas") if p in dep]


@pytest.mark.parametrize("system,chips,phase,model", [
    ("h200-cluster", 32, "pd", R1), ("cloudmatrix384", None, "pd", R1), ("gb200-nvl72", None, "pd", R1),
    ("h200-cluster", 16, "pd", R1), ("h200-cluster", 8, "both", "llama3-70b"), ("gb200-nvl72", None, "both", "llama3-70b"),
])
def test_integer_layouts_fit_the_system(system, chips, phase, model):
    rec = serve(model, system, chips=chips, phase=phase, tpot_slo_s=0.05)
    dep = rec["deployment"]
    n = chips or load_system(system).size
    used = sum(w["workers"] * w["chips_per_worker"] for w in _pools(dep))
    assert used == dep["chips_used"] <= n and dep["chips_left"] == n - used
    cpn = load_system(system).chips_per_node
    for w in _pools(dep):
        assert isinstance(w["workers"], int) and w["workers"] >= 1
        assert w["chips_per_worker"] % cpn == 0 or cpn % w["chips_per_worker"] == 0  # whole nodes
        assert w["batch"] * w["chips_per_worker"] >= 1
    assert rec["capacity_requests_per_s"] > 0
    assert rec["capacity_output_tokens_per_s"] == pytest.approx(rec["capacity_requests_per_s"] * 1024)
    assert rec["slo_percentile"] == 90


@pytest.mark.parametrize("system,chips", [("h200-cluster", 32), ("cloudmatrix384", None)])
def test_capacity_monotone_in_the_slo(system, chips):
    """A looser target never holds fewer requests/s; a lower percentile neither. (No target at all is a
    policy, not the loosest target: the prefill pool runs at 80% of saturation.)"""
    caps = [serve(R1, system, chips=chips, phase="pd", ttft_slo_s=t, tpot_slo_s=p)["capacity_requests_per_s"]
            for t, p in ((1.0, 0.035), (1.5, 0.035), (2.0, 0.05), (4.0, 0.08), (30.0, 0.2))]
    assert all(a <= b * (1 + 1e-9) for a, b in zip(caps, caps[1:])), caps
    pct = [serve(R1, system, chips=chips, phase="pd", **SLO, slo_percentile=q)["capacity_requests_per_s"]
           for q in (99, 90, 50)]
    assert pct[0] <= pct[1] * (1 + 1e-9) <= pct[2] * (1 + 1e-9), pct


def test_fleet_holds_the_target(cm):
    f = cm["fleet"]
    assert f["instances"] * cm["capacity_output_tokens_per_s"] >= 1e7
    assert (f["instances"] - 1) * cm["capacity_output_tokens_per_s"] < 1e7  # and not one more than needed
    assert f["chips"] == f["instances"] * 384 and f["racks"] == f["instances"] * 16
    assert f["power_facility_w"] == pytest.approx(f["power_it_w"] * f["pue"])
    r = serve(R1, "h200-cluster", chips=32, phase="pd", **SLO, target_requests_per_s=100)
    assert r["fleet"]["instances"] * r["capacity_requests_per_s"] >= 100


def test_cost_by_hand(cm):
    """cost = energy x price + amortised capex (+ other opex), per output token, checked by hand."""
    k, f = cm["cost"], cm["fleet"]
    co = params.costs()
    capex = 8.2e6 * f["instances"]  # CloudMatrix 384 at ~$8.2M (catalog/systems/cloudmatrix384.toml)
    assert k["capex_usd"] == pytest.approx(capex)
    years = 4.0
    per_year = capex / years + f["power_facility_w"] / 1e3 * 8766 * 0.056 + capex * co.opex_other_per_year.si
    assert k["tco_usd_per_year"] == pytest.approx(per_year, rel=1e-3)
    out_per_year = f["output_tokens_per_s"] * YEAR_S
    assert k["usd_per_mtok_all_in"] == pytest.approx(per_year / out_per_year * 1e6, rel=1e-3)
    share = cm["deployment"]["prefill"]["workers"] * cm["deployment"]["prefill"]["chips_per_worker"] / cm["deployment"]["chips_used"]
    assert k["usd_per_mtok_output"] == pytest.approx(k["usd_per_mtok_all_in"] * (1 - share))
    assert k["electricity_usd_per_kwh"] == 0.056 and k["pue"] == 1.3
    us = serve(R1, "cloudmatrix384", phase="pd", **SLO, target_output_tokens_per_s=1e7, electricity="us")["cost"]
    assert us["usd_per_mtok_all_in"] > k["usd_per_mtok_all_in"]
    own = serve(R1, "cloudmatrix384", phase="pd", **SLO, electricity=0.2, capex_per_chip_usd=10000, years=5, pue=1.1)
    assert own["cost"]["capex_usd"] == 10000 * 384 and own["cost"]["pue"] == 1.1
    assert own["cost"]["bases"]["electricity"] == "user input" and own["cost"]["bases"]["pue"] == "user input"


def test_pareto_is_non_dominated():
    rec = serve(R1, "h200-cluster", chips=32, phase="pd", **SLO, pareto=True)
    pts = rec["pareto"]["points"]
    x = np.array([p["tokens_per_s_per_chip"] for p in pts])
    y = np.array([p["tokens_per_s_per_user"] for p in pts])
    for i in range(len(pts)):
        dominated = (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        assert not dominated.any()
    assert "chosen" in rec["pareto"]
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    keep = non_dominated(a, b)
    for i in np.nonzero(~keep)[0]:
        assert ((a >= a[i]) & (b >= b[i]) & ((a > a[i]) | (b > b[i]))).any()


def test_sizing_options_need_a_deployment():
    from superpod import api

    with pytest.raises(SuperpodError, match="sizes a deployment"):
        api.serve(R1, "cloudmatrix384", phase="decode", target_output_tokens_per_s=1e6)
    with pytest.raises(SuperpodError, match="percentile"):
        serve(R1, "cloudmatrix384", phase="pd", slo_percentile=95)


def test_search_is_fast():
    import time

    for system, chips in (("h200-cluster", 32), ("cloudmatrix384", None)):
        serve(R1, system, chips=chips, phase="pd", **SLO)  # warm the caches
        t = time.process_time()
        serve(R1, system, chips=chips, phase="pd", **SLO)
        assert time.process_time() - t < 6.0  # CPU seconds; under 2 s on a quiet core (benchmarks/serve_deploy.py), slack for load


def test_plot_pareto_png_and_html(tmp_path):
    from typer.testing import CliRunner

    from superpod.faces.cli import app

    for ext in ("png", "html"):
        out = tmp_path / f"p.{ext}"
        r = CliRunner().invoke(app, ["plot", "pareto", R1, "h200-cluster", "gb200-nvl72", "--chips", "32",
                                     "--tpot-slo-ms", "50", "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 1000
    bad = CliRunner().invoke(app, ["plot", "pareto", R1, "h200-cluster", "--out", str(tmp_path / "p.jpg")])
    assert bad.exit_code == 2 and ".png or .html" in bad.output
