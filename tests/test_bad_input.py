"""Regression tests of issue 15's remaining classes: the cross-field rules that need the model
and the system (api/options/rules.py, one layer for the CLI and the API), options that cannot
apply, unknown names' suggestions, and the serving roofline check on impossible records."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import superpod as sp
from superpod.errors import InvalidOptionError, NoFeasiblePlanError, SuperpodError, UnknownNameError
from superpod.faces.cli import app
from test_fuzz import serving_roofline

runner = CliRunner()
H100 = ["llama3-8b", "dgx-h100-superpod@64"]


def refused(args: list[str], *needles: str) -> str:
    r = runner.invoke(app, args)
    err = r.stderr.strip()
    assert r.exit_code == 2 and err.startswith("error: ") and "\n" not in err, (args, r.stderr, r.exception)
    for n in needles:
        assert n in err, (args, err)
    return err


# ---------------------------------------------------------------------------- training layout rules

@pytest.mark.parametrize("extra,needles", [
    (["--tp", "3"], ["--tp 3", "TP divides the attention heads", "32 heads and 8 KV heads", "use one of 1, 2, 4, 8"]),
    (["--pp", "64"], ["--pp 64 exceeds the 32 layers of llama3-8b by 32", "--pp <= 32"]),
    (["--pp", "8", "--vpp", "8"], ["--vpp 8 x PP 8 = 64 chunks exceeds the 32 layers", "by 32"]),
    (["--vpp", "2", "--schedule", "1f1b"], ["needs the interleaved schedule"]),
    (["--cp", "3", "--seq-len", "4000"], ["2 x CP = 6 chunks", "remainder 4"]),
    (["--ep", "8"], ["needs an MoE model", "dense"]),
    (["--tp", "8", "--pp", "4", "--cp", "4"], ["= 128 ranks exceeds the 64 ranks", "by 64"]),
    (["--tp", "8", "--pp", "3"], ["= 24 ranks does not divide the 64 ranks", "remainder 16"]),
    (["--tp", "8", "--pp", "2", "--cp", "1", "--dp", "2"], ["= 32 ranks, but dgx-h100-superpod@64 has 64", "32 too few"]),
])
def test_train_layout_rules_refused_before_the_search(extra, needles):
    err = refused(["train", *H100, *extra], "no valid plan", *needles)
    assert "evaluated" not in err


def test_train_layout_rules_in_the_api():
    with pytest.raises(NoFeasiblePlanError, match="exceeds the 32 layers of llama3-8b by 32"):
        sp.train(*H100, pp=64)
    with pytest.raises(NoFeasiblePlanError, match="remainder 4"):
        sp.train("deepseek-v3", "gb200-nvl72", ep=7)  # 256 experts


def test_train_rules_keep_valid_plans():
    r = sp.train(*H100, tp=8, pp=2, dp=4)
    assert (r["plan"]["tp"], r["plan"]["pp"], r["plan"]["dp"]) == (8, 2, 4)


def test_package_tp_message_is_the_planners():
    refused(["train", "llama3-8b", "cloudmatrix384@64", "--tp", "3"], "give --tp 4")


# ---------------------------------------------------------------------------- serving: options that cannot apply

@pytest.mark.parametrize("extra,needle", [
    (["--dp-attention", "4"], "--dp-attention 4 does not apply to llama3-8b, a dense model"),
    (["--moe-ep", "4"], "--moe-ep 4 does not apply"),
    (["--ep", "4"], "--ep 4 does not apply"),
    (["--moe-tp", "2"], "--moe-tp 2 does not apply"),
    (["--overlap"], "--overlap True does not apply"),
    (["--eplb", "none"], "--eplb 'none' does not apply"),
    (["--phase", "prefill", "--kv-len", "9000"], "--kv-len does not apply to --phase prefill"),
    (["--phase", "prefill", "--mtp", "2"], "--mtp does not apply to --phase prefill"),
    (["--cache-hit", "0.5"], "--cache-hit serves prompt tokens from the prefix cache"),
])
def test_serve_option_that_cannot_apply_is_refused(extra, needle):
    refused(["serve", "llama3-8b", "dgx-h100-superpod", *extra], needle)


def test_serve_dense_refusals_in_the_api():
    with pytest.raises(InvalidOptionError, match="dense model"):
        sp.serve("llama3-8b", "dgx-h100-superpod", dp=4)


@pytest.mark.parametrize("kw", [{"dp": 4}, {"dp": 4, "tp": 2}, {"dp": 8, "phase": "pd"}])
def test_dp_attention_is_reported_as_given(kw):
    plan = sp.serve("deepseek-v3", "gb200-nvl72", **kw)["plan"]
    assert plan["dp"] == kw["dp"] and plan["moe_tp"] * plan["moe_ep"] == plan["tp"] * kw["dp"], plan


def test_expert_layout_identity():
    refused(["serve", "deepseek-v3", "gb200-nvl72", "--dp-attention", "4", "--tp", "2", "--moe-ep", "3"],
            "moe_tp x moe_ep must equal tp x dp-attention", "= 8 ranks")


# ---------------------------------------------------------------------------- names

def test_unknown_system_suggests_by_tokens_then_lists_all():
    err = refused(["serve", "llama3-8b", "h100-hgx"], "unknown system 'h100-hgx'")
    head, _, rest = err.partition("known systems: ")
    assert "dgx-h100-superpod" in head and "h100-roce-cluster" in head and "gb200-nvl72" in rest


def test_unknown_model_suggests_a_substring():
    with pytest.raises(UnknownNameError, match="did you mean .*llama3-8b"):
        sp.model("llama3")


# ---------------------------------------------------------------------------- the roofline check itself

def _record():
    return sp.serve("llama3-8b", "dgx-h100-superpod").to_dict()


def test_roofline_passes_real_records():
    for r in (_record(), sp.serve("deepseek-v3", "gb200-nvl72", phase="pd").to_dict(),
              sp.serve("llama3-70b", "h200-cluster", chips=8, phase="both").to_dict()):
        assert serving_roofline(r) == []


def test_roofline_catches_an_impossible_decode():
    r = _record()
    r["decode"]["tokens_per_s_per_chip"] *= 1e3  # above the FLOP roofline
    assert any("above the peak" in b for b in serving_roofline(r))
    r = _record()
    r["decode"]["step_s"] /= 10  # reads weights + KV faster than HBM allows
    assert any("TB/s" in b for b in serving_roofline(r))


def test_errors_are_superpod_errors():
    with pytest.raises(SuperpodError):
        sp.train(*H100, pp=64)


@pytest.mark.parametrize("archs", ['1000000000', '"LlamaForCausalLM"', '[1, {}]', 'null'])
def test_config_architectures_of_any_type_is_one_line(tmp_path, archs):
    p = tmp_path / "config.json"
    p.write_text('{"architectures": %s, "hidden_size": 4096}' % archs)
    refused(["train", str(p), "gb200-nvl72", "--tp", "2"])
    refused(["show", str(p)])


def test_nan_and_validator_messages_say_what_is_wrong_once():
    from typer.testing import CliRunner

    from superpod.faces.cli.app import app

    r = CliRunner().invoke(app, ["serve", "deepseek-r1", "gb200-nvl72", "--phase", "pd", "--cache-hit", "0.5",
                                 "--cache-zipf", "nan"])
    assert r.exit_code == 2 and r.stderr.strip() == "error: --cache-zipf must be a finite number, got nan"
    r = CliRunner().invoke(app, ["serve", "deepseek-r1", "gb200-nvl72", "--phase", "pd", "--electricity", "nan"])
    assert r.exit_code == 2 and r.stderr.count("got 'nan'") == 1 and "value error" not in r.stderr


# ---------------------------------------------------------------------------- training run settings (issue 11)

@pytest.mark.parametrize("extra,needles", [
    (["--power-limit-w", "nan"], ["--power-limit-w", "finite"]),
    (["--power-limit-w", "inf"], ["--power-limit-w", "finite"]),
    (["--power-limit-w", "abc"], ["--power-limit-w", "not a number"]),
    (["--power-limit-w", "-5"], ["--power-limit-w", "> 0"]),
    (["--power-limit-w", "300"], ["--power-limit-w 300", "400 W to 700 W"]),
    (["--dispatcher", "hybrid"], ["--dispatcher", "deepep, alltoall"]),
    (["--dispatcher", "alltoall"], ["needs an MoE model", "dense"]),
    (["--routing", "skewed"], ["--routing", "balanced, random"]),
    (["--recompute-modules", "bogus"], ["--recompute-modules", "unknown module 'bogus'"]),
])
def test_training_run_settings_refused_in_one_line(extra, needles):
    refused(["train", "llama3-8b", "dgx-h100-superpod@8", *extra], *needles)


@pytest.mark.parametrize("kw", [{"power_limit_w": float("nan")}, {"power_limit_w": float("inf")},
                                {"power_limit_w": "abc"}, {"power_limit_w": 0}, {"dispatcher": "hybrid"},
                                {"routing": "skewed"}, {"recompute_modules": "bogus"}])
def test_training_run_settings_refused_in_the_api(kw):
    with pytest.raises(SuperpodError):
        sp.train("llama3-8b", "dgx-h100-superpod@8", **kw)
