"""``NAME@N`` sizes a system in serve and simulate as in train and scale; ``@N`` and a different
``--chips`` is refused, never one of them silently winning."""

import pytest
from typer.testing import CliRunner

import superpod as sp
from superpod.errors import SuperpodError
from superpod.faces.cli.app import app


def test_serve_at_n_equals_chips():
    a = sp.serve("llama3-8b", "h200-cluster@16").to_dict()
    b = sp.serve("llama3-8b", "h200-cluster", chips=16).to_dict()
    assert a["chips"] == b["chips"] == 16
    assert a["decode"] == b["decode"]


def test_simulate_at_n():
    for n in (8, 16):
        d = sp.simulate("llama3-8b", f"h200-cluster@{n}", rate=2.0, requests=50).to_dict()["deployment"]
        assert d["instances"] * d["chips_per_instance"] == n


def test_contradiction_refused():
    with pytest.raises(SuperpodError, match="says 16 chips but --chips says 8"):
        sp.serve("llama3-8b", "h200-cluster@16", chips=8)
    r = CliRunner().invoke(app, ["serve", "llama3-8b", "h200-cluster@x"])
    assert r.exit_code == 2 and "chip count" in r.stderr
