"""The CLI commands whose JSON is frozen in snapshots/*.json (issue 9: behaviour unchanged).

`python tests/snapshots/commands.py` rewrites the snapshots; review the diff before committing.
Keys listed in VOLATILE (wall-clock timings) are dropped before comparing.
"""

from __future__ import annotations

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent

COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "--json"],
    "calibration": ["calibration", "--json"],
    "compare": ["compare", "cloudmatrix384", "gb200-nvl72", "--json"],
    "claims": ["claims", "--json"],
    "serve-main": ["serve", "deepseek-r1", "cloudmatrix384", "gb200-nvl72", "--tpot-slo-ms", "50",
                   "--mtp", "1", "--mtp-accept", "0.7", "--json"],
    "train-readme": ["train", "deepseek-v3", "cloudmatrix384", "gb200-nvl72@384",
                     "ethernet-8gpu-cluster@384", "--json"],
    "scenario": ["scenario", "huaweiopolis", "--json"],
    "scale": ["scale", "deepseek-v3", "atlas950-supercluster", "--json"],
    "serve-pd": ["serve", "deepseek-r1", "cloudmatrix384", "--phase", "pd", "--json"],
    "validate-silicon": ["validate", "silicon", "--json"],
    "serve-both": ["serve", "llama3-70b", "h200-cluster", "--chips", "8", "--phase", "both", "--json"],
}

VOLATILE = {"plans_per_s", "search_s", "elapsed_s", "wall_s", "seconds"}


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def run(name: str) -> object:
    from typer.testing import CliRunner

    from superpod.faces.cli import app

    res = CliRunner().invoke(app, COMMANDS[name])
    if res.exit_code != 0 and not (name in ("validate-silicon", "validate") and res.exit_code == 1):  # 1: outside the gate
        raise RuntimeError(f"{name}: exit {res.exit_code}: {res.output[-2000:]}")
    return strip(json.loads(res.stdout))


if __name__ == "__main__":
    for name in sys.argv[1:] or COMMANDS:
        (HERE / f"{name}.json").write_text(json.dumps(run(name), indent=1, sort_keys=True) + "\n")
        print("wrote", name)
