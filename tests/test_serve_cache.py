"""The caching tier (issue 16): host-memory pool, hit rate under LRU, fetch vs recompute, savings."""

import json
import pathlib
import tomllib

import numpy as np
import pytest

from superpod import api
from superpod.errors import SuperpodError
from superpod.planners.serve_estimate import serve
from superpod.serving.caching import (PrefixCachePool, capacity_hit_ratio, lru_trace_hit, step_with_fetch,
                                      uniform_lru_hit, zipf_lru_hit)
from superpod.spec.catalog import load_system, names
from superpod.spec.quantity import Quantity

ROOT = pathlib.Path(__file__).resolve().parents[1]
SNAP = ROOT / "tests" / "snapshots"
HITS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
SYSTEMS = ("cloudmatrix384", "gb200-nvl72")


def cache_of(system, h, **kw):
    return serve("deepseek-r1", system, cache_hit=h, **kw)["cache"]


# ---------------------------------------------------------------------------- hit rate 0 is today

@pytest.mark.parametrize("name", ["serve-pd", "serve-both"])
def test_hit_rate_zero_is_todays_record(name):
    """The frozen records (taken before the tier existed) come out unchanged, phase by phase."""
    then = json.loads((SNAP / f"{name}.json").read_text())
    args = {"serve-pd": ("deepseek-r1", "cloudmatrix384", {"phase": "pd"}),
            "serve-both": ("llama3-70b", "h200-cluster", {"chips": 8, "phase": "both"})}[name]
    now = serve(args[0], args[1], **args[2])
    for phase in ("prefill", "decode", "pd", "both"):
        if phase in then:
            for k, v in then[phase].items():
                assert now[phase][k] == pytest.approx(v, rel=1e-12), (phase, k)
    c = now["cache"]
    assert c["hit_rate"] == 0 and c["decision"] == "none"
    assert c["ttft_saved_s"] == 0 and c["prefill_chips_saved"] == 0 and c["pool_Bps"] == 0
    assert c["fetch_s_per_request"] == 0


@pytest.mark.parametrize("system", SYSTEMS)
def test_hit_rate_zero_no_cache_figures_equal_the_record(system):
    r = serve("deepseek-r1", system, phase="prefill")
    c = r["cache"]
    assert c["ttft_s"] == c["ttft_no_cache_s"] == r["prefill"]["ttft_s"]
    assert c["prefill_tokens_per_s_per_chip"] == r["prefill"]["tokens_per_s_per_chip"]
    assert c["cost_per_mtok_usd"] == c["cost_per_mtok_usd_no_cache"]


# ---------------------------------------------------------------------------- monotone in the hit rate

@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("phase", ["prefill", "pd"])
def test_ttft_and_prefill_chips_fall_with_hit_rate(system, phase):
    kw = {"phase": phase} | ({"rate": 50.0} if phase == "pd" else {})
    cs = [cache_of(system, h, **kw) for h in HITS]
    ttft = [c["ttft_s"] for c in cs]
    chips = [c["prefill_chips"] for c in cs]
    cost = [c["cost_per_mtok_usd"] for c in cs]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(ttft, ttft[1:])), ttft
    assert all(b <= a * (1 + 1e-9) for a, b in zip(chips, chips[1:])), chips
    assert all(b <= a * (1 + 1e-9) for a, b in zip(cost, cost[1:])), cost
    assert cs[-1]["ttft_saved_s"] > 0 and cs[-1]["prefill_chips_saved"] > 0
    assert len({c["ttft_no_cache_s"] for c in cs}) == 1  # one no-cache baseline: today's plan


# ---------------------------------------------------------------------------- fetch vs recompute

@pytest.mark.parametrize("system", SYSTEMS)
def test_fetch_never_costs_more_than_recompute_when_used(system):
    for h in HITS[1:]:
        c = cache_of(system, h, phase="prefill")
        assert c["decision"] == "fetch"
        assert c["prefill_step_s"] <= c["prefill_step_no_cache_s"]
        assert c["ttft_s"] <= c["ttft_no_cache_s"] and c["fetch_s_per_request"] > 0


def _slow_pool_system(tmp_path, path_GBps: float) -> str:
    """CloudMatrix 384 with its pool path slowed to ``path_GBps`` (a user system file)."""
    text = (ROOT / "src/superpod/catalog/systems/cloudmatrix384.toml").read_text()
    data = tomllib.loads(text)
    old = data["host_memory"]["path_Bps_per_chip"]["value"]
    text = text.replace(f"[host_memory.path_Bps_per_chip]\nvalue = {old:g}", f"[host_memory.path_Bps_per_chip]\nvalue = {path_GBps!r}")
    p = tmp_path / f"cm384-slow-{path_GBps:g}.toml"
    p.write_text(text)
    assert load_system(str(p)).host_memory.path_Bps_per_chip.value == path_GBps
    return str(p)


def test_slow_pool_recomputes_and_says_so(tmp_path):
    c = cache_of(_slow_pool_system(tmp_path, 0.001), 0.5, phase="prefill")
    assert c["decision"] == "recompute"
    assert c["ttft_saved_s"] == 0 and c["prefill_chips_saved"] == 0 and c["pool_Bps"] == 0
    assert any("recomput" in n for n in c["notes"])


@pytest.mark.parametrize("gbps", [0.01, 0.3, 1.0, 5.0, 151.0])
def test_pool_bandwidth_never_exceeded(tmp_path, gbps):
    system = _slow_pool_system(tmp_path, gbps)
    for h in (0.3, 0.9):
        for phase in ("prefill", "pd"):
            c = cache_of(system, h, phase=phase)
            assert c["pool_Bps"] <= c["pool_path_Bps"] * (1 + 1e-9) + 1e-9
            if c["decision"] == "fetch":
                assert c["fetch_bytes_per_step_per_chip"] / c["prefill_step_s"] <= c["pool_path_Bps_per_chip"] * (1 + 1e-9)


def test_fetch_sets_the_pace_when_slower_than_compute():
    assert float(step_with_fetch(1.0, 0.5, 10)) == pytest.approx(1.05)
    assert float(step_with_fetch(1.0, 3.0, 10)) == pytest.approx(3.3)


# ---------------------------------------------------------------------------- eviction

def test_a_pool_smaller_than_the_working_set_lowers_the_hit_rate():
    fits = cache_of("cloudmatrix384", 0.5, phase="prefill", cache_prefixes=1000)
    big = cache_of("cloudmatrix384", 0.5, phase="prefill", cache_prefixes=1_000_000)
    assert fits["hit_rate"] == 0.5 and fits["capacity_hit_ratio"] == 1.0
    assert big["working_set_bytes"] > big["pool_bytes"]
    assert big["hit_rate"] < 0.5 and big["capacity_hit_ratio"] == pytest.approx(big["pool_bytes"] / big["working_set_bytes"], rel=1e-3)
    assert big["ttft_saved_s"] < fits["ttft_saved_s"]
    small = cache_of("cloudmatrix384", 0.5, phase="prefill", cache_prefixes=1_000_000, cache_pool_bytes=1e12)
    assert small["hit_rate"] < big["hit_rate"]


def test_per_node_tier_holds_less_than_a_pooled_one():
    cm = cache_of("cloudmatrix384", 0.5, phase="prefill", cache_prefixes=20_000)
    nvl = cache_of("gb200-nvl72", 0.5, phase="prefill", cache_prefixes=20_000)
    assert cm["pool"]["pooled"] and not nvl["pool"]["pooled"]
    assert cm["pool_bytes"] > nvl["pool_bytes"] and cm["hit_rate"] > nvl["hit_rate"]


def test_cache_affinity_adds_up_per_node_tiers():
    one = cache_of("gb200-nvl72", 0.5, phase="prefill", cache_prefixes=20_000)
    routed = cache_of("gb200-nvl72", 0.5, phase="prefill", cache_prefixes=20_000, cache_affinity=True)
    assert routed["pool"]["nodes"] == 18 and routed["pool_bytes"] == pytest.approx(18 * one["pool_bytes"])
    assert routed["hit_rate"] > one["hit_rate"]
    pooled = cache_of("cloudmatrix384", 0.5, phase="prefill", cache_prefixes=20_000, cache_affinity=True)
    assert pooled["pool"]["nodes"] == 48  # a pooled tier spans the domain either way


def test_lru_models():
    assert np.allclose(uniform_lru_hit([0, 50, 100, 200], 100), [0, 0.5, 1, 1])
    z = zipf_lru_hit(np.array([0, 10, 100, 1000, 5000]), 5000, 0.9)
    assert z[0] == 0 and z[-1] == 1 and np.all(np.diff(z) > 0)
    assert zipf_lru_hit(100, 5000, 1.0) > uniform_lru_hit(100, 5000)  # popular prefixes stay resident
    assert capacity_hit_ratio(1e9, 1e6, None, None) == 1.0
    # Che's approximation against an exact LRU replay of a Zipf trace
    rng = np.random.default_rng(1)
    p = np.arange(1, 2001) ** -1.0
    ids = rng.choice(2000, size=60_000, p=p / p.sum())
    hit = lru_trace_hit(((int(i), 1.0, 1.0) for i in ids), capacity_tokens=100)
    assert hit == pytest.approx(float(zipf_lru_hit(100, 2000, 1.0)), abs=0.02)


def test_prefix_cache_pool_per_request():
    pool = PrefixCachePool(capacity_bytes=2500, kv_bytes_per_token=1.0, fetch_Bps=1000.0)
    assert pool.lookup("a", 1000).hit_tokens == 0  # miss, inserted
    hit = pool.lookup("a", 1000)
    assert hit.hit_tokens == 1000 and hit.fetch_s == pytest.approx(1.0)
    pool.lookup("b", 1000)
    pool.lookup("c", 1000)  # evicts the least recently used ("a")
    assert pool.lookup("a", 1000).hit_tokens == 0
    assert pool.hits == 1 and pool.misses == 4
    slow = PrefixCachePool(capacity_bytes=1e9, kv_bytes_per_token=1.0, fetch_Bps=1.0, recompute_s_per_token=0.1)
    slow.lookup("x", 10)
    assert slow.lookup("x", 10).recomputed


# ---------------------------------------------------------------------------- model caching

def test_weights_load_faster_from_the_pool_than_from_storage():
    for system in SYSTEMS:
        c = cache_of(system, 0.0, phase="pd")
        assert 0 < c["weight_load_s_pool"] < c["weight_load_s_storage"]
        assert c["weight_load_instance"]["phase"] == "decode"
    assert "pooled" in cache_of("cloudmatrix384", 0.0)["weight_load_instance"]["pool_scope"]
    assert "warm node" in cache_of("gb200-nvl72", 0.0)["weight_load_instance"]["pool_scope"]


def test_system_without_host_memory_says_so():
    c = cache_of("h800-cluster", 0.5, phase="prefill")
    assert c["pool"] is None and c["hit_rate"] == 0.5 and c["decision"] == "resident"
    assert any("no [host_memory]" in n for n in c["notes"])


# ---------------------------------------------------------------------------- options, faces

@pytest.mark.parametrize("kw", [{"cache_prefixes": 10}, {"cache_affinity": True}, {"cache_hit": 0.5, "cache_zipf": 1.0},
                                {"cache_hit": 0.5, "cache_prefixes": 0}, {"cache_hit": 0.5, "cache_pool_bytes": -1.0}])
def test_cache_options_that_cannot_apply_are_refused(kw):
    with pytest.raises(SuperpodError):
        api.serve("deepseek-r1", "cloudmatrix384", phase="prefill", **kw)


def test_cli_table_explain_and_json(cli):
    out = cli("serve", "deepseek-r1", "cloudmatrix384", "--phase", "pd", "--cache-hit", "0.5",
              "--cache-prefixes", "20000", "--cache-zipf", "0.8", "--explain")
    assert out.exit_code == 0, out.output
    out = out.stdout
    assert "cache hit rate" in out and "caching tier" in out and "model caching" in out
    rec = json.loads(cli("serve", "deepseek-r1", "gb200-nvl72", "--phase", "prefill", "--cache-hit", "0.5",
                         "--cache-pool-gb", "100", "--cache-prefixes", "5000", "--json").stdout)
    c = rec["cache"]
    for key in ("hit_rate", "pool_bytes", "pool_Bps", "fetch_s_per_request", "ttft_saved_s", "prefill_chips_saved",
                "weight_load_s_pool", "weight_load_s_storage"):
        assert key in c
    assert c["pool_bytes"] == pytest.approx(100e9)
    bad = cli("serve", "deepseek-r1", "cloudmatrix384", "--cache-zipf", "1")
    assert bad.exit_code == 2


# ---------------------------------------------------------------------------- catalog

def test_host_memory_is_sourced_and_bounded():
    seen = []
    for name in names("systems"):
        host = load_system(name).host_memory
        if host is None:
            continue
        seen.append(name)
        for field in type(host).model_fields:
            q = getattr(host, field)
            if isinstance(q, Quantity):
                assert len(q.source) > 10 and q.confidence in "ABCU", (name, field)
        assert 0 < host.cache_share.si <= 1 and host.chip_Bps(load_system(name).chips_per_node) > 0
    assert {"cloudmatrix384", "gb200-nvl72", "gb300-nvl72", "dgx-h100-superpod"} <= set(seen)
    assert load_system("cloudmatrix384").host_memory.pooled
    assert not load_system("gb200-nvl72").host_memory.pooled


# ---------------------------------------------------------------------------- a trace's shared prefixes

def _trace(tmp_path, n_requests=4000, n_prefixes=3000, prefix=2000, prompt=4096, seed=0):
    rng = np.random.default_rng(seed)
    p = np.arange(1, n_prefixes + 1) ** -0.8
    ids = rng.choice(n_prefixes, size=n_requests, p=p / p.sum())
    path = tmp_path / "trace.csv"
    path.write_text("prefix_id,prefix_tokens,prompt_tokens\n" + "".join(f"c{i},{prefix},{prompt}\n" for i in ids))
    return str(path)


def test_trace_gives_the_hit_rate_and_eviction_lowers_it(tmp_path):
    trace = _trace(tmp_path)
    big = cache_of("cloudmatrix384", 0.0, phase="prefill", cache_trace=trace)
    small = cache_of("cloudmatrix384", 0.0, phase="prefill", cache_trace=trace, cache_pool_bytes=20e9)
    assert 0 < big["hit_rate"] == big["stated_hit_rate"] < 1
    assert small["hit_rate"] < big["hit_rate"] and small["capacity_hit_ratio"] < 1
    assert small["working_set_bytes"] > small["pool_bytes"]
    assert big["ttft_saved_s"] > small["ttft_saved_s"] > 0


@pytest.mark.parametrize("text, kw", [("prefix_id,prompt_tokens\nc,10\n", {}), ("prefix_id,prefix_tokens,prompt_tokens\nc,20,10\n", {}),
                                      ("prefix_id,prefix_tokens,prompt_tokens\n", {}),
                                      ("prefix_id,prefix_tokens,prompt_tokens\nc,5,10\n", {"cache_hit": 0.5})])
def test_bad_traces_are_refused(tmp_path, text, kw):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(SuperpodError):
        api.serve("deepseek-r1", "cloudmatrix384", phase="prefill", cache_trace=str(path), **kw)
