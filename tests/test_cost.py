"""Cost core: analytic cases, roofline bounds, monotonicity, vector = scalar."""

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from superpod.cost.comm import collective_s, moe_a2a_s, p2p_s
from superpod.cost.compute import attention_s, gemm_s
from superpod.cost.hardware import Hardware
from superpod.cost.layers import attention_flops_per_token, gemms, model_flops_per_token
from superpod.cost.plan import TrainPlan
from superpod.errors import UnsupportedPrecisionError
from superpod.spec import load_chip, load_system
from superpod.spec.catalog import load_model
from superpod.training.step import step

H800 = Hardware.of_chip(load_chip("h800"))
H800_CLUSTER = Hardware.of(load_system("h800-cluster").at(256))


def exact_forward_flops_per_token(model, seq_len):
    """Forward FLOPs per token from the operator list (a check of 6N; not used by the estimators) (GEMMs, routed experts, LM head, attention)."""
    total = 0.0
    for moe_layer, count in ((False, model.dense_layers), (True, model.moe_layers)):
        if count:
            total += count * sum(2.0 * g.k * g.n for g in gemms(model, moe_layer))
    if model.moe is not None:
        mats = 3 if model.activation == "swiglu" else 2
        total += model.moe_layers * model.moe.top_k * 2.0 * mats * model.hidden * model.moe.expert_ffn
    total += 2.0 * model.hidden * model.vocab
    return total + model.layers * attention_flops_per_token(model, np.asarray(seq_len, dtype=float) / 2)


@pytest.mark.parametrize("name", ["llama3-8b", "llama3-70b", "llama3-405b", "qwen3-32b", "gpt3-175b"])
def test_6n_rule_dense(name):
    """6N per token is within 2% of the exact operator count at short sequence."""
    m = load_model(name)
    exact = 3 * exact_forward_flops_per_token(m, 128)
    assert exact == pytest.approx(6 * m.active_params, rel=0.02)


def test_deepseek_v3_training_flops():
    """~250 GFLOP per token at s = 4096 (formulas.md 2.5; Insights into DeepSeek-V3, Table 2)."""
    m = load_model("deepseek-v3")
    assert float(model_flops_per_token(m, 4096)) == pytest.approx(250.4e9, rel=0.005)
    assert float(3 * exact_forward_flops_per_token(m, 4096)) == pytest.approx(250.4e9, rel=0.005)


def test_kv_bytes_deepseek_v3():
    m = load_model("deepseek-v3")
    assert m.kv_elements_per_token_per_layer == 576
    assert m.kv_bytes_per_token(2) == 61 * 576 * 2 == 70_272


def _ring_hw(bw=100e9, alpha=5e-6, eta=None):
    hw = H800_CLUSTER
    tier = replace(hw.tiers[-1], topology="clos", in_network_reduction=False, bw_Bps=bw, latency_s=alpha, domain=math.inf)
    return replace(hw, tiers=(tier,)), tier.comm.eta_busbw.si


@pytest.mark.parametrize("n", [2, 4, 8, 64, 1000])
def test_ring_all_reduce_formula(n):
    hw, eta = _ring_hw()
    S = 1e9
    t = float(collective_s("all_reduce", S, n, hw)["total_s"])
    assert t == pytest.approx(2 * (n - 1) * 5e-6 + 2 * (n - 1) / n * S / (eta * 100e9))


def test_hierarchical_all_reduce_pays_each_tier():
    """A group spanning nodes pays NVLink for the intra-node share and IB for S/n_local."""
    hw = H800_CLUSTER
    S = 1e9
    out = collective_s("all_reduce", S, 32, hw)
    nv, ib = hw.tiers
    assert out["nvlink4-h800_s"] > 0 and out["ib-ndr-h800_s"] > 0
    # one rank per node: the whole buffer crosses InfiniBand
    one_per_node = collective_s("all_reduce", S, 4, hw, stride=8)
    assert float(one_per_node["nvlink4-h800_s"]) == 0.0
    assert float(one_per_node["ib-ndr-h800_s"]) > float(out["ib-ndr-h800_s"])


def test_group_outgrowing_scaleup_pays_scaleout():
    hw = Hardware.of(load_system("gb200-nvl72").at(144))
    inside = float(collective_s("all_reduce", 1e9, 72, hw)["total_s"])
    across = float(collective_s("all_reduce", 1e9, 144, hw)["total_s"])
    assert across > inside


def test_unsupported_precision():
    hw = Hardware.of_chip(load_chip("ascend-910c"))
    with pytest.raises(UnsupportedPrecisionError, match="no fp8"):
        gemm_s(128, 4096, 4096, hw, "fp8")


# ---- properties ----

dims = st.integers(min_value=1, max_value=20000)


@settings(max_examples=200, deadline=None)
@given(dims, dims, dims, st.sampled_from(["bf16", "fp8"]), st.integers(1, 16), st.sampled_from(["dense", "contiguous", "masked"]))
def test_gemm_never_beats_roofline(m, n, k, prec, groups, layout):
    op = gemm_s(m, n, k, H800, prec, groups, layout)
    flops = 2.0 * m * n * k * groups
    q = 1.0 if prec == "fp8" else 2.0
    nbytes = groups * (m * k * q + k * n * q + 2.0 * m * n)
    assert float(op.total_s) >= max(flops / H800.peak(prec), nbytes / H800.hbm_Bps) * (1 - 1e-12)


@settings(max_examples=100, deadline=None)
@given(dims, dims, dims, st.floats(1.0, 4.0), st.floats(1.0, 4.0))
def test_more_peak_or_bandwidth_never_slower(m, n, k, fp, fb):
    base = float(gemm_s(m, n, k, H800).total_s)
    assert float(gemm_s(m, n, k, H800.scaled(peak=fp)).total_s) <= base * (1 + 1e-12)
    assert float(gemm_s(m, n, k, H800.scaled(hbm_Bps=fb)).total_s) <= base * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(st.floats(1e3, 1e10), st.integers(2, 4096), st.floats(1.0, 8.0), st.sampled_from(["all_reduce", "reduce_scatter", "all_gather", "all_to_all"]))
def test_more_fabric_bandwidth_never_slower(size, n, f, op):
    base = float(collective_s(op, size, n, H800_CLUSTER)["total_s"])
    faster = float(collective_s(op, size, n, H800_CLUSTER.scaled(fabric_Bps=f))["total_s"])
    assert faster <= base * (1 + 1e-12)
    assert float(collective_s(op, size * 2, n, H800_CLUSTER)["total_s"]) >= base


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8192), st.integers(1, 4))
def test_time_grows_with_tokens(tokens, extra):
    a = gemm_s(tokens, 7168, 7168, H800).total_s
    b = gemm_s(tokens + extra * 64, 7168, 7168, H800).total_s
    assert float(b) >= float(a)
    x = attention_s(tokens * 1e6, tokens * 1e3, H800, "decode").total_s
    y = attention_s((tokens + extra) * 1e6, (tokens + extra) * 1e3, H800, "decode").total_s
    assert float(y) >= float(x)


def test_p2p_uses_innermost_tier():
    hw = H800_CLUSTER
    near = float(p2p_s(1e8, 1, hw))
    far = float(p2p_s(1e8, 8, hw))
    assert near < far


def test_moe_a2a_grows_with_tokens():
    a = moe_a2a_s(64, 8, 7168, 64, H800_CLUSTER, "dispatch", "ll")["total_s"]
    b = moe_a2a_s(128, 8, 7168, 64, H800_CLUSTER, "dispatch", "ll")["total_s"]
    assert float(b) > float(a)


# ---- the vectorized training step ----

MODEL = load_model("deepseek-v3")
HW = Hardware.of(load_system("h800-cluster").at(2048))
GRID = TrainPlan.grid(tp=[1, 2, 8], pp=[4, 8, 16], dp=[16, 64], ep=[8, 64], cp=[1, 2], sp=[0, 1],
                      recompute=["none", "selective", "full"], schedule=["1f1b", "interleaved", "zero-bubble", "dualpipe"],
                      vpp=[1, 2], micro_batch=[1, 2], zero=[1, 3], fp8=[0, 1])


def test_vector_and_scalar_paths_agree():
    res = step(MODEL, HW, GRID, 4096, 2048)
    flat = GRID.flat()
    shape = GRID.shape
    step_flat = np.broadcast_to(res.step_s, shape).ravel()
    rng = np.random.default_rng(0)
    for i in rng.choice(len(flat), 25, replace=False):
        one = step(MODEL, HW, TrainPlan.one(**flat.row(int(i))), 4096, 2048)
        assert float(one.step_s[0]) == step_flat[i]  # exactly: same code path


def test_step_breakdown_adds_up_and_bounds():
    res = step(MODEL, HW, GRID, 4096, 2048)
    total = sum(np.broadcast_to(v, GRID.shape) for v in res.breakdown.values())
    assert np.allclose(total, np.broadcast_to(res.step_s, GRID.shape), rtol=1e-12)
    assert (np.asarray(res.mfu) > 0).all() and (np.asarray(res.mfu) < 1).all()
    assert (np.broadcast_to(res.hfu, GRID.shape) >= np.broadcast_to(res.mfu, GRID.shape) - 1e-12).all()
    for v in res.breakdown.values():
        assert (np.asarray(v) >= 0).all()


def test_faster_fabric_never_slows_a_step():
    a = step(MODEL, HW, GRID, 4096, 2048).step_s
    b = step(MODEL, HW.scaled(fabric_Bps=2.0), GRID, 4096, 2048).step_s
    assert (np.broadcast_to(b, GRID.shape) <= np.broadcast_to(a, GRID.shape) * (1 + 1e-12)).all()


@pytest.mark.parametrize("chip", ["h800", "a100", "ascend-910c", "b200"])
def test_gemm_time_never_falls_with_rows(chip):
    """Every row count from 1 to 20k, at the shapes serving and training use: across the small/large
    row-block threshold too (m = 960 once ran slower than m = 1024 on the H800)."""
    hw = Hardware.of_chip(load_chip(chip))
    m = np.arange(1, 20_000)
    for n, k in ((7168, 7168), (2048, 7168), (576, 7168), (24576, 1536)):
        t = gemm_s(m, n, k, hw).total_s
        assert np.all(np.diff(t) >= -1e-15), (chip, n, k, m[1:][np.diff(t) < -1e-15][:5])
