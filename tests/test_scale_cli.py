"""``superpod scale``, ``scenario`` and ``plot scaling`` end to end, including bad input."""

import json

import pytest

from superpod.planners.scenario import equal_paper_chips, load
from superpod.spec.catalog import load_system

KEYS = ["effective_flops", "mfu", "goodput", "job_mtbf_s", "interruptions_expected", "checkpoint_interval_s",
        "checkpoint_s", "restart_s", "power_w", "power_breakdown_w", "energy_j_per_token", "cost_per_mtok",
        "time_to_train_s"]


@pytest.fixture(scope="module")
def cm384():
    from superpod.planners.scale_estimate import scale

    return scale("deepseek-v3", "cloudmatrix384")


def test_scale_record(cm384):
    r = cm384
    for k in KEYS:
        assert k in r
    assert 0 < r["goodput"] <= 1 and 0 < r["mfu"] < 1
    assert r["effective_flops"] == pytest.approx(r["job_chips"] * 752e12 * r["mfu"] * r["goodput"])
    assert sum(r["power_breakdown_w"].values()) == pytest.approx(r["power_w"])
    # energy per token = power / useful throughput
    assert r["energy_j_per_token"] == pytest.approx(r["power_w"] / r["useful_tokens_per_s"])
    assert r["useful_tokens_per_s"] == pytest.approx(r["tokens_per_s"] * r["goodput"])
    assert r["time_to_train_s"] == pytest.approx(r["tokens"] / r["useful_tokens_per_s"])
    assert r["interruptions_expected"] == pytest.approx(r["run_s"] / r["job_mtbf_s"])
    assert r["optical_modules"] == 6912
    # cheaper electricity, cheaper tokens: CloudMatrix 384 at Chinese vs US prices
    by = r["cost_per_mtok_by_electricity"]
    assert by["china"] < by["us"]


def test_scenario_builds_have_equal_paper_flops():
    sc = load("huaweiopolis")
    systems = [b.system for b in sc.builds]
    assert len(systems) == 3
    for precision in ("bf16", "fp8"):
        chips = equal_paper_chips(systems, sc.reference, precision)
        flops = [load_system(s).at(chips[s]).totals()[f"{precision}_flops"] for s in systems]
        for f in flops[1:]:
            assert f == pytest.approx(flops[0], rel=2e-5)  # to one chip
    assert chips["atlas950dt-ethernet-fragmented"] == chips["atlas950-supercluster"] == 524288


def test_cli_scale_json(cli):
    r = cli("scale", "llama3-8b", "gb200-nvl72", "--chips", "144", "--electricity", "china", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    for k in KEYS:
        assert k in out
    assert out["chips"] == 144 and out["cost_bases"]["electricity_usd_per_kwh"] == pytest.approx(0.056)


def test_cli_scale_table_and_serving(cli):
    r = cli("scale", "llama3-8b", "gb200-nvl72", "--serve-tokens-per-s-per-chip", "5000")
    assert r.exit_code == 0, r.stderr
    assert "effective FLOP/s" in r.stdout and "J per output token" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["scale", "llama3-8b", "no-such-system"], "unknown system"),
    (["scale", "no-such-model", "gb200-nvl72"], "unknown model"),
    (["scale", "llama3-8b", "gb200-nvl72", "--chips", "0"], "--chips"),
    (["scale", "llama3-8b", "gb200-nvl72", "--precision", "fp3"], "--precision"),
    (["scale", "llama3-8b", "gb200-nvl72", "--electricity", "mars"], "electricity"),
    (["scale", "llama3-8b", "gb200-nvl72", "--pue", "0.5"], "--pue"),
    (["scale", "llama3-8b", "gb200-nvl72", "--days", "-1"], "--days"),
    (["scenario", "atlantis"], "unknown scenario"),
    (["plot", "scaling", "llama3-8b", "gb200-nvl72", "--out", "x.pdf"], "--out"),
    (["plot", "scaling", "llama3-8b", "nope", "--out", "x.png"], "unknown system"),
])
def test_cli_bad_input_one_line_exit_2(cli, args, message):
    r = cli(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_cli_scenario_json(cli):
    r = cli("scenario", "huaweiopolis", "--model", "llama3-70b", "--fast", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    b = out["builds"]
    assert [x["key"] for x in b] == ["supercluster", "nvl72", "ethernet"]
    assert b[1]["paper_flops"] == pytest.approx(b[0]["paper_flops"], rel=2e-5)
    for x in b:
        assert 0 < x["goodput"] <= 1 and x["fast_recovery"]["goodput"] >= x["goodput"]
        assert x["effective_flops"] < x["paper_flops"]


@pytest.mark.parametrize("suffix", ["png", "html"])
def test_cli_plot_scaling(cli, tmp_path, suffix):
    out = tmp_path / f"s.{suffix}"
    r = cli("plot", "scaling", "llama3-8b", "gb200-nvl72", "cloudmatrix384", "--points", "4", "--max-chips", "4096",
            "--workers", "1", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert out.stat().st_size > 10_000
    if suffix == "png":
        assert out.read_bytes()[:4] == b"\x89PNG"


def test_serving_energy_is_power_over_output_rate():
    from superpod.planners.scale_estimate import scale

    r = scale("llama3-8b", "gb200-nvl72", serve_tokens_per_s_per_chip=5000.0)
    sv = r["serving"]
    assert sv["output_tokens_per_s"] == pytest.approx(5000.0 * 72)
    assert sv["energy_j_per_output_token"] == pytest.approx(sv["power_w"] / sv["output_tokens_per_s"])
    assert sum(sv["parts_w"].values()) == pytest.approx(sv["power_w"])
