"""Chrome/Perfetto traces of `superpod train --trace` and `superpod simulate --trace` (issue 14)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from superpod import api
from superpod.faces.cli import app
from superpod.faces.report import trace


def _valid(doc: dict) -> list[dict]:
    """Check the Trace Event Format (JSON object form) and return the complete events."""
    assert isinstance(doc["traceEvents"], list) and doc["traceEvents"]
    for e in doc["traceEvents"]:
        assert e["ph"] in ("X", "M", "C") and isinstance(e["pid"], int) and isinstance(e["name"], str)
        if e["ph"] == "X":
            assert isinstance(e["tid"], int) and e["ts"] >= 0 and e["dur"] > 0
    return [e for e in doc["traceEvents"] if e["ph"] == "X"]


def _no_overlap(events: list[dict]) -> None:
    by = defaultdict(list)
    for e in events:
        by[e["pid"], e["tid"]].append(e)
    for evs in by.values():
        evs.sort(key=lambda e: e["ts"])
        for a, b in zip(evs, evs[1:]):
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-3


@pytest.mark.parametrize("model,system,fixed", [("llama3-70b", "dgx-h100-superpod", {}),
                                                ("llama3-405b", "dgx-h100-superpod", {"pp": 8, "schedule": "1f1b"}),
                                                ("deepseek-v3", "cloudmatrix384", {})])
def test_train_trace_sums_to_step(model, system, fixed):
    rec = api.train(model, system, trace="unused.json", **fixed)
    doc = json.loads(json.dumps(trace.train_trace([rec])))
    events = _valid(doc)
    _no_overlap(events)
    per_stage = defaultdict(float)
    for e in events:
        per_stage[e["tid"]] += e["dur"]
    assert len(per_stage) == rec["plan"]["pp"]
    for total in per_stage.values():
        assert total == pytest.approx(rec["step_s"] * 1e6, rel=1e-9)
    names = {e["name"].split(" ")[0] for e in events}
    assert {"forward", "backward"} <= names
    if rec["breakdown"]["bubble_s"] > 0:
        assert any(e["cat"] == "bubble" for e in events)


def test_train_without_trace_has_no_timeline():
    assert "timeline" not in api.train("llama3-8b", "gb200-nvl72").record


def test_simulate_trace_sums_to_e2e():
    rec = api.simulate("llama3-70b", "h200-cluster", rate=4, requests=120, chips=8, trace="x.json").record
    events = _valid(json.loads(json.dumps(trace.simulate_trace(rec))))
    _no_overlap(events)
    per_req = defaultdict(float)
    for e in events:
        per_req[e["args"]["request"]] += e["dur"] / 1e6
    assert len(per_req) == 120
    e2e = sum(per_req.values()) / len(per_req)
    assert e2e == pytest.approx(rec["e2e_s"]["mean"], rel=1e-9)


def test_cli_writes_traces(tmp_path):
    runner = CliRunner()
    out = tmp_path / "train.json"
    r = runner.invoke(app, ["train", "llama3-8b", "gb200-nvl72", "gb300-nvl72", "--trace", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert {e["pid"] for e in _valid(doc)} == {0, 1}
    out = tmp_path / "sim.json"
    r = runner.invoke(app, ["simulate", "deepseek-r1", "cloudmatrix384", "--rate", "10", "--requests", "100",
                            "--no-progress", "--trace", str(out)])
    assert r.exit_code == 0, r.output
    assert _valid(json.loads(out.read_text()))
