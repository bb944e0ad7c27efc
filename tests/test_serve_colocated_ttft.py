"""TTFT mechanisms of co-located serving at fixed concurrency (serving/closed_loop.py): paged
engines preempt instead of queueing, and the server's request path adds to every first token."""

import pytest

from superpod.serving.closed_loop import closed_loop, run, scheduler
from superpod.serving.steady import preempting
from superpod.serving.context import make_ctx
from superpod.serving.plan import ServePlan, Workload


def linear(t0=0.005, per_token=20e-6, per_seq=40e-6):
    return lambda P, D: t0 + per_token * P + per_seq * D if (P or D) else 0.0


def test_a_paged_engine_admits_every_prompt_and_pays_in_tpot():
    """vLLM/SGLang page the KV cache: when it holds 16 of 64 requests, all 64 still get their first
    token as if nothing were short (TTFT of the unconstrained loop); only 16 advance at once, so by
    Little's law each request lives 64 x osl / (the capped loop's output rate)."""
    step = linear()
    free = run(step, 64, 1024, 256, 8192, "chunked")
    held = run(step, 64, 1024, 256, 8192, "chunked", cap=16)
    r = preempting(held, free, 64, 256)
    assert r["ttft_s"] == free["ttft_s"] and r["ttft_s"] < held["ttft_s"]
    life = 64 * 256 / held["output_tokens_per_s"]
    assert r["steady_tpot_s"] == pytest.approx((life - free["steady_ttft_s"]) / 255)
    assert r["tpot_s"] > 2 * free["tpot_s"]
    assert r["running_batch"] == 16 and r["queued"] == 48 and r["preempted"] == 1.0


@pytest.fixture(scope="module")
def h100_70b():
    return make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "tensorrt-llm")


def test_reserving_engine_queues_paged_engine_preempts(h100_70b):
    """TensorRT-LLM (GUARANTEED_NO_EVICT) makes the requests that do not fit wait for a slot, which
    shows in TTFT; vLLM at the same memory admits them and stretches TPOT instead."""
    plan, wl = ServePlan.one(tp=1, batch=64), Workload(8192, 1024)
    trt = closed_loop(h100_70b, plan, wl, framework="tensorrt-llm")
    paged = closed_loop(h100_70b, plan, wl, framework="vllm")
    assert trt["queued"] > 0 and paged["queued"] > 0
    assert trt["preempted"] == 0.0 and paged["preempted"] == 1.0
    trt_wait = trt["ttft_s"] - trt["request_latency_s"]
    paged_wait = paged["ttft_s"] - paged["request_latency_s"]
    assert paged_wait < trt_wait / 3
    assert paged["tpot_s"] > paged["steady_ttft_s"] / 1024  # sanity: TPOT carries the shortfall


def test_request_latency_is_a_marked_calibration_per_framework(h100_70b):
    for fw in ("tensorrt-llm", "vllm", "sglang"):
        s = scheduler(fw)
        assert s.request_latency is not None and s.request_latency.confidence == "C"
        assert "calibration" in s.request_latency.source and "fit_request_latency.py" in s.request_latency.source
        assert 0.0 < s.request_s() < 0.5
    assert scheduler("cloudmatrix-infer").request_s() == 0.0  # no entry: nothing fitted, nothing added
    r = closed_loop(h100_70b, ServePlan.one(tp=1, batch=4), Workload(1024, 128), framework="tensorrt-llm")
    assert r["request_latency_s"] == scheduler("tensorrt-llm").request_s()
    assert r["ttft_s"] > r["request_latency_s"]


def test_random_lengths_dissolve_the_waves():
    """With fixed lengths 8 clients x 1,024 tokens come back together and every first token waits
    for the whole 8,192-token wave; with lengths drawn at random (InferenceMAX's
    --random-range-ratio 0.8) they come back one by one: a request skips the iteration already
    scheduled and is prefilled in the next, beside the few other arrivals."""
    from superpod.serving.closed_loop import spread_steady

    step = linear()
    waves = run(step, 8, 1024, 1024, 8192, "mixed")
    st = spread_steady(step, 8, 1024, 1024, 8192, "mixed")
    a = 8 / (1023 + st["steady_ttft_s"] / step(8 / (1023 + 2) * 1024, 8))  # arrivals per iteration
    assert st["steady_ttft_s"] < waves["steady_ttft_s"] / 3
    assert st["steady_ttft_s"] == pytest.approx(step(a * 1024, 8) + step(1024 + a * 1024, 8), rel=0.02)
    assert st["steady_tpot_s"] == pytest.approx(step(a * 1024, 8), rel=0.02)


def test_random_lengths_that_overload_the_budget_queue_for_prefill():
    # 512 clients x 8,192-token prompts over 128 output tokens: the budget prefills one prompt per
    # iteration, so a request returns only every 512 iterations and waits for the rest
    from superpod.serving.closed_loop import spread_steady

    step = linear()
    st = spread_steady(step, 512, 8192, 128, 8192, "chunked")
    t_it = step(8192 - 512, 512)
    assert st["steady_ttft_s"] == pytest.approx((512 * 8192 / (8192 - 512) - 127) * t_it, rel=0.01)


def test_the_harness_of_a_row_follows_its_data_source():
    from superpod.planners.validation_silicon import harness

    assert harness({"silicon_data_source": "db-dump/2026-04-27; config_id=733; silicon_concurrency=128"}) == (10, 0.8)
    assert harness({"silicon_data_source": "source_file=2026-03-25.csv; model=DeepSeek-R1"}) == (10, 0.8)
    assert harness({"silicon_data_source": "source_file=/x/aic-auto-gap-analysis/data/h100_sxm/a.csv"}) == (20, 1.0)
    assert harness({}) == (20, 1.0)


def test_closed_loop_with_random_lengths_prices_the_mean_request(h100_70b):
    plan, wl = ServePlan.one(tp=1, batch=8), Workload(1024, 1024)
    fixed = closed_loop(h100_70b, plan, wl, framework="vllm")
    spread = closed_loop(h100_70b, plan, wl, framework="vllm", rounds_per_client=10, length_ratio=0.8)
    assert spread["steady_ttft_s"] < fixed["steady_ttft_s"]
    assert spread["ttft_s"] == pytest.approx(spread["first_wave_ttft_s"] / 10 + spread["steady_ttft_s"] * 0.9)
