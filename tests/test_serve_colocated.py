"""Co-located serving at fixed concurrency as benchmarks run it (serving/closed_loop.py)."""

import numpy as np
import pytest

from superpod.errors import DoesNotFitError
from superpod.serving.closed_loop import Table, closed_loop, run, scheduler
from superpod.serving.context import make_ctx
from superpod.serving.plan import ServePlan, Workload


def linear(t0=0.005, per_token=20e-6, per_seq=40e-6):
    """A toy iteration: fixed cost plus prompt tokens and decoding sequences."""
    return lambda P, D: t0 + per_token * P + per_seq * D if (P or D) else 0.0


def test_a_wave_that_fits_one_iteration_waits_for_all_of_it():
    # 8 clients x 1,024 prompt tokens = the 8,192-token budget: every request's first token
    # comes with the one iteration that prefills all eight, round after round
    step = linear()
    r = run(step, 8, 1024, 128, 8192, "mixed")
    assert r["ttft_s"] == pytest.approx(step(8192, 0), rel=1e-9)
    assert r["steady_ttft_s"] == pytest.approx(r["first_wave_ttft_s"])


def test_ttft_rises_with_concurrency_once_waves_exceed_the_budget():
    step = linear()
    t = [run(step, n, 1024, 128, 8192, "mixed")["ttft_s"] for n in (8, 32, 128, 512)]
    assert t == sorted(t) and t[-1] > 3 * t[0]


def test_the_first_wave_weighs_one_round_in_the_benchmark_mean():
    step = linear()
    r = run(step, 128, 1024, 128, 8192, "mixed", rounds=20)
    assert r["first_wave_ttft_s"] > r["steady_ttft_s"]
    assert r["ttft_s"] == pytest.approx(r["first_wave_ttft_s"] / 20 + r["steady_ttft_s"] * 19 / 20)


def test_tpot_includes_the_stalls_of_prefill_iterations():
    step = linear()
    decode_only = step(0, 64)
    for policy in ("mixed", "chunked", "prefill-first"):
        r = run(step, 64, 2048, 256, 8192, policy)
        assert r["steady_tpot_s"] > decode_only * 1.05, policy
    # SGLang's prefill-first iterations leave the decodes out, so the 64 requests start decoding
    # together after a burst of 16 prefill iterations and finish together: a request sits through
    # the (16 - 1) / 2 burst iterations after its own, on average
    r = run(step, 64, 2048, 256, 8192, "prefill-first")
    assert r["steady_tpot_s"] == pytest.approx(decode_only + 7.5 * step(8192, 0) / 255, rel=1e-6)


def test_chunked_prefill_splits_a_prompt_longer_than_the_budget():
    step = linear()
    r = run(step, 1, 20000, 16, 8192, "chunked")
    # three iterations (8,192 + 8,192 + 3,616 tokens)
    assert r["ttft_s"] == pytest.approx(2 * step(8192, 0) + step(20000 - 2 * 8192, 0))


def test_memory_limit_runs_what_fits_and_queues_the_rest():
    step = linear()
    free = run(step, 64, 1024, 256, 8192, "mixed")
    capped = run(step, 64, 1024, 256, 8192, "mixed", cap=16)
    assert capped["running_batch"] == 16 and capped["queued"] == 48
    assert capped["ttft_s"] > 2 * free["ttft_s"]  # the queue shows in TTFT
    assert capped["output_tokens_per_s"] < free["output_tokens_per_s"]


def test_frameworks_schedulers_from_the_catalog():
    assert scheduler("tensorrt-llm").policy == "mixed"
    assert scheduler("vllm").policy == "chunked"
    sg = scheduler("sglang")
    assert sg.policy == "prefill-first"
    assert sg.budget(141e9) == 8192 and sg.budget(180e9) == 16384 and sg.budget(141e9, dp=8) == 1024
    assert scheduler("cloudmatrix-infer").name == "default"


@pytest.fixture(scope="module")
def h100():
    return make_ctx("llama3-8b", "dgx-h100-superpod", None, "bf16", "bf16", "tensorrt-llm")


def test_measured_wave_at_low_concurrency(h100):
    """Llama-3.1-8B on one H100, TensorRT-LLM BF16, 1,024/128 tokens (serving_measured.csv rows
    ..._h100_sxm_trtllm_agg_1024x128_c8/c128): measured TTFT 191 ms at 8 clients, 533 ms at 128."""
    wl = Workload(1024, 128)
    t8 = closed_loop(h100, ServePlan.one(tp=1, batch=8), wl)["ttft_s"]
    t128 = closed_loop(h100, ServePlan.one(tp=1, batch=128), wl)["ttft_s"]
    assert 0.12 < t8 < 0.30 and 0.35 < t128 < 0.8
    assert t128 > t8  # rises with concurrency, as measured (the old estimate fell)


def test_table_matches_the_cost_model(h100):
    from superpod.serving.closed_loop import iteration_s

    plan, wl = ServePlan.one(tp=1, batch=1), Workload(1024, 128)
    tab = Table.build(h100, plan, wl, 8192, 128)
    for P, D in ((0, 8), (8192, 0), (1000, 100)):
        assert tab(P, D) == pytest.approx(float(np.ravel(iteration_s(h100, plan, wl, P, D))[0]), rel=0.05)
    assert tab(0, 0) == 0.0


def test_refuses_only_when_not_one_request_fits():
    c = make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "tensorrt-llm")
    with pytest.raises(DoesNotFitError, match="GB missing"):
        closed_loop(c, ServePlan.one(tp=1, batch=4), Workload(131072, 1024))
    r = closed_loop(c, ServePlan.one(tp=1, batch=64), Workload(8192, 1024))
    assert 1 <= r["running_batch"] < 64 and r["queued"] == 64 - r["running_batch"]


def test_serve_both_with_concurrency_reports_the_closed_loop():
    from superpod.planners.serve_estimate import serve

    b = serve("llama3-8b", "dgx-h100-superpod", chips=1, tp=1, phase="both", concurrency=128, input_len=1024,
              output_len=128, quant="bf16", framework="tensorrt-llm")["both"]
    assert b["scheduler_policy"] == "mixed" and b["token_budget"] == 8192
    assert b["running_batch_per_chip"] == 128 and b["queued_per_chip"] == 0
    assert b["first_wave_ttft_s"] > b["steady_ttft_s"] > 0
    big = serve("llama3-8b", "dgx-h100-superpod", chips=1, tp=1, phase="both", concurrency=1024, input_len=8192,
                output_len=1024, quant="bf16", framework="tensorrt-llm")["both"]
    assert big["queued_per_chip"] > 0 and big["running_batch_per_chip"] + big["queued_per_chip"] == 1024


def test_paged_frameworks_hold_more_requests_than_a_reserving_one():
    """TensorRT-LLM admits a request only when its whole length fits (no eviction); vLLM and
    SGLang page the cache as tokens come, so at the mean context they run more at once."""
    c = make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "tensorrt-llm")
    plan, wl = ServePlan.one(tp=1, batch=256), Workload(2048, 4096)
    trt = closed_loop(c, plan, wl, framework="tensorrt-llm")
    paged = closed_loop(c, plan, wl, framework="vllm")
    assert scheduler("tensorrt-llm").kv_reserve == "max" and scheduler("vllm").kv_reserve == "mean"
    assert trt["running_batch"] < paged["running_batch"] < 256
    assert paged["running_batch"] == pytest.approx(trt["running_batch"] * (2048 + 4096) / (2048 + 2048), rel=0.05)
    assert trt["queued"] > paged["queued"] > 0
