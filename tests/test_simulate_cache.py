"""``simulate`` with the caching tier as a third resource (issue 16): prefix ids, an LRU pool, fetch
under the prefill step; hit 0 is today's simulate, TTFT falls with the hit rate, the pool path's
bandwidth is never exceeded, and the simulated hit rate agrees with serve's."""

import numpy as np
import pytest
from typer.testing import CliRunner

from superpod import api
from superpod.errors import SuperpodError
from superpod.faces.cli import app
from superpod.planners.serve_estimate import serve
from superpod.serving.caching import PrefixCachePool, PrefixRequests
from superpod.serving.requests import parse_dist
from superpod.serving.simulate import Pools
from superpod.serving.simulate import simulate as run

R1 = "deepseek-r1"
KW = dict(chips=32, input_len=4096, output_len=128, requests=300, rate=8.0, seed=3)


def test_hit_zero_is_todays_simulate():
    base = api.simulate(R1, "h200-cluster", **KW).record
    zero = api.simulate(R1, "h200-cluster", cache_hit=0.0, **KW).record
    assert "cache" not in zero and zero == base


@pytest.mark.parametrize("system,mode,extra", [
    ("gb200-nvl72", "pd", dict(cache_prefixes=20_000, cache_zipf=0.8)),
    ("h200-cluster", "pd", {}),
    ("h200-cluster", "colocated", {}),
])
def test_ttft_non_increasing_in_hit_rate(system, mode, extra):
    model = R1 if mode == "pd" else "llama3-70b"
    p50, saved = [], []
    for h in (0.0, 0.2, 0.5, 0.8):
        r = api.simulate(model, system, mode=mode, cache_hit=h, **(extra if h else {}), **KW).record
        p50.append(r["ttft_s"]["p50"])
        if h:
            saved.append(r["cache"]["ttft_saved_s"])
            assert r["cache"]["ttft_no_cache_s"]["p50"] == pytest.approx(p50[0])
    assert all(b <= a + 1e-12 for a, b in zip(p50, p50[1:])), p50
    assert all(s >= 0 for s in saved) and saved[-1] > 0, saved


def _pools(instances=2):
    return Pools("pd", instances, 8192.0, lambda x: 1e-4 * np.asarray(x, dtype=float) + 0.005, 2, 64,
                 np.full(65, 0.02), 1.0, lambda s: np.zeros_like(np.asarray(s, dtype=float)))


@pytest.mark.parametrize("chunked", [False, True])
def test_pool_bandwidth_never_above_the_path(chunked):
    """A slow path: the fetch sets the pace of the prefill steps, the bytes per second stay under the path's."""
    p = _pools()
    p.chunked = chunked
    path_Bps = 1e9  # per prefill instance
    pool = PrefixCachePool(float("inf"), 1e5, path_Bps)
    cache = PrefixRequests(pool, None, np.asarray(0.9), 60)
    idist = parse_dist("fixed:4000", 4000)
    odist = parse_dist("fixed:64", 64)
    r = run(p, 40.0, 400, idist, odist, seed=1, cache=cache)
    k = r["cache"]
    assert k["hit_rate"] == pytest.approx(0.9, abs=1e-3) and k["fetch_s_per_request"] > 0.3
    assert 0 < k["pool_Bps"] <= p.prefill_instances * path_Bps
    assert r["utilisation"]["prefill"] <= 1.0 + 1e-9


def test_recompute_when_fetch_costs_more():
    """A path so slow that fetching a prefix is dearer than recomputing it: the pool recomputes."""
    p = _pools()
    pool = PrefixCachePool(float("inf"), 1e5, 1e3, recompute_s_per_token=1e-4)
    r = run(p, 5.0, 50, parse_dist(None, 2000), parse_dist(None, 16), cache=PrefixRequests(pool, None, np.asarray(0.5), 60))
    assert r["cache"]["hit_rate"] == 0.0 and r["cache"]["fetch_s_per_request"] == 0.0


@pytest.mark.parametrize("system,h,n,s", [("gb200-nvl72", 0.563, 100_000, 0.8), ("cloudmatrix384", 0.5, 100_000, 0.8),
                                          ("gb200-nvl72", 0.4, 20_000, 0.0)])
def test_hit_rate_agrees_with_serve(system, h, n, s):
    kw = dict(cache_hit=h, cache_prefixes=n, cache_zipf=s, input_len=4096, output_len=128)
    serve_hit = serve(R1, system, phase="pd", **kw)["cache"]["hit_rate"]
    sim = api.simulate(R1, system, rate=5.0, requests=3000, seed=0, **kw).record["cache"]
    assert sim["serve_hit_rate"] == pytest.approx(serve_hit)
    assert sim["hit_rate"] == pytest.approx(serve_hit, abs=0.03), (sim["hit_rate"], serve_hit)
    assert sim["pool_Bps"] <= sim["pool_path_Bps"]


def test_trace_and_cli(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("prefix_id,prefix_tokens,prompt_tokens\n" + "".join(f"c{i % 5},3000,4096\n" for i in range(50)))
    r = api.simulate(R1, "gb200-nvl72", cache_trace=f, **KW).record["cache"]
    assert r["hits"] == KW["requests"] - 5 and r["misses"] == 5
    out = CliRunner().invoke(app, ["simulate", R1, "gb200-nvl72", "--rate", "8", "--requests", "200", "--no-progress",
                                   "--cache-hit", "0.5"])
    assert out.exit_code == 0, out.output
    assert "caching tier" in out.output and "TTFT saved" in out.output
    with pytest.raises(SuperpodError):
        api.simulate(R1, "gb200-nvl72", cache_zipf=0.8, **KW)
