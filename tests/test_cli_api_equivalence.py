"""The CLI is a face over the API: for every command with --json, the CLI's JSON is the
API result's ``.to_dict()`` (wall-clock timing keys aside)."""

import json
import pathlib
import sys

import pytest

import superpod as sp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "snapshots"))
from commands import strip  # noqa: E402  (drops search.seconds, plans_per_s and other timings)

#: name -> (CLI arguments without --json, the same call through the API)
CASES = {
    "chips": (["chips"], lambda: sp.chips()),
    "systems": (["systems"], lambda: sp.systems()),
    "models": (["models"], lambda: sp.models()),
    "show-system": (["show", "gb200-nvl72"], lambda: sp.system("gb200-nvl72")),
    "show-model": (["show", "deepseek-v3"], lambda: sp.model("deepseek-v3")),
    "show-chip": (["show", "ascend-910c"], lambda: sp.show("ascend-910c")),
    "compare": (["compare", "cloudmatrix384", "gb200-nvl72@384"], lambda: sp.compare(["cloudmatrix384", "gb200-nvl72@384"])),
    "claims": (["claims"], lambda: sp.claims()),
    "validate": (["validate", "--group", "training"], lambda: sp.validate(["training"])),
    "calibration": (["calibration"], lambda: sp.calibration()),
    "calibration-holdout": (["calibration", "--holdout", "b300_sxm", "--worst", "1"],
                            lambda: sp.calibration(holdout="b300_sxm", worst=1)),
    "train": (["train", "llama3-8b", "dgx-h100-superpod", "--chips", "64", "--global-batch", "256", "--top", "3"],
              lambda: sp.train("llama3-8b", "dgx-h100-superpod", chips=64, global_batch=256, top=3)),
    "train-systems": (["train", "llama3-8b", "cloudmatrix384", "gb200-nvl72@384", "--tp", "2"],
                      lambda: sp.train("llama3-8b", ["cloudmatrix384", "gb200-nvl72@384"], tp=2)),
    "serve": (["serve", "deepseek-r1", "cloudmatrix384", "--tpot-slo-ms", "50", "--mtp", "1", "--dp-attention", "32"],
              lambda: sp.serve("deepseek-r1", "cloudmatrix384", tpot_slo_s=0.05, mtp=1, dp=32)),
    "serve-systems": (["serve", "deepseek-r1", "cloudmatrix384", "h800-cluster", "--quant", "int8"],
                      lambda: sp.serve("deepseek-r1", ["cloudmatrix384", "h800-cluster"], quant="int8")),
    "serve-both": (["serve", "llama3-70b", "h200-cluster", "--chips", "8", "--phase", "both", "--ttft-slo-ms", "2000"],
                   lambda: sp.serve("llama3-70b", "h200-cluster", chips=8, phase="both", ttft_slo_s=2.0)),
    "simulate": (["simulate", "llama3-8b", "dgx-h100-superpod", "--chips", "8", "--rate", "2", "--requests", "50",
                  "--tpot-slo-ms", "60"],
                 lambda: sp.simulate("llama3-8b", "dgx-h100-superpod", chips=8, rate=2, requests=50, tpot_slo_s=0.06)),
    "scale": (["scale", "llama3-8b", "gb200-nvl72", "--chips", "144", "--fast", "--electricity", "china",
               "--serve-tpot-ms", "50"],
              lambda: sp.scale("llama3-8b", "gb200-nvl72", chips=144, fast=True, electricity="china", serve_tpot_s=0.05)),
    "scenario": (["scenario", "huaweiopolis", "--model", "llama3-8b", "--fast"],
                 lambda: sp.scenario("huaweiopolis", model="llama3-8b", fast=True)),
    "plot-scaling": (["plot", "scaling", "llama3-8b", "gb200-nvl72", "--points", "3", "--max-chips", "1024",
                      "--workers", "1", "--out", "{out}"],
                     lambda: sp.scaling_curves("llama3-8b", "gb200-nvl72", points=3, max_chips=1024, workers=1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_json_is_api_to_dict(cli, name, tmp_path):
    args, call = CASES[name]
    plot = str(tmp_path / "curves.png")
    r = cli(*[a.replace("{out}", plot) for a in args], "--json")
    assert r.exit_code == (1 if name == "validate" and not sp.validate(["training"]).within_target else 0), r.stderr
    now = json.loads(r.stdout)
    if name == "plot-scaling":
        assert now.pop("out") == plot
    res = call()
    api = res if isinstance(res, dict) else res.to_dict()
    assert json.loads(json.dumps(api)) == api  # JSON-safe as it is
    assert strip(now) == strip(api)


def test_cli_json_is_api_to_dict_silicon(cli, tmp_path):
    """``validate silicon FILE --json`` (exit 1 while outside the accuracy gate) equals the API's record."""
    from superpod.planners.validation_silicon import default_file

    lines = default_file().read_text().splitlines()
    small = tmp_path / "runs.csv"
    small.write_text("\n".join(lines[:1] + lines[1::97]) + "\n")
    r = cli("validate", "silicon", str(small), "--json")
    res = sp.validate_silicon(str(small))
    assert r.exit_code == (0 if res.within_gate else 1), r.stderr
    assert strip(json.loads(r.stdout)) == strip(res.to_dict())
