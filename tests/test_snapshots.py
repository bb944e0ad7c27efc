"""Frozen JSON of validate, calibration and the README's commands: any change to a figure shows here.

Regenerate with `python tests/snapshots/commands.py` and review the diff. Numbers compare to a
relative 1e-9 (the same arithmetic in another order is not a behaviour change).
"""

import json
import math
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent / "snapshots"
sys.path.insert(0, str(HERE))
import commands  # noqa: E402

# Keys renamed since the snapshot was taken: old name -> new name (the old one stays as alias).
# (Issue 9 renamed none: every new power/energy/rank key is added beside the old one, which keeps its value.)
RENAMED: dict[str, str] = {}

# Declared semantic changes (issue 9's closing note): (snapshot, JSON path, value then, value now).
# Parallel degrees count ranks: an Ascend 910C package holds 2, so the chip-level TP 2 of the
# README's CloudMatrix384 train row is TP 4 in ranks; step time, MFU and memory are unchanged.
CHANGED: list[tuple[str, str, object, object]] = [
    ("train-readme", "$.systems[0].plan.tp", 2, 4),
]


def _keys(path: str) -> list:
    """``$.a.b[0].c`` -> ``["a", "b", 0, "c"]``."""
    parts = path.removeprefix("$.").replace("[", ".[").split(".")
    return [int(p[1:-1]) if p.startswith("[") else p for p in parts]


def at(obj, path: str):
    for k in _keys(path):
        obj = obj[k]
    return obj


def put(obj, path: str, value) -> None:
    *head, last = _keys(path)
    for k in head:
        obj = obj[k]
    obj[last] = value


def diff(a, b, path="$"):
    """Yield the paths where a (snapshot) and b (now) differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            kb = k if k in b else RENAMED.get(k, k)
            if kb not in b:
                yield f"{path}.{k}: missing now"
            else:
                yield from diff(a[k], b[kb], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items then, {len(b)} now"
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff(x, y, f"{path}[{i}]")
    elif isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        if a != b:
            yield f"{path}: {a!r} then, {b!r} now"
    elif not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        yield f"{path}: {a!r} then, {b!r} now"


@pytest.mark.parametrize("name", sorted(commands.COMMANDS))
def test_snapshot(name):
    then = json.loads((HERE / f"{name}.json").read_text())
    now = commands.run(name)
    for snap, path, old, new in CHANGED:
        if snap == name:
            assert at(then, path) == old, f"{name} {path}: the snapshot holds {at(then, path)!r}, declared {old!r}"
            assert at(now, path) == new, f"{name} {path}: now {at(now, path)!r}, declared {new!r}"
            put(then, path, new)
    problems = list(diff(then, now))
    assert not problems, f"{name}: {len(problems)} differences, first: " + "; ".join(problems[:8])
