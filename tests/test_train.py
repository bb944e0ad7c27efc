"""Training estimator and plan search: schedules, monotonicity, feasibility, validation, CLI."""

import json

import numpy as np
import pytest

from superpod.cost.hardware import Hardware
from superpod.cost.memory import training_memory
from superpod.planners.train_search import search
from superpod.planners.validate import run_group
from superpod.spec import load_system
from superpod.spec.catalog import load_model
from superpod.cost.plan import DUALPIPE, GPIPE, INTERLEAVED, ONE_F_ONE_B, ZERO_BUBBLE
from superpod.training.schedules import bubble_s


@pytest.mark.parametrize("p,m,v", [(2, 8, 1), (8, 32, 1), (16, 64, 2), (8, 8, 4)])
def test_bubble_closed_forms(p, m, v):
    t_f, t_b = 1.0, 2.0
    ideal = m * (t_f + t_b)
    gp = float(bubble_s(GPIPE, p, 1, t_f, t_b))
    assert gp / (ideal + gp) == pytest.approx((p - 1) / (m + p - 1))  # GPipe fraction of the step
    assert float(bubble_s(ONE_F_ONE_B, p, 1, t_f, t_b)) == gp
    assert float(bubble_s(INTERLEAVED, p, v, t_f, t_b)) / ideal == pytest.approx((p - 1) / (v * m))
    assert float(bubble_s(ZERO_BUBBLE, p, 1, t_f, t_b)) == pytest.approx((p - 1) * t_f)  # 1/3 of 1F1B when F = B/2
    t_w = t_b / 2
    assert float(bubble_s(DUALPIPE, p, 1, t_f, t_b)) == pytest.approx(max(p / 2 - 1, 0) * (t_f + t_b + t_b - 3 * t_w))


MODEL = load_model("llama3-8b")


def _best(n, hw=None, batch_per_chip=4, **fixed):
    hw = hw or Hardware.of(load_system("dgx-h100-superpod").at(n))
    return search(MODEL, hw, 4096, batch_per_chip * n, fixed, top=3)


def test_more_chips_never_lower_throughput_on_ideal_fabric():
    prev = 0.0
    for n in (16, 32, 64, 128):
        hw = Hardware.of(load_system("dgx-h100-superpod").at(n)).scaled(fabric_Bps=1e3, latency=1e-3)
        tps = _best(n, hw).plans[0]["tokens_per_s"]
        assert tps >= prev * (1 - 1e-9)
        prev = tps


def test_more_bandwidth_never_slower():
    hw = Hardware.of(load_system("ethernet-8gpu-cluster").at(64))
    slow = search(MODEL, hw, 4096, 256).plans[0]["step_s"]
    fast = search(MODEL, hw.scaled(fabric_Bps=4.0), 4096, 256).plans[0]["step_s"]
    assert fast <= slow


def test_search_never_returns_infeasible():
    m = load_model("deepseek-v3")
    hw = Hardware.of(load_system("cloudmatrix384").at())
    res = search(m, hw, 4096, 1024, top=20)
    assert res.feasible > 0 and res.evaluated >= res.feasible
    for p in res.plans:
        plan = p["plan"]
        assert plan["tp"] * plan["pp"] * plan["dp"] * plan["cp"] == 384
        assert m.heads % plan["tp"] == 0 and m.moe.experts % plan["ep"] == 0
        assert (plan["tp"] * plan["dp"] * plan["cp"]) % (plan["ep"] * plan["etp"]) == 0  # MoE parallel folding
        assert 1024 % (plan["dp"] * plan["micro_batch"]) == 0
        assert p["memory_per_chip_bytes"] <= hw.hbm_bytes
        assert 0 < p["mfu"] <= p["hfu"] <= 1
        assert sum(p["breakdown"].values()) == pytest.approx(p["step_s"])
        assert sum(p["memory_breakdown_bytes"].values()) == pytest.approx(p["memory_per_chip_bytes"])
    steps = [p["step_s"] for p in res.plans]
    assert steps == sorted(steps)


def test_fixed_plan_is_honoured():
    res = _best(64, tp=2, pp=2, zero=1, recompute="selective")
    p = res.plans[0]["plan"]
    assert (p["tp"], p["pp"], p["zero"], p["recompute"]) == (2, 2, 1, "selective")


@pytest.fixture(scope="module")
def training_group():
    return run_group("training")


#: subgroups still outside the 10% MAPE target, with the cause (the final report lists them)
OPEN_GROUPS: set[str] = set()


@pytest.mark.parametrize("sub", ["dense", "moe", "fsdp", "ascend"])
def test_training_validation_groups_within_target(training_group, sub):
    g = {s["group"]: s for s in training_group["groups"]}[sub]
    if sub in OPEN_GROUPS and not g["within_target"]:
        pytest.xfail(f"{sub}: MAPE {g['mape']:.1%}, worst {g['worst_case']} {g['max_abs_error']:.1%}")
    assert g["mape"] <= 0.10, g["mape"]
    assert g["within_target"]


def test_training_validation_reports_groups(training_group):
    g = training_group
    assert [s["group"] for s in g["groups"]] == ["dense", "ascend", "moe", "fsdp"]
    assert sum(s["validation_cases"] for s in g["groups"]) == sum(r["role"] == "validation" for r in g["cases"])
    assert sum(r["role"] == "calibration" for r in g["cases"]) <= 4  # at most one per framework


def test_search_at_least_as_fast_as_published(training_group):
    for r in training_group["cases"]:
        d = r["details"]
        assert d["searched_step_s"] <= d["step_s"] * (1 + 1e-9), r["id"]


def test_train_cli_json(cli):
    r = cli("train", "llama3-8b", "dgx-h100-superpod", "--chips", "64", "--global-batch", "256", "--top", "3", "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("plan", "step_s", "tokens_per_s", "tflops_per_chip", "mfu", "hfu", "memory_per_chip_bytes", "breakdown", "search"):
        assert key in d
    assert set(d["search"]) >= {"evaluated", "feasible", "seconds"}
    assert len(d["top"]) == 3
    assert d["tokens_per_s"] == pytest.approx(256 * 4096 / d["step_s"])


def test_train_cli_comparison_and_explain(cli):
    r = cli("train", "llama3-8b", "cloudmatrix384", "gb200-nvl72@384", "--explain")
    assert r.exit_code == 0, r.stderr
    assert "Where the step time goes" in r.stdout and "MFU =" in r.stdout
    r = cli("train", "llama3-8b", "cloudmatrix384", "gb200-nvl72@384", "--json")
    assert [s["system"] for s in json.loads(r.stdout)["systems"]] == ["cloudmatrix384", "gb200-nvl72"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--tp", "3"], "TP divides the attention heads"),
        (["--tp", "8", "--pp", "4", "--dp", "4"], "chips = TP x PP x CP x DP"),
        (["--schedule", "bogus"], "--schedule"),
        (["--recompute", "some"], "--recompute"),
        (["--precision", "fp6"], "--precision"),
        (["--global-batch", "3", "--global-batch-tokens", "4096"], "not both"),
    ],
)
def test_train_bad_plans(cli, args, needle):
    r = cli("train", "llama3-8b", "dgx-h100-superpod", "--chips", "64", *args)
    assert r.exit_code == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_train_does_not_fit_says_by_how_much(cli):
    r = cli("train", "llama3-405b", "dgx-h100-superpod", "--chips", "8")
    assert r.exit_code == 2
    assert "short by" in r.stderr and "GB" in r.stderr


def test_fp8_needs_fp8_units(cli):
    r = cli("train", "llama3-8b", "cloudmatrix384", "--precision", "fp8")
    assert r.exit_code == 2 and "no fp8" in r.stderr


def test_memory_reported_matches_memory_model():
    m = load_model("llama3-8b")
    hw = Hardware.of(load_system("dgx-h100-superpod").at(16))
    p = search(m, hw, 4096, 64).plans[0]
    from superpod.cost.plan import TrainPlan

    plan = TrainPlan.one(**{k: v for k, v in p["plan"].items() if k != "precision"})
    need, _ = training_memory(m, plan, 4096, 4 * 2**30)
    assert float(np.ravel(need)[0]) == pytest.approx(p["memory_per_chip_bytes"])
