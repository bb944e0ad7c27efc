"""The Python API: works on repeated calls, typed frozen results, options validated once."""

import subprocess
import sys

import pytest

import superpod as sp
from superpod.api import options as O
from superpod.errors import SuperpodError

API = ["system", "model", "train", "serve", "simulate", "scale", "scenario", "compare", "claims", "validate",
       "chips", "systems", "models", "show", "calibration", "scaling_curves"]

#: one cheap call per API function
CALLS = {
    "system": lambda: sp.system("gb200-nvl72@144"),
    "model": lambda: sp.model("llama3-8b"),
    "train": lambda: sp.train("llama3-8b", "dgx-h100-superpod", chips=64, global_batch=256),
    "serve": lambda: sp.serve("llama3-8b", "dgx-h100-superpod", chips=8),
    "simulate": lambda: sp.simulate("llama3-8b", "dgx-h100-superpod", chips=8, rate=2, requests=20),
    "scale": lambda: sp.scale("llama3-8b", "gb200-nvl72", chips=144, fast=True),
    "scenario": lambda: sp.scenario(model="llama3-8b", fast=True),
    "compare": lambda: sp.compare(["cloudmatrix384", "gb200-nvl72"]),
    "claims": lambda: sp.claims(),
    "validate": lambda: sp.validate("training"),
    "chips": lambda: sp.chips(),
    "systems": lambda: sp.systems(),
    "models": lambda: sp.models(),
    "show": lambda: sp.show("gb200"),
    "calibration": lambda: sp.calibration(),
    "scaling_curves": lambda: sp.scaling_curves("llama3-8b", "gb200-nvl72", points=2, max_chips=256, workers=1),
}


def test_dir_lists_the_api():
    assert set(API) <= set(dir(sp)) and set(API) <= set(sp.__all__)


def test_import_is_light():
    code = "import sys, superpod; print(','.join(m for m in ('numpy', 'pandas', 'matplotlib', 'superpod.planners') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_function_works_twice(name):
    first, second = CALLS[name](), CALLS[name]()
    a = first if isinstance(first, dict) else first.to_dict()
    b = second if isinstance(second, dict) else second.to_dict()
    assert type(first) is type(second) and a.keys() == b.keys()
    assert callable(getattr(sp, name))  # no subpackage shadowed the function


def test_train_result_is_typed_and_frozen():
    r = CALLS["train"]()
    assert isinstance(r, sp.api.TrainResult)
    assert r.step_s > 0 and 0 < r.mfu < 1 and r.tokens_per_s == pytest.approx(256 * 4096 / r.step_s)
    assert r.plan.tp * r.plan.pp * r.plan.dp * r.plan.cp == r.chips
    assert set(r.breakdown) >= {"compute_s", "bubble_s"} and r["mfu"] == r.mfu  # dict access kept
    assert "Where the step time goes" in r.explain() and "MFU =" in r.explain()
    with pytest.raises(AttributeError):
        r.mfu = 1.0
    with pytest.raises(Exception):
        r.plan.tp = 3
    frame = r.to_frame()
    assert len(frame) == 1 and frame.loc[0, "plan.tp"] == r.plan.tp


def test_lists_of_systems_give_one_frame_row_each():
    t = sp.train("llama3-8b", ["cloudmatrix384", "gb200-nvl72@384"], tp=2)
    assert isinstance(t, sp.api.TrainResults) and [r.system for r in t] == ["cloudmatrix384", "gb200-nvl72"]
    assert list(t.to_frame()["system"]) == ["cloudmatrix384", "gb200-nvl72"]
    s = sp.serve("deepseek-r1", ["cloudmatrix384", "h800-cluster"], quant="int8")
    f = s.to_frame()
    assert len(f) == 2 and "no int8" in f.loc[1, "error"]
    assert isinstance(s[0], sp.api.ServeResult) and s[0].tokens_per_s_per_chip > 0 and s[0].tpot_s > 0


def test_serve_result_fields():
    r = sp.serve("deepseek-r1", "cloudmatrix384", phase="pd")
    assert r.phase == "pd" and r.ttft_s > 0 and r.tpot_s > 0
    assert r.tokens_per_s_per_chip == r["pd"]["output_tokens_per_s_per_chip"]
    assert "prefill: time per step" in r.explain()


def test_specs_read_through_and_show():
    s = sp.system("gb200-nvl72@144")
    assert s.chip.name == "gb200" and s.spec.name == "gb200-nvl72"
    assert s.totals["chips"] == 144 and s.to_dict()["totals"]["chips"] == 144
    assert sp.system("gb200-nvl72").to_dict() == sp.show("gb200-nvl72")
    m = sp.model("deepseek-v3")
    assert m.layers == 61 and m.to_dict() == sp.show("deepseek-v3")


def test_frames_of_collections():
    assert len(sp.chips().to_frame()) == len(sp.chips())
    assert {"name", "bf16_flops"} <= set(sp.compare(["cloudmatrix384", "gb200-nvl72"]).to_frame().columns)
    assert {"id", "measured", "predicted"} <= set(sp.validate("training").to_frame().columns)
    c = CALLS["scaling_curves"]()
    assert set(c.to_frame()["system"]) == {"gb200-nvl72"}
    assert sp.claims().counts["reproduced"] > 0


@pytest.mark.parametrize("call,words", [
    (lambda: sp.train("llama3-8b", "dgx-h100-superpod", schedule="foo"), ["schedule must be one of", "1f1b"]),
    (lambda: sp.train("llama3-8b", "dgx-h100-superpod", schedul="1f1b"), ["unknown option", "did you mean schedule"]),
    (lambda: sp.train("llama3-8b", "dgx-h100-superpod", chips="many"), ["chips", "integer"]),
    (lambda: sp.train("llama3-8b", "dgx-h100-superpod", global_batch=2, global_batch_tokens=8192), ["not both"]),
    (lambda: sp.serve("llama3-8b", "dgx-h100-superpod", tpot_slo_ms=50), ["did you mean tpot_slo_s"]),
    (lambda: sp.serve("llama3-8b", "dgx-h100-superpod", phase="sideways"), ["phase must be one of"]),
    (lambda: sp.scale("llama3-8b", "gb200-nvl72", days=-1), ["days must be > 0"]),
    (lambda: sp.simulate("llama3-8b", "dgx-h100-superpod"), ["give rate, requests_file or find_capacity"]),
    (lambda: sp.compare(["cloudmatrix384"], chips=0), ["chips must be >= 1"]),
])
def test_bad_options_are_one_line_superpod_errors(call, words):
    with pytest.raises(SuperpodError) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_cli_errors_name_the_flag(cli):
    r = cli("serve", "llama3-8b", "dgx-h100-superpod", "--eplb", "some")
    assert r.exit_code == 2 and "--eplb must be one of" in r.stderr
    r = cli("scale", "llama3-8b", "gb200-nvl72", "--failure-scale", "0")
    assert r.exit_code == 2 and "--failure-scale must be > 0" in r.stderr


def test_cli_scale_converts_to_api_units():
    o = O.ServeOptions.parse(cli=True, model="m", systems=["s"], tpot_slo_s=50.0, ttft_slo_s=None)
    assert o.tpot_slo_s == pytest.approx(0.05) and o.ttft_slo_s is None


@pytest.mark.parametrize("cls", [O.TrainOptions, O.ServeOptions, O.SimulateOptions, O.ScaleOptions, O.ScenarioOptions,
                                 O.PlotScalingOptions, O.CompareOptions, O.ValidateOptions])
def test_options_declared_once(cls):
    """Every field documents itself, and the CLI's parameters are exactly the fields (plus CLI-only flags)."""
    from superpod.faces.cli.options import parameter

    for name, field in cls.model_fields.items():
        assert field.description or name in ("min_chips", "max_chips"), name
        p = parameter(cls, name)
        assert p.name == name and (p.default.help or None) == (field.description or None)


def test_to_frame_without_pandas_says_how(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(SuperpodError, match=r"superpod\[frames\]"):
        sp.chips().to_frame()


def test_readme_python_section_runs(capsys):
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    assert "reproduced" in capsys.readouterr().out


def test_scale_and_scenario_explain_and_frames():
    r = CALLS["scale"]()
    assert isinstance(r, sp.api.ScaleResult) and r.effective_flops < r.paper_flops and 0 < r.goodput <= 1
    assert "effective FLOP/s =" in r.explain() and "Where the step time goes" in r.explain()
    sc = CALLS["scenario"]()
    assert [b["key"] for b in sc.builds] == ["supercluster", "nvl72", "ethernet"] and len(sc.to_frame()) == 3
    sim = CALLS["simulate"]()
    assert sim.mode == "colocated" and sim.ttft_s["p50"] > 0 and 0 <= sim.goodput_fraction <= 1


def test_results_pickle():
    import pickle

    for r in (CALLS["train"](), sp.compare(["cloudmatrix384", "gb200-nvl72"]), CALLS["system"]()):
        again = pickle.loads(pickle.dumps(r))
        assert type(again) is type(r) and again.to_dict() == r.to_dict()


def test_serve_plan_is_typed():
    r = sp.serve("deepseek-r1", "cloudmatrix384", tpot_slo_s=0.05)
    assert isinstance(r.plan, sp.api.ServePlan) and r.plan.ep == r["plan"]["ep"] and r.plan.quant == "int8"
