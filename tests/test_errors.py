"""Error types per kind of "no result" (superpod.errors), raised where they should be, each a
subclass of the class it was raised as before; no unknown option value falls back to a default."""

import json

import pytest

from superpod import errors as E
from superpod.planners.scale_estimate import ScaleOptions, scale
from superpod.planners.scenario import run as scenario
from superpod.planners.serve_estimate import serve
from superpod.planners.train_estimate import train
from superpod.scaling.recovery import RecoveryOptions
from superpod.spec.hf import model_from_hf


def test_hierarchy_keeps_old_except_clauses():
    for cls in (E.DoesNotFitError, E.NoFeasiblePlanError, E.SloUnreachableError, E.InvalidOptionError):
        assert issubclass(cls, E.InfeasiblePlanError) and issubclass(cls, E.SuperpodError)
    assert issubclass(E.InvalidOptionError, ValueError)
    assert issubclass(E.UnsupportedFeatureError, E.SpecError)


def test_does_not_fit():
    with pytest.raises(E.DoesNotFitError, match="no plan fits in memory"):
        train("deepseek-v3", "dgx-h100-superpod@8")
    with pytest.raises(E.DoesNotFitError, match="does not fit"):
        serve("deepseek-v3", "h200-cluster", chips=1, quant="bf16")


def test_no_feasible_plan():
    with pytest.raises(E.NoFeasiblePlanError, match="no valid plan"):
        train("llama3-8b", "dgx-h100-superpod@64", tp=3)  # 3 divides neither the 32 heads nor 64 chips


def test_slo_unreachable():
    with pytest.raises(E.SloUnreachableError, match="best reachable"):
        serve("llama3-70b", "h200-cluster", chips=8, tpot_slo_s=1e-6)


def test_unsupported_feature(tmp_path):
    cfg = json.loads((__import__("pathlib").Path(__file__).parent / "data" / "llama3-8b" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(cfg | {"hidden_act": "gelu"}))
    with pytest.raises(E.UnsupportedFeatureError, match="hidden_act"):
        model_from_hf(tmp_path / "config.json")
    (tmp_path / "config.json").write_text(json.dumps(cfg | {"architectures": ["MambaForCausalLM"]}))
    with pytest.raises(E.UnsupportedFeatureError, match="unsupported architecture"):
        model_from_hf(tmp_path / "config.json")


@pytest.mark.parametrize("call", [
    lambda: train("llama3-8b", "dgx-h100-superpod@64", schedule="foo"),
    lambda: train("llama3-8b", "dgx-h100-superpod@64", recompute="most"),
    lambda: train("llama3-8b", "dgx-h100-superpod@64", precision="fp6"),
    lambda: train("llama3-8b", "dgx-h100-superpod@64", tp_size=2),  # an unknown plan setting, not ignored
    lambda: train("llama3-8b", "dgx-h100-superpod@64", zero=4),
    lambda: train("llama3-8b", "dgx-h100-superpod@64", top=0),
    lambda: train("llama3-8b", "dgx-h100-superpod@64", global_batch=8, global_batch_tokens=8 * 4096),
    lambda: RecoveryOptions(interval="dally"),
    lambda: ScaleOptions(pue=0.9),
    lambda: ScaleOptions(precision="fp4"),
    lambda: ScaleOptions(global_batch=0),
    lambda: ScaleOptions(fixed={"tpp": 2}),
    lambda: serve("llama3-8b", "h200-cluster", chips=8, phase="decoding"),
    lambda: serve("llama3-8b", "h200-cluster", chips=8, mtp=-1),
    lambda: serve("llama3-8b", "h200-cluster", chips=8, output_len=0),
    lambda: serve("llama3-8b", "h200-cluster", chips=8, quant="int4"),
    lambda: serve("llama3-8b", "h200-cluster", chips=8, dp=0),
    lambda: scenario("huaweiopolis", swap={"gb300x": "gb200-nvl72"}),
    lambda: load_system_at_zero(),
], ids=["schedule", "recompute", "precision", "unknown-setting", "zero", "top", "both-batches", "interval", "pue",
        "scale-precision", "scale-batch", "scale-fixed", "phase", "mtp", "output-len", "quant", "serve-dp", "scenario-swap", "chips"])
def test_invalid_option(call):
    with pytest.raises(E.InvalidOptionError):
        call()


def load_system_at_zero():
    from superpod.spec.catalog import load_system

    return load_system("gb200-nvl72").at(0)


def test_no_bare_value_error_from_api():
    from superpod import api

    with pytest.raises(E.SuperpodError):
        api.train("llama3-8b", "dgx-h100-superpod@64", schedule="foo")


def test_cli_one_line_exit_2(cli):
    res = cli("train", "llama3-8b", "dgx-h100-superpod@64", "--tp", "3")
    assert res.exit_code == 2 and "no valid plan" in res.output
    res = cli("scale", "llama3-8b", "dgx-h100-superpod", "--pue", "0.5")
    assert res.exit_code == 2 and "--pue must be >= 1" in res.output
