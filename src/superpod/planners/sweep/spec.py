"""A sweep spec (SPEC.toml): the question, fixed arguments and axes, checked with file:line errors.

::

    question = "serve"          # serve | train | scale | scenario
    batch = 256                 # points per chunk: a task, a write (optional)
    [fixed]
    model = "deepseek-r1"
    phase = "decode"
    [axes]
    system = ["cloudmatrix384", "gb200-nvl72"]
    tpot_slo_ms = [30, 50]
    input_len = {start = 1024, stop = 8192, num = 4, log = true}   # a range
    chip.hbm_Bps = ["x1", "x1.5"]                                  # what-if catalog field

Names are the command's option names (``tpot_slo_ms`` for ``--tpot-slo-ms``) or catalog
paths (:mod:`superpod.spec.whatif`). A range is ``{start, stop, step}`` (stop included when
it falls on a step) or ``{start, stop, num[, log]}``. The points are the Cartesian product
of the axes, in the order written.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from superpod.errors import SpecError
from superpod.planners.sweep.options import OPTIONS, QUESTIONS, REQUIRED, convert
from superpod.spec.whatif import ROOTS

TOP_KEYS = ("question", "fixed", "axes", "batch", "description")
RANGE_KEYS = {"start", "stop", "step", "num", "log"}
DEFAULT_BATCH = 256


@dataclass(frozen=True)
class Spec:
    """A checked sweep spec: ``fixed`` and ``axes`` by name (dotted for catalog fields)."""

    question: str
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]
    batch: int = DEFAULT_BATCH
    path: str = "<spec>"
    description: str = ""
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def size(self) -> int:
        n = 1
        for values in self.axes.values():
            n *= len(values)
        return n


class _Lines:
    """Line numbers of keys, by section: tomllib gives none, so the text is scanned."""

    def __init__(self, text: str):
        self.text = text.splitlines()

    def find(self, section: str | None, name: str) -> int:
        head, cur = name.split(".")[0], None
        for i, raw in enumerate(self.text, 1):
            line = raw.split("#", 1)[0].strip()
            m = re.match(r"^\[\s*([^\]]+?)\s*\]$", line)
            if m:
                cur = m.group(1)
                if section and cur.startswith(section + ".") and cur[len(section) + 1:].split(".")[0] == head:
                    return i
                continue
            if cur == section and re.match(rf"^[\"']?{re.escape(head)}[\"']?\s*[.=]", line):
                return i
        return 0


def _error(spec_path: str, line: int, msg: str) -> SpecError:
    return SpecError(f"{spec_path}:{line}: {msg}" if line else f"{spec_path}: {msg}")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"chip": {"hbm_Bps": [...]}}`` (TOML's dotted keys) -> ``{"chip.hbm_Bps": [...]}``; ranges stay."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and not (v and set(v) <= RANGE_KEYS):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


def _range(v: dict[str, Any]) -> list[float]:
    if "start" not in v or "stop" not in v or ("step" in v) == ("num" in v):
        raise ValueError("a range is {start, stop, step} or {start, stop, num[, log]}")
    start, stop = float(v["start"]), float(v["stop"])
    if "step" in v:
        step = float(v["step"])
        if step <= 0 or stop < start:
            raise ValueError("a stepped range needs step > 0 and stop >= start")
        vals = list(np.arange(start, stop + step * 1e-9, step))
    else:
        num = v["num"]
        if not isinstance(num, int) or num < 1:
            raise ValueError("num must be a whole number >= 1")
        if v.get("log"):
            if start <= 0 or stop <= 0:
                raise ValueError("a log range needs start and stop > 0")
            vals = list(np.geomspace(start, stop, num))
        else:
            vals = list(np.linspace(start, stop, num))
    ints = all(isinstance(v[k], int) for k in ("start", "stop", "step") if k in v)
    vals = [float(f"{float(x):.12g}") for x in vals]  # 2048.000000000001 -> 2048
    return [int(x) if ints and x.is_integer() else x for x in vals]


def _check_name(question: str, name: str, where: str, line: int) -> None:
    if name.split(".")[0] in ROOTS and "." in name:
        return
    known = list(OPTIONS[question])
    if name not in known:
        close = difflib.get_close_matches(name, known + [f"{r}." for r in ROOTS], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; options of {question}: {', '.join(known)}"
        raise _error(where, line, f"unknown option {name!r} for question {question!r}{hint} "
                                  f"(or a catalog path {', '.join(r + '.FIELD' for r in ROOTS[:3])}...)")


def _check_value(question: str, name: str, value: Any, where: str, line: int) -> None:
    if "." in name and name.split(".")[0] in ROOTS:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _error(where, line, f"{name}: a catalog value is a number (SI) or 'xFACTOR', not {value!r}")
        return
    try:
        convert(question, name, value)
    except (TypeError, ValueError) as e:
        raise _error(where, line, str(e)) from None


def parse(text: str, where: str = "<spec>") -> Spec:
    """A :class:`Spec` from TOML text; every problem is a :class:`SpecError` naming ``where:line``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) if m else (len(text.splitlines()) if "end of document" in str(e) else 0)
        raise _error(where, line, f"malformed TOML: {e}") from None
    lines = _Lines(text)
    for k in data:
        if k not in TOP_KEYS:
            close = difflib.get_close_matches(k, TOP_KEYS, n=1)
            raise _error(where, lines.find(None, k), f"unknown key {k!r}" + (f"; did you mean {close[0]}?" if close
                         else f"; a spec has {', '.join(TOP_KEYS)}"))
    question = data.get("question")
    if question not in QUESTIONS:
        raise _error(where, lines.find(None, "question"),
                     f"question must be one of {', '.join(QUESTIONS)}, not {question!r}")
    batch = data.get("batch", DEFAULT_BATCH)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise _error(where, lines.find(None, "batch"), f"batch must be a whole number >= 1, not {batch!r}")
    for sec in ("fixed", "axes"):
        if not isinstance(data.get(sec, {}), dict):
            raise _error(where, lines.find(None, sec), f"{sec} must be a table ([{sec}])")
    fixed, axes_raw = _flatten(data.get("fixed", {})), _flatten(data.get("axes", {}))
    found = {}
    for name, value in fixed.items():
        line = lines.find("fixed", name)
        found[name] = line
        _check_name(question, name, where, line)
        _check_value(question, name, value, where, line)
    axes: dict[str, list[Any]] = {}
    for name, value in axes_raw.items():
        line = lines.find("axes", name)
        found[name] = line
        _check_name(question, name, where, line)
        if name in fixed:
            raise _error(where, line, f"{name} is both fixed and an axis")
        if isinstance(value, dict):
            try:
                value = _range(value)
            except (ValueError, TypeError) as e:
                raise _error(where, line, f"{name}: {e}") from None
        if not isinstance(value, list) or not value:
            raise _error(where, line, f"axis {name} must be a non-empty list or a range {{start, stop, num}}")
        for v in value:
            _check_value(question, name, v, where, line)
        if len(set(map(repr, value))) != len(value):
            raise _error(where, line, f"axis {name} repeats a value")
        axes[name] = value
    missing = [r for r in REQUIRED[question] if r not in fixed and r not in axes]
    if missing:
        raise _error(where, 0, f"question {question!r} needs {' and '.join(missing)} (in [fixed] or [axes])")
    return Spec(question, fixed, axes, batch, where, str(data.get("description", "")), found)


def load(path: str | Path) -> Spec:
    """Read and check SPEC.toml."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from None
    return parse(text, str(path))
