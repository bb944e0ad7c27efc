"""Serving estimator physics: Little's law, monotonicity, MTP, memory, breakdown sums."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from superpod.serving.colocated import colocated
from superpod.serving.context import make_ctx
from superpod.serving.decode import BREAKDOWN as DECODE_PARTS, decode
from superpod.planners.serve_estimate import serve
from superpod.serving.plan import ServePlan, Workload, tokens_per_step
from superpod.serving.prefill import BREAKDOWN as PREFILL_PARTS, prefill


@pytest.fixture(scope="module")
def cm():
    return make_ctx("deepseek-r1", "cloudmatrix384", quant="int8")


@pytest.fixture(scope="module")
def h100():
    return make_ctx("deepseek-v3", "dgx-h100-superpod", chips=72, quant="fp8")


@pytest.fixture(scope="module")
def llama():
    return make_ctx("llama3.3-70b", "dgx-h100-superpod", chips=8, quant="fp8", framework_name="tensorrt-llm")


def grid(**kw):
    base = dict(tp=1, ep=320, batch=np.arange(1, 200, 7), mtp_k=1, mtp_accept=0.7, eplb="balanced", overlap=1)
    return ServePlan.grid(**(base | kw))


def test_littles_law_decode(cm, h100):
    for c, g in ((cm, grid()), (h100, grid(ep=72, mtp_k=0, mtp_accept=0.0))):
        r = decode(c, g, 4096)
        b = np.broadcast_to(g.batch, r["tpot_s"].shape)
        np.testing.assert_allclose(r["tokens_per_s_per_chip"], b / r["tpot_s"], rtol=1e-12)
        np.testing.assert_allclose(r["tpot_s"], r["step_s"] / r["tokens_per_step"], rtol=1e-12)


def test_littles_law_colocated(llama):
    g = ServePlan.grid(tp=2, batch=np.arange(1, 120, 9), overlap=0)
    r = colocated(llama, g, Workload(1000, 1000))
    np.testing.assert_allclose(r["output_tokens_per_s_per_chip"], np.ravel(g.batch) / np.ravel(r["tpot_s"]), rtol=1e-12)


def test_breakdown_sums_to_step(cm):
    r = decode(cm, grid(), 4096)
    np.testing.assert_allclose(sum(r[k] for k in DECODE_PARTS), r["step_s"], rtol=1e-9)
    p = prefill(cm, ServePlan.grid(ep=32, batch=[4096, 16384], overlap=[0, 1]), 4096)
    np.testing.assert_allclose(sum(p[k] for k in PREFILL_PARTS), p["step_s"], rtol=1e-9)


def test_longer_context_never_faster_per_token(cm, llama):
    ctx = np.array([256, 1024, 4096, 16384, 65536], dtype=float)[:, None]
    for c, g in ((cm, grid(batch=[1, 32, 96])), (llama, ServePlan.grid(tp=2, batch=[1, 16, 64], overlap=0))):
        tpot = decode(c, g, ctx)["tpot_s"]
        assert (np.diff(tpot, axis=0) >= -1e-15).all()
    per_token = [float(1 / prefill(cm, ServePlan.one(ep=32, batch=16384), s)["tokens_per_s_per_chip"][0])
                 for s in (512, 2048, 8192, 32768)]
    assert per_token == sorted(per_token)


def test_more_hbm_bandwidth_never_slower(cm, h100, llama):
    for c, g in ((cm, grid()), (h100, grid(ep=72)), (llama, ServePlan.grid(tp=2, batch=[1, 8, 64], overlap=0))):
        fast = dataclasses.replace(c, hw=c.hw.scaled(hbm_Bps=2.0))
        assert (decode(fast, g, 4096)["step_s"] <= decode(c, g, 4096)["step_s"] * (1 + 1e-12)).all()
        p = ServePlan.grid(tp=g.tp, ep=g.ep, batch=[2048, 16384], overlap=[0, 1])
        assert (prefill(fast, p, 4096)["step_s"] <= prefill(c, p, 4096)["step_s"] * (1 + 1e-12)).all()


def test_mtp_with_zero_acceptance_never_better(cm, h100):
    for c, ep in ((cm, 320), (h100, 72)):
        plain = decode(c, grid(ep=ep, mtp_k=0, mtp_accept=0.0), 4096)["tokens_per_s_per_chip"]
        for k in (1, 2, 3):
            useless = decode(c, grid(ep=ep, mtp_k=k, mtp_accept=0.0), 4096)["tokens_per_s_per_chip"]
            assert (useless <= plain).all()


def test_mtp_tokens_per_step():
    assert tokens_per_step(0, 0.9) == pytest.approx(1.0)
    assert tokens_per_step(1, 0.7) == pytest.approx(1.7)
    assert tokens_per_step(3, 0.5) == pytest.approx(1 + 0.5 + 0.25 + 0.125)
    assert tokens_per_step(2, 1.0) == pytest.approx(3.0)


def test_mtp_cost_matches_cloudmatrix_microbenchmark(cm):
    """One draft token: CloudMatrix measured about +44% per layer (inference.md 1.4)."""
    per = []
    for k in (0, 1):
        r = decode(cm, ServePlan.one(ep=320, batch=96, mtp_k=k, mtp_accept=0.7), 4096)
        per.append(float(r["step_s"][0] - r["head_s"][0] - r["mtp_draft_s"][0]))
    assert 1.30 < per[1] / per[0] < 1.60


def test_kv_capacity_bounds_the_batch(cm):
    r = decode(cm, ServePlan.one(ep=320, batch=1), 4096)
    top = float(r["max_batch"][0])
    assert float(decode(cm, ServePlan.one(ep=320, batch=top), 4096)["free_bytes"][0]) >= 0
    assert float(decode(cm, ServePlan.one(ep=320, batch=top + 1), 4096)["free_bytes"][0]) < 0


def test_slo_search_meets_target_and_is_largest():
    r = serve("deepseek-r1", "cloudmatrix384", phase="decode", quant="int8", tpot_slo_s=0.05, mtp=1, mtp_accept=0.7)
    d = r["decode"]
    assert d["tpot_s"] <= 0.05
    assert d["tokens_per_s_per_chip"] == pytest.approx(d["batch_per_chip"] / d["tpot_s"])
    c = make_ctx("deepseek-r1", "cloudmatrix384", quant="int8")
    row = r["plan"]["per_phase"]["decode"] | {"batch": d["batch_per_chip"] + 1}
    nxt = decode(c, ServePlan.one(**row), d["kv_len"])
    assert float(nxt["tpot_s"][0]) > 0.05 or float(nxt["free_bytes"][0]) < 0
    # the CloudMatrix-Infer operating point: within 10% of 1,943 tok/s per NPU at TPOT < 50 ms
    assert abs(d["tokens_per_s_per_chip"] / 1943 - 1) < 0.10


def test_default_point_is_max_throughput_that_fits():
    r = serve("deepseek-v3", "dgx-h100-superpod", chips=72, phase="decode", ep=72)
    d = r["decode"]
    assert d["batch_per_chip"] <= d["max_batch_per_chip"]
    assert "batch" in r["plan"]["picked"]


def test_prefix_cache_hits_raise_input_throughput(cm):
    g = ServePlan.one(ep=32, batch=16384)
    cold = prefill(cm, g, 4096, 0.0)["tokens_per_s_per_chip"]
    warm = prefill(cm, g, 4096, 0.5)["tokens_per_s_per_chip"]
    assert warm > cold


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 400), db=st.integers(1, 200), ctx=st.sampled_from([512, 2048, 8192]),
       ep=st.sampled_from([16, 64, 160, 320]), k=st.integers(0, 2), a=st.floats(0, 1), ov=st.booleans())
def test_decode_properties(cm, b, db, ctx, ep, k, a, ov):
    g = ServePlan.grid(ep=ep, batch=[b, b + db], mtp_k=k, mtp_accept=a, overlap=ov)
    r = decode(cm, g, ctx)
    step = np.ravel(r["step_s"])
    assert np.isfinite(step).all() and (step > 0).all()
    assert step[1] >= step[0] * (1 - 1e-12)  # a bigger batch never takes less time per step
    tps = np.ravel(r["tokens_per_step"])
    assert 1.0 <= tps[0] <= k + 1
