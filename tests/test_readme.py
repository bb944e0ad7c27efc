"""README's quick start is exactly two commands, and CI runs the second one."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    return [ln for b in blocks for ln in b.strip().splitlines() if ln.strip() and not ln.startswith("#")]


def test_two_commands():
    cmds = quick_start_commands()
    assert len(cmds) == 2, cmds
    assert "superpod compare cloudmatrix384 gb200-nvl72" in cmds[0] or "superpod serve" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci
