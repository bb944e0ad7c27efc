"""The Ray engine (issue 13): a real local 2-CPU Ray cluster on 127.0.0.1, one worker killed
mid-sweep; every point stored exactly once with the local engine's values."""

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("ray")

from superpod.planners.sweep import parse, query, run  # noqa: E402
from superpod.planners.sweep.engine import CHAOS_ENV  # noqa: E402

SPEC = """\
question = "serve"
batch = 2
[fixed]
model = "deepseek-r1"
phase = "decode"
[axes]
system = ["cloudmatrix384", "gb200-nvl72"]
batch_per_chip = [8, 16, 32, 64]
input_len = [1024, 2048]
"""

COLS = "point_hash, system, batch_per_chip, input_len, decode_tokens_per_s_per_chip, decode_tpot_s, plan_ep, error"


def test_ray_worker_killed_mid_sweep_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(CHAOS_ENV, str(marker))  # the first task to start kills its own worker process
    spec = parse(SPEC)
    s = run(spec, tmp_path / "ray.duckdb", engine="ray", workers=2)
    assert marker.exists(), "no worker was killed"
    assert s.written == spec.size == 16
    _, counts = query(tmp_path / "ray.duckdb", "SELECT count(*), count(DISTINCT point_hash) FROM results")
    assert counts == [(16, 16)]
    monkeypatch.delenv(CHAOS_ENV)
    run(spec, tmp_path / "local.duckdb")
    _, on_ray = query(tmp_path / "ray.duckdb", f"SELECT {COLS} FROM results ORDER BY point_hash")
    _, local = query(tmp_path / "local.duckdb", f"SELECT {COLS} FROM results ORDER BY point_hash")
    assert on_ray == local
