"""TTFT mechanisms of co-located serving at fixed concurrency (serving/closed_loop.py): paged
engines preempt instead of queueing, and the server's request path adds to every first token."""

import pytest

from superpod.serving.closed_loop import _preempting, closed_loop, run, scheduler
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
    r = _preempting(held, free, 64, 256)
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
