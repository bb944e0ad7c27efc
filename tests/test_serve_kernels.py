"""Serving priced with the measured-kernel fits (superpod.cost.kernel_costs, [frameworks.kernels]):
the choice resolves, the costs keep physical bounds and monotonicity, and chips without fits fall back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from superpod.cost.kernel_costs import resolve
from superpod.serving.context import make_ctx
from superpod.serving.decode import decode
from superpod.serving.framework import frameworks
from superpod.serving.plan import ServePlan
from superpod.serving.prefill import prefill

KERNEL_FRAMEWORKS = ("sglang", "tensorrt-llm", "vllm")


@pytest.mark.parametrize("chip", ["h100", "b200"])
@pytest.mark.parametrize("fw", KERNEL_FRAMEWORKS)
def test_every_named_kernel_has_shipped_parameters(chip, fw):
    """Each kernel a framework names (GEMM, MoE per format, attention, MLA, all-reduce) is a fitted table."""
    f = frameworks()[fw]
    k = resolve(chip, f.kernels)
    assert k is not None
    fam = f.kernels[k.family]
    assert all(k.gemm_params(d) is not None for d in fam["gemm"]), fam["gemm"]
    assert all(k.moe_params(d) is not None for d in fam["moe"]), fam["moe"]
    for table in ("context_attention", "generation_attention", "context_mla", "generation_mla"):
        for kv in ("bfloat16", "fp8"):
            assert k.attention_params(table, "bfloat16", kv) is not None, (table, kv)
    for n in ("2", "4", "8"):
        assert k.comm_params("custom_allreduce_perf", f.kernels["custom_allreduce"], n) is not None
        assert k.comm_params("nccl_perf", "all_reduce", n) is not None
    # every MoE format the framework maps to has a kernel on Blackwell
    if k.family == "sm100":
        assert all(v in fam["moe"] for v in f.kernels["moe_formats"].values() if v != "int4_wo" or fw != "tensorrt-llm")


def test_chips_without_fits_fall_back_to_the_roofline():
    """910C (no kernel family), TPU and MI chips get no kernel handle; their estimates are the roofline's."""
    for model, system, fw in (("deepseek-v3", "cloudmatrix384", None), ("llama3-8b", "tpu-v5p-pod", "vllm"),
                              ("llama3-8b", "mi300x-cluster", "vllm")):
        c = make_ctx(model, system, 8, None, None, fw)
        assert c.kernels is None, system
    c = make_ctx("deepseek-v3", "cloudmatrix384", 16, "int8")
    plan = ServePlan.one(tp=1, ep=16, batch=32)
    a = decode(c, plan, 4096)["step_s"]
    b = decode(dataclasses.replace(c, kernels=None), plan, 4096)["step_s"]
    assert np.array_equal(a, b)


def test_the_framework_decides_the_kernels():
    """Same chip and plan, another framework's tables: another answer."""
    plan = ServePlan.one(tp=2, batch=16)
    t = {fw: float(decode(make_ctx("llama3-70b", "dgx-h100-superpod", 8, "fp8", "bf16", fw), plan, 2048)["step_s"][0])
         for fw in KERNEL_FRAMEWORKS}
    assert len({round(v, 9) for v in t.values()}) == 3, t


@pytest.mark.parametrize("fw", KERNEL_FRAMEWORKS)
@pytest.mark.parametrize("model,system,quant,tp", [("llama3-8b", "dgx-h100-superpod", "bf16", 1),
                                                  ("llama3-70b", "dgx-b200-cluster", "fp8", 4),
                                                  ("qwen3-235b-a22b", "h200-cluster", "fp8", 4)])
def test_kernel_priced_decode_is_never_below_the_roofline_of_its_bytes_and_flops(fw, model, system, quant, tp):
    c = make_ctx(model, system, 8, quant, "bf16", fw)
    assert c.kernels is not None
    batch = np.array([1.0, 4.0, 16.0, 64.0])
    ctx = 4096.0
    r = decode(c, ServePlan.one(tp=tp, ep=1, moe_tp=tp if c.model.moe else 1, batch=batch), ctx)
    m, hw = c.model, c.hw
    tokens = batch * tp  # the TP group's tokens through every weight
    # every chip reads its share of the weights the batch touches at least once and its KV cache
    kv = r["kv_bytes_per_chip"]
    active_bytes = m.active_params / tp * {"bf16": 2.0, "fp8": 1.0}[quant]
    floor_mem = (np.minimum(r["weight_bytes"], active_bytes) + kv) / hw.hbm_Bps
    floor_flops = 2.0 * m.active_params * tokens / tp / hw.peak(quant)
    assert np.all(r["step_s"] >= floor_mem), (r["step_s"], floor_mem)
    assert np.all(r["step_s"] >= floor_flops)


@pytest.mark.parametrize("fw", KERNEL_FRAMEWORKS)
def test_kernel_priced_decode_is_monotone_in_batch_and_context(fw):
    for model, quant, tp in (("llama3-70b", "fp8", 4), ("deepseek-v3", "fp8", 8)):
        c = make_ctx(model, "dgx-b200-cluster", 8, quant, None, fw)
        batch = np.arange(1.0, 257.0)
        moe = dict(ep=1, moe_tp=tp) if c.model.moe else {}
        step = decode(c, ServePlan.one(tp=tp, batch=batch, **moe), 2048)["step_s"]
        assert np.all(np.diff(step) >= -1e-12 * step[1:]), (model, np.min(np.diff(step)))
        ctxs = np.array([128.0, 1024, 4096, 16384, 65536])
        by_ctx = [float(decode(c, ServePlan.one(tp=tp, batch=8, **moe), x)["step_s"][0]) for x in ctxs]
        assert np.all(np.diff(by_ctx) >= 0), by_ctx


def test_faster_nvlink_never_slows_tp_decode():
    c = make_ctx("llama3-70b", "dgx-h100-superpod", 8, "fp8", "bf16", "tensorrt-llm")
    plan = ServePlan.one(tp=8, batch=np.array([1.0, 32.0, 256.0]))
    slow = decode(c, plan, 2048)
    k = c.kernels
    fast_k = dataclasses.replace(k, hw=dict(k.hw, scaleup_uni_Bps=2 * k.hw["scaleup_uni_Bps"]))
    fast = decode(dataclasses.replace(c, kernels=fast_k), plan, 2048)
    assert np.all(fast["tp_comm_s"] <= slow["tp_comm_s"]) and np.all(fast["tp_comm_s"] < slow["tp_comm_s"])


def test_wide_ep_keeps_the_roofline_per_plan():
    """EP beyond one NVLink domain (8 H100s) is priced by the roofline; EP inside it by the kernels,
    plan by plan in one grid (the LM head, outside the layers, keeps its measured GEMM: within 0.2%)."""
    c = make_ctx("deepseek-v3", "dgx-h100-superpod", 32, "fp8", "bf16", "sglang")
    grid = ServePlan.one(tp=1, ep=np.array([8.0, 32.0]), batch=64)
    both = decode(c, grid, 4096)["step_s"]
    roof = decode(dataclasses.replace(c, kernels=None), ServePlan.one(tp=1, ep=32, batch=64), 4096)["step_s"]
    kern = decode(c, ServePlan.one(tp=1, ep=8, batch=64), 4096)["step_s"]
    assert both[1] == pytest.approx(float(roof[0]), rel=2e-3) and both[0] == pytest.approx(float(kern[0]))


def test_kernel_prefill_is_priced_and_grows_with_tokens():
    c = make_ctx("llama3-70b", "dgx-b200-cluster", 8, "fp8", "bf16", "vllm")
    r = prefill(c, ServePlan.one(tp=4, batch=np.array([1024.0, 4096.0, 16384.0])), 8192)
    assert np.all(np.diff(r["step_s"]) > 0) and np.all(r["attention_s"] > 0)


@pytest.mark.parametrize("chip", ["h100", "b200"])
@pytest.mark.parametrize("fw", KERNEL_FRAMEWORKS)
def test_gemm_fit_never_gets_cheaper_with_more_rows(chip, fw):
    """The padded-row-tile candidates make the fitted GEMM monotone in m (a tile switch at a row
    boundary used to make m = 65 cheaper than m = 64)."""
    k = resolve(chip, frameworks()[fw].kernels)
    m = np.arange(1.0, 2049.0)
    for q in ("bf16", "fp8", "fp4"):
        if not k.has_gemm(q):
            continue
        for n, kk in ((7168, 7168), (4096, 4096), (1024, 8192), (256, 7168)):
            t = k.gemm_s(m, n, kk, q)
            assert np.all(np.diff(t) >= -1e-3 * t[1:]), (q, n, kk, m[np.argmin(np.diff(t))])


def test_kernel_paths_are_chosen_per_plan_not_per_grid():
    """A plan's DeepEP / TP all-reduce path depends on its own EP / TP, not on the widest plan of the
    grid it is priced in: on an 8-GPU NVLink domain, EP 2..8 plans priced in a grid that also holds
    EP 16+ (wide EP: roofline) get the same step time as priced alone."""
    from superpod.planners.serve_estimate import setup
    from superpod.planners.serve_search import grid_for

    s = setup("qwen3-235b-a22b", "h200-cluster", None, None, None, None, None, None, None, None, None, None, None,
              "balanced")
    grid, _, _ = grid_for(s.c, batch=[64.0], **s.grid_args)
    flat = grid.flat()
    ep = np.broadcast_to(flat.ep, flat.shape)
    assert s.c.kernels is not None and ep.min() <= 8 < ep.max()
    together = np.broadcast_to(decode(s.c, grid, 4096.0)["step_s"], grid.shape).ravel()
    for i in range(flat.shape[0]):
        assert float(np.ravel(decode(s.c, flat.take([i]), 4096.0)["step_s"])[0]) == together[i], flat.row(i)
