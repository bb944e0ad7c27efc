"""Prompts held back while generation runs: TensorRT-LLM's batch waiting (``batch_wait_timeout_iters`` /
``batch_wait_max_tokens_ratio``) and attention-DP balance (``attention_dp_config``), as
serving/holds.Hold, serving/scheduling.Scheduler.hold, closed_loop.run and steady.spread_steady price them."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from superpod.serving.closed_loop import run
from superpod.serving.holds import Hold
from superpod.serving.scheduling import scheduler
from superpod.serving.steady import spread_steady
from superpod.spec.quantity import Quantity


def q(v: float, unit: str = "count") -> Quantity:
    return Quantity(value=v, unit=unit, source="test value", confidence="U")


def linear(t0=0.005, per_token=20e-6, per_seq=40e-6):
    return lambda P, D: t0 + per_token * P + per_seq * D if (P or D) else 0.0


def trt(**kw):
    upd = {k: q(v, "ratio" if k == "batch_wait_tokens_ratio" else "count") for k, v in kw.items()}
    return scheduler("tensorrt-llm").model_copy(update=upd)


def test_the_frameworks_hold_nothing_by_default():
    for fw in ("tensorrt-llm", "vllm", "sglang"):
        assert not scheduler(fw).hold(1, 8192) and not scheduler(fw).hold(8, 8192)


def test_batch_waiting_needs_both_settings_and_no_attention_dp():
    """py_executor._waiting_requests stops waiting when count >= W or tokens >= r x max_num_tokens, so
    either at 0 ends every wait; _schedule calls it only without attention DP."""
    assert not trt(batch_wait_iters=20).hold(1, 8192)
    assert not trt(batch_wait_tokens_ratio=0.9).hold(1, 8192)
    h = trt(batch_wait_iters=20, batch_wait_tokens_ratio=0.9).hold(1, 8192)
    assert h and h.batch_iters == 20 and h.batch_tokens == pytest.approx(0.9 * 8192)
    assert not trt(batch_wait_iters=20, batch_wait_tokens_ratio=0.9).hold(8, 8192)


def test_the_attention_dp_balance_applies_only_with_attention_dp():
    s = trt(adp_balance_iters=60)
    assert not s.hold(1, 8192)
    h = s.hold(8, 8192)
    assert h.adp_iters == 60 and h.dp == 8 and h.adp_wait_iters == 0


def test_a_rare_prompt_waits_the_whole_timeout():
    """Arrivals far apart: the first prompt waits W iterations, nobody joins it."""
    wait, together = Hold(batch_iters=20, batch_tokens=0.9 * 8192).steady(1e-4, 4, 1024)
    assert wait == pytest.approx(20, rel=1e-3) and together == pytest.approx(1.0, abs=1e-2)


def test_enough_prompt_tokens_end_the_wait_at_once():
    h = Hold(batch_iters=40, batch_tokens=0.8 * 8192)
    assert h.steady(0.01, 16, 8192) == (0.0, 1.0)  # one 8k prompt fills the ratio
    frequent, _ = h.steady(5.0, 16, 1024)  # seven prompts come within about one iteration
    assert frequent < 2.0


@settings(max_examples=60, deadline=None)
@given(a=st.floats(1e-4, 2.0), n=st.integers(2, 256), isl=st.sampled_from([128, 1024, 8192]),
       W=st.integers(1, 60), r=st.floats(0.1, 1.0))
def test_batch_wait_bounded_by_its_timeout_and_shorter_with_more_arrivals(a, n, isl, W, r):
    h = Hold(batch_iters=W, batch_tokens=r * 8192)
    wait, together = h.steady(a, n, isl)
    assert 0.0 <= wait <= W + 1e-9 and together >= 1.0
    assert h.steady(2 * a, n, isl)[0] <= wait + 1e-9


@settings(max_examples=60, deadline=None)
@given(a=st.floats(1e-4, 2.0), n=st.integers(2, 256), dp=st.integers(2, 16), T=st.integers(1, 100),
       B=st.integers(0, 20))
def test_adp_balance_bounded_and_longer_with_more_ranks_to_wait_for(a, n, dp, T, B):
    h = Hold(adp_iters=T, adp_wait_iters=B, dp=dp)
    wait, together = h.steady(a, n, 1024)
    assert 0.0 <= wait <= T + B + 1e-9 and together >= 1.0
    # without a batching wait, more ranks to wait for never shorten it (with one, a timeout skips B)
    w0 = Hold(adp_iters=T, dp=dp).steady(a, n, 1024)[0]
    assert Hold(adp_iters=T, dp=2 * dp).steady(a, n, 1024)[0] >= w0 - 1e-9


def test_adp_balance_lone_rank_request_waits_half_the_clock():
    """Arrivals so rare that no cycle fills every rank: the clock releases every T iterations and an
    arrival waits T / 2 on average; a rank with one sequence releases at once."""
    h = Hold(adp_iters=60, dp=8)
    assert h.steady(1e-6, 32, 1024)[0] == pytest.approx(30.0, rel=1e-3)
    assert h.steady(1e-6, 1, 1024) == (0.0, 1.0)


def test_steady_state_ttft_pays_the_wait_in_decode_iterations():
    t_d = 0.02
    step = lambda P, D: (0.05 if P else t_d) if (P or D) else 0.0  # noqa: E731
    free = spread_steady(step, 4, 1024, 1024, 8192, "mixed")
    held = spread_steady(step, 4, 1024, 1024, 8192, "mixed", hold=Hold(batch_iters=20, batch_tokens=0.9 * 8192))
    assert held["steady_ttft_s"] - free["steady_ttft_s"] == pytest.approx(20 * t_d, rel=0.05)
    assert held["steady_tpot_s"] == pytest.approx(free["steady_tpot_s"], rel=0.01)  # the same prompts, later


@pytest.mark.parametrize("policy", ["mixed", "chunked"])
def test_waves_hold_the_next_rounds_but_not_the_first(policy):
    """Fixed lengths, two prompts per iteration: the first wave's first two prompts meet nothing decoding
    (no wait), the rest wait beside them as TensorRT-LLM holds them, and the cohorts finish apart, so
    each returning cohort meets decoding ones and waits; a wave prefilled in one iteration finishes whole
    and comes back to an idle engine (nothing decodes: no wait)."""
    step, n, W, budget = linear(), 8, 20, 2048
    free = run(step, n, 1024, 256, budget, policy)
    held = run(step, n, 1024, 256, budget, policy, hold_iters=W, hold_tokens=7000)
    assert held["first_wave_ttft_s"] > free["first_wave_ttft_s"]
    assert held["steady_ttft_s"] > free["steady_ttft_s"]
    # at most W decode iterations per wait, for each of the n / 2 cohorts a wave's prompts come in
    assert held["steady_ttft_s"] - free["steady_ttft_s"] <= n / 2 * W * step(0, n) + 1e-9
    # a token threshold the prompts reach ends the wait
    assert run(step, n, 1024, 256, budget, policy, hold_iters=W, hold_tokens=1000)["steady_ttft_s"] == \
        pytest.approx(free["steady_ttft_s"])
    # one wave prefilled in one iteration finishes whole: no hold
    assert run(step, n, 1024, 256, 8192, policy, hold_iters=W, hold_tokens=7000) == run(step, n, 1024, 256, 8192, policy)


def test_waves_with_nothing_held_are_unchanged():
    step = linear()
    assert run(step, 16, 1024, 256, 8192, "mixed", hold_iters=0) == run(step, 16, 1024, 256, 8192, "mixed")
    assert math.isinf(Hold().waves()[1]) and Hold().waves()[0] == 0


def _both(**kw):
    from superpod import serve

    return serve("llama3-70b", "dgx-b200-cluster", framework="tensorrt-llm", quant="fp8", tp=2, phase="both",
                 concurrency=8, input_len=1024, output_len=1024, random_range_ratio=0.8, **kw).to_dict()["both"]


def test_serve_takes_tensorrt_llm_batch_waiting():
    """As InferenceMAX launches Llama-3.1-70B at TP < 8 (batch_wait_timeout_iters 20, ratio 0.9): a prompt
    waits about 20 decode iterations more; TPOT hardly moves (the same prompts run, later)."""
    free, held = _both(), _both(batch_wait_iters=20, batch_wait_ratio=0.9)
    assert free["hold"] == "none" and held["hold"] == "batch-wait"
    assert held["ttft_s"] - free["ttft_s"] == pytest.approx(20 * free["tpot_s"], rel=0.15)
    assert held["tpot_s"] == pytest.approx(free["tpot_s"], rel=0.02)


BAD = [
    (["--batch-wait-iters", "20"], "--batch-wait-ratio"),
    (["--batch-wait-ratio", "0.9"], "--batch-wait-iters"),
    (["--adp-batching-wait-iters", "5"], "--adp-balance-iters"),
    (["--batch-wait-iters", "20", "--batch-wait-ratio", "0.9", "--framework", "vllm"], "TensorRT-LLM"),
    (["--batch-wait-iters", "0", "--batch-wait-ratio", "0.9"], "batch-wait-iters"),
    (["--batch-wait-iters", "20", "--batch-wait-ratio", "1.5"], "batch-wait-ratio"),
    (["--adp-balance-iters", "x"], "adp-balance-iters"),
]


@pytest.mark.parametrize("flags,says", BAD)
def test_hold_flags_refuse_what_cannot_apply_in_one_line(flags, says):
    from typer.testing import CliRunner

    from superpod.faces.cli import app

    fw = [] if "--framework" in flags else ["--framework", "tensorrt-llm"]
    r = CliRunner().invoke(app, ["serve", "llama3-70b", "dgx-b200-cluster", "--quant", "fp8", "--phase", "both",
                                 "--concurrency", "8", *fw, *flags])
    assert r.exit_code == 2 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert says in r.output


def test_hold_flags_need_a_fixed_concurrency_run():
    from typer.testing import CliRunner

    from superpod.faces.cli import app

    r = CliRunner().invoke(app, ["serve", "llama3-70b", "dgx-b200-cluster", "--adp-balance-iters", "60"])
    assert r.exit_code == 2 and "--concurrency" in r.output and "Traceback" not in r.output
