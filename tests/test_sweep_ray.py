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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_joins_a_running_cluster_with_address(tmp_path):
    """``superpod sweep SPEC --engine ray --address 127.0.0.1:PORT`` joins a cluster started
    apart (``ray start --head``, 2 CPUs, on this machine, its own temp dir and process group)
    and stores what the local engine stores; the test stops that cluster only."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    ray_bin = Path(sys.executable).with_name("ray")
    superpod_bin = Path(sys.executable).with_name("superpod")
    if not ray_bin.exists() or not superpod_bin.exists():
        pytest.skip("the ray and superpod commands are not installed next to this Python")
    import secrets

    port = _free_port()
    # the cluster's own token (Ray's token authentication), given to the head and the driver
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    temp = Path("/tmp") / f"sp-ray-{os.getpid()}-{port}"  # short: Ray's socket paths have a length limit
    log = tmp_path / "head.log"
    head = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        spec = tmp_path / "spec.toml"
        spec.write_text(SPEC)
        address = f"127.0.0.1:{port}"
        out = tmp_path / "joined.duckdb"
        deadline = time.monotonic() + 40
        while "Ray runtime started" not in log.read_text() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Ray runtime started" in log.read_text(), log.read_text()[-2000:]
        r = subprocess.run([str(superpod_bin), "sweep", str(spec), "--engine", "ray", "--address", address,
                            "--out", str(out), "--json"], capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        run(parse(SPEC), tmp_path / "local.duckdb")
        _, joined = query(out, f"SELECT {COLS} FROM results ORDER BY point_hash")
        _, local = query(tmp_path / "local.duckdb", f"SELECT {COLS} FROM results ORDER BY point_hash")
        assert len(joined) == 16 and joined == local
    finally:
        # stop this cluster only: the process group ``ray start --block`` leads (its GCS, raylet and
        # workers): SIGTERM, a few seconds to exit, then SIGKILL to what is left of the group
        for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(temp, ignore_errors=True)
