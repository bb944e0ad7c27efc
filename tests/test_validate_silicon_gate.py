"""The accuracy gate over the public silicon file (issue 10, as NVIDIA's AIConfigurator gates itself
against its measured runs), and the per-row check against the snapshot of predictions.

The gate asserts what the issue asks: TPOT MAPE <= 12%, TTFT MAPE <= 25%, >= 95% of the rows of
supported models that state their deployment answered. It is not met yet, so it is marked
``xfail(strict=True)`` with today's figures: CI shows it, and it turns into a failure to update
(remove the mark) the day the gate is met. The per-row test fails when any row's predicted TTFT or
TPOT moved by more than 10% from ``tests/snapshots/validate-silicon.json`` (or its status changed)
and lists those rows, so every change to accuracy is visible in review; after an intended change,
regenerate the snapshot (``python tests/snapshots/commands.py validate-silicon``) and say why.
"""

import json
import pathlib

import pytest

from superpod.planners.validation_silicon import GATE, validate_silicon

SNAPSHOT = pathlib.Path(__file__).resolve().parent / "snapshots" / "validate-silicon.json"
MOVED = 0.10  # relative change of a row's prediction that the per-row test reports


@pytest.fixture(scope="module")
def report():
    return validate_silicon()


def _figures(s: dict) -> str:
    return (f"TTFT MAPE {s['ttft_mape']:.1%} (gate {GATE['ttft_mape']:.0%}), TPOT MAPE {s['tpot_mape']:.1%} "
            f"(gate {GATE['tpot_mape']:.0%}), answered {s['answered']:,} of {s['gate_rows']:,} = "
            f"{s['answered_share']:.1%} (gate {GATE['answered_share']:.0%})")


# today's figures (update with the xfail reason when they move)
TODAY = "TTFT MAPE 39.8%, TPOT MAPE 19.1%, answered 2,027 of 2,029 rows (99.9%)"


@pytest.mark.xfail(reason=f"gate not met yet: {TODAY}", strict=True)
def test_public_file_meets_the_accuracy_gate(report):
    s = report["summary"]
    assert s["answered_share"] >= GATE["answered_share"], _figures(s)
    assert s["tpot_mape"] <= GATE["tpot_mape"], _figures(s)
    assert s["ttft_mape"] <= GATE["ttft_mape"], _figures(s)
    assert s["within_gate"]


def test_summary_states_the_gate_and_its_denominator(report):
    s = report["summary"]
    assert s["gate"] == GATE
    rows = report["rows"]
    undetermined = [r for r in rows if r["model_supported"] and not r["deployment_stated"]]
    assert s["undetermined_deployment_rows"] == len(undetermined) > 0
    assert all(r["status"] == "unsupported" and "does not determine its deployment" in r["reason"]
               and r["mode"] == "disagg" for r in undetermined)
    assert s["gate_rows"] == s["supported_model_rows"] - s["undetermined_deployment_rows"]
    assert f"{s['gate_rows']:,} rows" in s["gate_denominator"]
    assert s["answered_share"] == pytest.approx(s["answered"] / s["gate_rows"])


def _moved(then: dict, now: dict) -> list[str]:
    """Rows whose status changed or whose predicted TTFT/TPOT moved by more than ``MOVED``."""
    before = {r["id"]: r for r in then["rows"]}
    lines = []
    for r in now["rows"]:
        b = before.get(r["id"])
        if b is None:
            lines.append(f"{r['id']}: new row ({r['status']})")
            continue
        if b["status"] != r["status"]:
            lines.append(f"{r['id']}: {b['status']} -> {r['status']} ({r['reason'] or 'answered'})")
            continue
        if r["status"] != "ok":
            continue
        for k in ("ttft", "tpot"):
            old, new, meas = b[f"predicted_{k}_ms"], r[f"predicted_{k}_ms"], r[f"measured_{k}_ms"]
            if abs(new / old - 1) > MOVED:
                lines.append(f"{r['id']}: {k.upper()} {old:,.1f} -> {new:,.1f} ms ({new / old - 1:+.0%}; "
                             f"measured {meas:,.1f}, error {old / meas - 1:+.0%} -> {new / meas - 1:+.0%})")
    return lines


def test_rows_moved_since_the_snapshot(report):
    then = json.loads(SNAPSHOT.read_text())
    lines = _moved(then, report)
    shown = "\n  ".join(lines[:40]) + (f"\n  ... and {len(lines) - 40} more" if len(lines) > 40 else "")
    assert not lines, f"{len(lines)} predictions moved by more than {MOVED:.0%} since {SNAPSHOT.name}:\n  {shown}"


def test_the_listing_names_each_moved_row():
    row = {"id": "r1", "status": "ok", "reason": "", "predicted_ttft_ms": 100.0, "predicted_tpot_ms": 10.0,
           "measured_ttft_ms": 200.0, "measured_tpot_ms": 10.0}
    then = {"rows": [row]}
    now = {"rows": [row | {"predicted_ttft_ms": 150.0, "predicted_tpot_ms": 10.5}]}
    assert _moved(then, now) == ["r1: TTFT 100.0 -> 150.0 ms (+50%; measured 200.0, error -50% -> -25%)"]
    assert _moved(then, {"rows": [row | {"status": "infeasible", "reason": "too big"}]}) == ["r1: ok -> infeasible (too big)"]
