"""MTP pricing: a step verifies ``1 + k`` tokens per sequence, the MTP module drafts ``k`` times, and a
step advances ``sum_{i<=k} a^i`` tokens (formulas.md 8.5) in every co-located path: the steady state
(serving/colocated), the closed-loop benchmark (serving/closed_loop.iteration_s) and decode."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from superpod.serving.closed_loop import closed_loop, iteration_s
from superpod.serving.colocated import BREAKDOWN as BOTH_PARTS, colocated
from superpod.serving.context import make_ctx
from superpod.serving.decode import decode, draft_s
from superpod.serving.plan import ServePlan, Workload, tokens_per_step


def _f(x) -> float:
    return float(np.ravel(x)[0])


@pytest.fixture(scope="module")
def b200():
    return make_ctx("deepseek-r1", "dgx-b200-cluster", chips=8, quant="fp4", framework_name="tensorrt-llm")


@given(k=st.integers(0, 8), a=st.floats(0.0, 1.0))
@settings(max_examples=200, deadline=None)
def test_tokens_per_step_between_one_and_one_plus_k(k, a):
    t = float(tokens_per_step(k, a))
    assert 1.0 - 1e-12 <= t <= 1.0 + k + 1e-12
    assert float(tokens_per_step(k + 1, a)) >= t - 1e-12  # one more draft never advances less


def test_drafting_costs_k_passes(b200):
    one = ServePlan.one(tp=8, ep=8, batch=4, mtp_k=1, mtp_accept=0.7, overlap=0)
    three = ServePlan.one(tp=8, ep=8, batch=4, mtp_k=3, mtp_accept=0.7, overlap=0)
    none = ServePlan.one(tp=8, ep=8, batch=4, overlap=0)
    d1, d3 = _f(draft_s(b200, one, 4.0, 2048)), _f(draft_s(b200, three, 4.0, 2048))
    assert d1 > 0 and d3 == pytest.approx(3 * d1)
    assert _f(draft_s(b200, none, 4.0, 2048)) == 0.0
    assert _f(draft_s(b200, three, 0.0, 2048)) == 0.0  # no decodes, no drafting


def test_closed_loop_iteration_carries_verification_and_drafts(b200):
    wl = Workload(1024, 1024)
    plain = ServePlan.one(tp=8, ep=8, batch=4, overlap=0)
    for k in (1, 3):
        spec = ServePlan.one(tp=8, ep=8, batch=4, mtp_k=k, mtp_accept=0.0, overlap=0)
        t0, tk = _f(iteration_s(b200, plain, wl, 0.0, 32.0)), _f(iteration_s(b200, spec, wl, 0.0, 32.0))
        assert tk >= t0 + _f(draft_s(b200, spec, 32.0 / 8, wl.decode_context)) * (1 - 1e-9)
    assert _f(iteration_s(b200, ServePlan.one(tp=8, mtp_k=3, mtp_accept=0.7, overlap=0), wl, 0.0, 0.0)) == 0.0


@pytest.mark.parametrize("conc", [4, 64])
def test_mtp_at_zero_acceptance_is_never_faster(b200, conc):
    """TPOT with drafts that are never accepted is never below TPOT without MTP (closed loop, steady
    state and decode), and a full acceptance advances more than one token per step."""
    wl = Workload(1024, 1024)
    base = dict(tp=8, ep=8, batch=conc / 8, overlap=0)
    plain = ServePlan.one(**base)
    t_plain = closed_loop(b200, plain, wl)["tpot_s"]
    s_plain = _f(colocated(b200, plain, wl)["tpot_s"])
    d_plain = _f(decode(b200, plain, wl.decode_context)["tpot_s"])
    for k in (1, 3):
        useless = ServePlan.one(**base, mtp_k=k, mtp_accept=0.0)
        assert closed_loop(b200, useless, wl)["tpot_s"] >= t_plain * (1 - 1e-9)
        assert _f(colocated(b200, useless, wl)["tpot_s"]) >= s_plain * (1 - 1e-9)
        assert _f(decode(b200, useless, wl.decode_context)["tpot_s"]) >= d_plain * (1 - 1e-9)
    perfect = closed_loop(b200, ServePlan.one(**base, mtp_k=3, mtp_accept=1.0), wl)["tpot_s"]
    assert perfect < t_plain


def test_colocated_breakdown_sums_to_the_step_with_drafts(b200):
    r = colocated(b200, ServePlan.grid(tp=8, ep=8, batch=[1, 8], mtp_k=[0, 3], mtp_accept=0.7, overlap=0),
                  Workload(1024, 1024))
    np.testing.assert_allclose(sum(r[k] for k in BOTH_PARTS), r["step_s"], rtol=1e-9)
    assert (r["mtp_draft_s"][..., 1] > 0).all() and (r["mtp_draft_s"][..., 0] == 0).all()
