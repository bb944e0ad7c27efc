"""Memory-limited and capped concurrency of co-located serving (serving/closed_loop.py, steady.py,
memory.py): each framework's admission rule, its cap on running requests, its pool for
sliding-window layers, and the prefill attention of the loop's iterations from the kernel fits."""

import math

import numpy as np
import pytest

from superpod.serving import closed_loop as CL
from superpod.serving.closed_loop import Scheduler, closed_loop, iteration_s, max_sequences, run, scheduler
from superpod.serving.context import make_ctx
from superpod.serving.memory import kv_bytes_per_sequence
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.steady import queued_steady, spread_steady
from superpod.spec.quantity import Quantity


def _one(x) -> float:
    return float(np.ravel(x)[0])


def linear(t0=0.005, per_token=20e-6, per_seq=40e-6):
    return lambda P, D: t0 + per_token * P + per_seq * D if (P or D) else 0.0


@pytest.fixture(scope="module")
def h100_70b():
    return make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "tensorrt-llm")


@pytest.fixture(scope="module")
def gpt_oss():
    return make_ctx("gpt-oss-120b", "dgx-h100-superpod", None, "bf16", "bf16", "vllm", "fp4")


def _capped(name: str, cap: int) -> Scheduler:
    return scheduler(name).model_copy(update={"max_running": Quantity(value=cap, unit="count", source="test", confidence="U"),
                                               "max_running_small_hbm": None, "max_running_per_dp_rank": False})


def test_beyond_the_cap_requests_queue_and_ttft_grows_tpot_stays_the_capped_batchs():
    """A loop capped at 16 running requests: 64 clients wait for a slot before their first token, so
    TTFT grows with the clients beyond the cap, and the running batch decodes as 16 clients alone do."""
    step = linear()
    alone = run(step, 16, 1024, 256, 8192, "chunked")
    t = {n: run(step, n, 1024, 256, 8192, "chunked", cap=16) for n in (16, 32, 64)}
    assert t[16]["ttft_s"] == pytest.approx(alone["ttft_s"])
    assert t[16]["ttft_s"] < t[32]["ttft_s"] < t[64]["ttft_s"]
    assert t[64]["running_batch"] == 16 and t[64]["queued"] == 48
    # queued requests wait about (n - k) / k request lives
    life = alone["steady_ttft_s"] + 255 * alone["steady_tpot_s"]
    assert t[64]["steady_ttft_s"] == pytest.approx(alone["steady_ttft_s"] + 3 * life, rel=0.1)
    # TPOT is the running batch's (the queued prompts that enter as slots free share its iterations)
    assert t[64]["steady_tpot_s"] == pytest.approx(alone["steady_tpot_s"], rel=0.1)
    assert t[64]["steady_tpot_s"] < 0.8 * run(step, 64, 1024, 256, 8192, "chunked")["steady_tpot_s"]


def test_random_lengths_queue_the_same_way():
    """With the waves dissolved (random lengths), the queue adds (n - k)/k request lives to TTFT."""
    st = spread_steady(linear(), 16, 1024, 256, 8192, "chunked")
    q = queued_steady(st, 64, 16, 256)
    assert q["steady_tpot_s"] == st["steady_tpot_s"]
    life = st["steady_ttft_s"] + 255 * st["steady_tpot_s"]
    assert q["steady_ttft_s"] == pytest.approx(st["steady_ttft_s"] + 3 * life)
    assert queued_steady(st, 16, 16, 256) == st


def test_framework_caps_on_running_requests_are_sourced():
    v, s, t = scheduler("vllm"), scheduler("sglang"), scheduler("tensorrt-llm")
    assert v.running_cap(80 * 2**30) == 1024 and v.running_cap(40 * 2**30) == 256  # max_num_seqs by HBM
    assert s.running_cap(80e9) == 2048 and s.running_cap(80e9, dp=8) == 256  # max_running_requests / dp
    assert t.running_cap(80e9) == 2048  # max_batch_size
    assert scheduler("cloudmatrix-infer").running_cap(64e9) == math.inf
    for x in (v, s, t):
        assert x.max_running.source and x.max_running.confidence in "ABC"


def test_closed_loop_queues_above_the_frameworks_cap(h100_70b, monkeypatch):
    plan, wl = ServePlan.one(tp=1, batch=8), Workload(1024, 256)
    free = closed_loop(h100_70b, plan, wl, framework="vllm")
    monkeypatch.setattr(CL, "scheduler", lambda name: _capped("vllm", 4))
    capped = closed_loop(h100_70b, plan, wl, framework="vllm")
    assert free["queued"] == 0 and capped["running_batch"] == 4 and capped["queued"] == 4
    assert capped["preempted"] == 0.0
    assert capped["ttft_s"] > free["ttft_s"] + 0.5 * 255 * capped["steady_tpot_s"]
    assert capped["steady_tpot_s"] < free["steady_tpot_s"]  # a smaller batch decodes faster


def test_admission_rules_count_the_kv_as_each_framework_does():
    """TensorRT-LLM guarantees prompt + output; vLLM pages as tokens come (the mean context);
    SGLang also keeps new_token_ratio of the remaining output free for each running request."""
    assert scheduler("tensorrt-llm").held_tokens(1024, 1024) == 2048
    assert scheduler("vllm").held_tokens(1024, 1024) == 1536
    r = scheduler("sglang").reserve_output_ratio
    assert r.si == pytest.approx(0.098) and r.confidence == "B"
    assert scheduler("sglang").held_tokens(1024, 1024) == pytest.approx(1024 + 512 * 1.098)


def test_a_reserving_engine_queues_a_paged_engine_preempts(h100_70b):
    """Short of KV, TensorRT-LLM (GUARANTEED_NO_EVICT) holds the rest back before their first token;
    vLLM admits every prompt and its short cache preempts, which shows in TPOT."""
    plan, wl = ServePlan.one(tp=1, batch=64), Workload(8192, 1024)
    trt = closed_loop(h100_70b, plan, wl, framework="tensorrt-llm")
    paged = closed_loop(h100_70b, plan, wl, framework="vllm")
    assert trt["running_batch"] == trt["kv_fits"] < 64 and trt["preempted"] == 0.0
    assert paged["running_batch"] == paged["kv_fits"] < 64 and paged["preempted"] == 1.0
    assert paged["ttft_s"] - paged["request_latency_s"] < (trt["ttft_s"] - trt["request_latency_s"]) / 3


def test_sliding_window_layers_hold_the_window_in_the_frameworks_pools(gpt_oss):
    """gpt-oss-120b: 18 of 36 layers slide over 128 tokens. vLLM's hybrid allocator and TensorRT-LLM's
    per-window pools hold the window there; SGLang's SWA pool is sized at 0.8 of the full pool's
    tokens; without an SWA pool every layer holds the whole context."""
    m, plan = gpt_oss.model, ServePlan.one(tp=1)
    full = float(kv_bytes_per_sequence(m, plan, 2, 1.0, 4096)[0])
    window = float(kv_bytes_per_sequence(m, plan, 2, 1.0, 4096, "window")[0])
    assert window == pytest.approx(full * (18 * 4096 + 18 * 128) / (36 * 4096))
    assert float(kv_bytes_per_sequence(m, plan, 2, 1.0, 100, "window")[0]) == pytest.approx(
        float(kv_bytes_per_sequence(m, plan, 2, 1.0, 100)[0]))  # inside the window: the whole context
    assert float(kv_bytes_per_sequence(m, plan, 2, 1.0, 4096, "ratio", 0.8)[0]) == pytest.approx(full * 0.9)
    assert scheduler("vllm").swa_kv == "window" and scheduler("tensorrt-llm").swa_kv == "window"
    assert scheduler("sglang").swa_kv == "ratio" and scheduler("sglang").swa_tokens_ratio.si == 0.8
    assert scheduler("default").swa_kv == "full"
    ctx = 1024 + 512
    v, d = max_sequences(gpt_oss, plan, ctx, "vllm"), max_sequences(gpt_oss, plan, ctx, "default")
    assert v / d == pytest.approx(36 * ctx / (18 * ctx + 18 * 128), rel=0.01)


def test_models_without_sliding_windows_are_unchanged(h100_70b):
    m, plan = h100_70b.model, ServePlan.one(tp=2)
    a = kv_bytes_per_sequence(m, plan, 2, 1.0, 3000)
    for swa in ("window", "ratio"):
        assert float(kv_bytes_per_sequence(m, plan, 2, 1.0, 3000, swa, 0.8)[0]) == float(a[0])


def test_prefill_attention_of_an_iteration_comes_from_the_kernel_fit(h100_70b, monkeypatch):
    """The loop's iterations price a prompt chunk's attention core with the measured context-attention
    fit (serving/kernel_attention.prefill_attention), as decode prices its own."""
    assert h100_70b.kernels is not None
    plan, wl = ServePlan.one(tp=1, batch=8), Workload(4096, 256)
    calls = []

    def fake(seconds):
        def pa(c, p, tokens, new, prefix):
            calls.append((new, prefix))
            return lambda share: seconds
        return pa
    monkeypatch.setattr(CL, "prefill_attention", fake(0.0))
    t0 = _one(iteration_s(h100_70b, plan, wl, 4096.0, 0.0))
    monkeypatch.setattr(CL, "prefill_attention", fake(1e-3))
    t1 = _one(iteration_s(h100_70b, plan, wl, 4096.0, 0.0))
    assert calls[-1] == (4096.0, 0.0)
    assert t1 - t0 == pytest.approx(h100_70b.model.layers * 1e-3, rel=0.01)
    assert _one(iteration_s(h100_70b, plan, wl, 0.0, 0.0)) == 0.0
