"""The request-level simulation of the closed-loop benchmark with random lengths (serving/waves.py)
against the steady state the closed loop uses (serving/steady.spread_steady)."""

import numpy as np

from superpod.serving.steady import spread_steady
from superpod.serving.waves import lengths, simulate


def step(P, D):
    """A toy iteration: 10 ms + 30 us per prompt token + 0.1 ms per decoding sequence."""
    return (0.01 + 3e-5 * P + 1e-4 * D) if (P or D) else 0.0


def test_lengths_follow_vllm_random_range():
    x = lengths(np.random.default_rng(0), 1024, 0.8, 20000)
    assert x.min() == 819 and x.max() == 1024
    assert abs(x.mean() - (819 + 1024) / 2) < 3


def test_fixed_length_waves_queue_more_than_random_lengths():
    # prefill-first with 8k prompts: fixed lengths keep the waves (every prompt of a wave queues
    # behind the others); random lengths spread the returns, so the mean TTFT is lower at the same load
    fixed = simulate(step, 32, 8192, 256, 16384, "prefill-first", ratio=1.0, rounds=10)
    spread = simulate(step, 32, 8192, 256, 16384, "prefill-first", ratio=0.8, rounds=10)
    assert fixed["ttft_s"] > 2 * spread["ttft_s"]
    assert fixed["first_wave_ttft_s"] > spread["steady_ttft_s"]


def test_simulated_ttft_grows_with_concurrency():
    ttft = [simulate(step, n, 4096, 512, 8192, "chunked", ratio=0.8, rounds=10)["ttft_s"] for n in (4, 16, 64)]
    assert ttft[0] < ttft[1] < ttft[2]


def test_spread_steady_matches_the_request_level_simulation():
    # the analytic steady state of dissolved waves against the simulated requests after the first wave
    for policy in ("chunked", "prefill-first", "mixed"):
        sim = simulate(step, 32, 1024 / 0.9, 1024 / 0.9, 8192, policy, ratio=0.8, rounds=10)
        st = spread_steady(step, 32, 1024, 1024, 8192, policy)
        assert abs(sim["steady_ttft_s"] / st["steady_ttft_s"] - 1) < 0.35, policy
        assert abs(sim["steady_tpot_s"] / st["steady_tpot_s"] - 1) < 0.1, policy
