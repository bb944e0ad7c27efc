"""The host model of eager training stacks (training/host.py): the host runs ahead of the GPU between
synchronisations, partial CUDA graphs replay their parts by one launch, and Megatron-Core's BF16 dispatch."""

import numpy as np
import pytest

from superpod.cost.hardware import Hardware
from superpod.cost.plan import TrainPlan
from superpod.spec.catalog import load_model, load_system
from superpod.training.framework import framework
from superpod.training.host import GRAPH_SCOPES, stretch_s
from superpod.training.step import step

NO_HOST = "atlas800t-a2-cluster"  # a system without [host_memory] in the catalog


def test_a_stretch_is_between_the_max_and_the_sum_of_host_and_gpu():
    rng = np.random.default_rng(0)
    for _ in range(200):
        parts = [(float(h), float(g)) for h, g in rng.uniform(0, 1, (rng.integers(1, 6), 2))]
        t = float(stretch_s(parts))
        H, G = sum(h for h, _ in parts), sum(g for _, g in parts)
        assert max(H, G) - 1e-12 <= t <= H + G + 1e-12
    assert float(stretch_s([(2.0, 1.0)])) == 2.0 and float(stretch_s([(1.0, 2.0)])) == 2.0
    # GPU work issued first hides the host's later launches; issued last, it starts only behind them
    assert float(stretch_s([(0.1, 1.0), (1.0, 0.0)])) == pytest.approx(1.1)
    assert float(stretch_s([(1.0, 0.0), (0.1, 1.0)])) == pytest.approx(2.0)


def _dsv3(ops, dispatcher="alltoall", **kw):
    m, hw = load_model("deepseek-v3"), Hardware.of(load_system("gb200-nvl72").at(256))
    p = TrainPlan.one(tp=1, pp=8, vpp=4, ep=32, dp=32, micro_batch=1, zero=1, schedule="interleaved", fp8=2,
                      recompute="selective")
    return step(m, hw, p, 4096, 2048, dispatcher=dispatcher, host_ops=ops, **kw)


def test_each_graph_scope_never_slows_the_step_and_cuts_the_launches():
    ops = framework("megatron").host_ops
    prev = _dsv3(ops)
    scope = ()
    for s in GRAPH_SCOPES:
        scope = scope + (s,)
        r = _dsv3(ops.model_copy(update={"graph_scope": scope}))
        assert float(r.step_s[0]) <= float(prev.step_s[0]) + 1e-12, scope
        assert float(r.mechanisms["host"]["wire_s"][0]) <= float(prev.mechanisms["host"]["wire_s"][0]) + 1e-12, scope
        prev = r
    assert float(prev.mechanisms["host"]["wire_s"][0]) < 0.75 * float(_dsv3(ops).mechanisms["host"]["wire_s"][0])


def test_bf16_dispatch_sends_more_than_fp8():
    fp8 = _dsv3(None, "hybridep", fp8_dispatch=True)
    bf16 = _dsv3(None, "hybridep", fp8_dispatch=False)
    assert float(bf16.breakdown["ep_comm_s"][0]) > float(fp8.breakdown["ep_comm_s"][0])
    assert framework("megatron").fp8_dispatch is False  # the article's sec. 3.2


def test_the_host_wait_is_never_negative_and_the_step_covers_the_launches():
    ops = framework("megatron").host_ops
    for d in ("alltoall", "deepep", "hybridep"):
        r = _dsv3(ops, d)
        assert float(r.breakdown["host_wait_s"][0]) >= 0
        assert float(r.step_s[0]) >= float(r.mechanisms["host"]["wire_s"][0])


def test_cuda_graph_scope_option_prices_and_refuses_in_one_line():
    from typer.testing import CliRunner

    import superpod
    from superpod.errors import SuperpodError
    from superpod.faces.cli import app

    kw = dict(chips=256, global_batch=2048, tp=1, pp=8, vpp=4, ep=32, etp=1, micro_batch=1, schedule="interleaved",
              zero=1, precision="mxfp8", dispatcher="alltoall", recompute_modules="mlp mla_up_proj")
    eager = superpod.train("deepseek-v3", "gb200-nvl72", **kw)
    graphed = superpod.train("deepseek-v3", "gb200-nvl72", cuda_graph_scope="attn moe_router moe_preprocess", **kw)
    assert graphed.record["cuda_graph_scope"] == ["attn", "moe_router", "moe_preprocess"]
    assert graphed.record["step_s"] < eager.record["step_s"]
    assert graphed.record["breakdown"]["host_wait_s"] < eager.record["breakdown"]["host_wait_s"]
    for bad in (["deepseek-v3", "gb200-nvl72", "--cuda-graph-scope", "moe_preprocess"],
                ["deepseek-v3", "gb200-nvl72", "--cuda-graph-scope", "everything"],
                ["llama3-8b", "gb200-nvl72", "--cuda-graph-scope", "moe_router"],
                ["llama3-8b", "gb200-nvl72", "--framework", "torchtitan", "--cuda-graph-scope", "attn"]):
        res = CliRunner().invoke(app, ["train", *bad])
        assert res.exit_code == 2 and "Traceback" not in res.output, bad
    with pytest.raises(SuperpodError):
        superpod.train("deepseek-v3", "gb200-nvl72", cuda_graph_scope="shared_experts")


# ---- activation offloading (training/offload.py) ----

def test_offloading_saves_hbm_costs_time_where_the_link_is_slow_and_is_refused_without_host_memory():
    from typer.testing import CliRunner

    import superpod
    from superpod.faces.cli import app

    kw = dict(chips=256, global_batch=2048, tp=1, pp=8, vpp=4, ep=32, etp=1, micro_batch=1, cp=1, schedule="interleaved",
              zero=1, precision="mxfp8", dispatcher="hybridep", recompute_modules="mlp moe_act")
    kept = superpod.train("deepseek-v3", "gb200-nvl72", **kw).record
    off = superpod.train("deepseek-v3", "gb200-nvl72", offload_activations=True, **kw).record
    assert off["offload_activations"] is True and kept["offload_activations"] is False
    assert off["memory_per_chip_bytes"] < kept["memory_per_chip_bytes"]
    assert kept["breakdown"]["offload_s"] == 0
    # 1.9 GB per layer and micro-batch over 225 GB/s of NVLink-C2C outlasts the layers' compute: exposed
    assert off["breakdown"]["offload_s"] > 0 and off["step_s"] >= kept["step_s"]
    res = CliRunner().invoke(app, ["train", "llama3-8b", NO_HOST, "--offload-activations"])
    assert res.exit_code == 2 and "host memory" in res.output and "Traceback" not in res.output


def test_a_faster_host_link_never_slows_the_offloaded_step():
    m, hw = load_model("deepseek-v3"), Hardware.of(load_system("gb200-nvl72").at(256))
    p = TrainPlan.one(tp=1, pp=8, vpp=4, ep=32, dp=32, micro_batch=1, zero=1, schedule="interleaved", fp8=2,
                      recompute="selective")
    prev = None
    for bps in (25e9, 64e9, 225e9, 1e12, 1e15):
        r = step(m, hw, p, 4096, 2048, dispatcher="hybridep", offload_Bps=bps)
        if prev is not None:
            assert float(r.step_s[0]) <= prev + 1e-12
        prev = float(r.step_s[0])
    assert prev == pytest.approx(float(step(m, hw, p, 4096, 2048, dispatcher="hybridep").step_s[0]))
