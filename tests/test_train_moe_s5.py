"""MoE training mechanisms of the DeepSeek-V3-on-GB200 case (training.md 7.2): DeepEP across a
multi-node NVLink domain, MXFP8 GEMM rates and the host-bound regime of an eager stack."""

import numpy as np
import pytest

from superpod.cost.hardware import Hardware
from superpod.cost.plan import TrainPlan
from superpod.spec.catalog import load_model, load_system
from superpod.training.dispatch import deepep_mnnvl_s, ranks_per_token
from superpod.training.step import step


def _hw(system, n):
    return Hardware.of(load_system(system).at(n))


def test_ranks_per_token_bounds():
    r = ranks_per_token(256, 8, np.array([1.0, 2.0, 8.0, 32.0, 64.0, 256.0]))
    assert r[0] == pytest.approx(1.0) and np.all(np.diff(r) > 0) and r[-1] == pytest.approx(8.0)
    assert 7.0 < r[3] < 7.3  # EP32, 8 experts per rank


def test_deepep_across_mnnvl_at_the_measured_rate_only_there():
    gb, h100 = _hw("gb200-nvl72", 256), _hw("dgx-h100-superpod", 256)
    t = deepep_mnnvl_s(4096.0, 256, 8, 7168, np.array([4.0, 8.0, 16.0, 32.0, 64.0]), 1.0, gb)
    assert t[0] == t[1] == 0 and 0 < t[2] < t[3] < t[4]  # EP above 8 GPUs only, more ranks more rows
    rows = 4096 * float(ranks_per_token(256, 8, 32.0)) * 7168 * 2
    assert float(t[3]) == pytest.approx(2 * (rows / 400e9 + rows / 190e9))
    assert float(deepep_mnnvl_s(4096.0, 256, 8, 7168, 32.0, 1.0, h100)) == 0  # EP32 on H100 crosses nodes: the fabric
    # the step's EP transfers are never below it
    m = load_model("deepseek-v3")
    p = TrainPlan.one(tp=1, pp=8, vpp=4, ep=32, dp=32, micro_batch=1, zero=1, schedule="interleaved")
    r = step(m, gb, p, 4096, 2048, dispatcher="deepep")
    assert float(r.mechanisms["ep"]["wire_s"][0]) >= 64 * 8 * 58 / 61 * float(t[3]) * 0.99


# ---- the host-bound regime (training/host.py) ----

def _dsv3(host_ops, **kw):
    m, hw = load_model("deepseek-v3"), _hw("gb200-nvl72", 256)
    p = TrainPlan.one(tp=1, pp=8, vpp=4, ep=32, dp=32, micro_batch=1, zero=1, schedule="interleaved", fp8=2,
                      recompute="selective")
    return step(m, hw, p, 4096, 2048, dispatcher=kw.pop("dispatcher", "alltoall"), host_ops=host_ops, **kw)


def _ops(scale=1.0, op_us=None):
    from superpod.training.framework import framework

    ops = framework("megatron").host_ops
    upd = {k: tuple(scale * x for x in getattr(ops, k)) for k in ("linear", "quantised_linear", "router", "layer")}
    upd["dispatcher"] = {k: tuple(scale * x for x in v) for k, v in ops.dispatcher.items()}
    if op_us is not None:
        from superpod.spec.quantity import Quantity

        upd["op_s"] = Quantity(value=op_us, unit="us", source="test", confidence="U")
    return ops.model_copy(update=upd)


def test_more_launches_are_never_faster_and_none_cost_nothing():
    base = _dsv3(None)
    assert float(base.breakdown["host_wait_s"][0]) == 0
    prev = float(base.step_s[0])
    for scale in (0.25, 0.5, 1.0, 2.0, 4.0):
        r = _dsv3(_ops(scale))
        assert float(r.step_s[0]) >= prev - 1e-12, scale
        prev = float(r.step_s[0])
    for us in (1.0, 10.0, 50.0, 200.0):  # a slower host is never faster
        r = _dsv3(_ops(1.0, us))
        assert float(r.step_s[0]) >= prev - 1e-12 or us == 1.0
        prev = float(r.step_s[0])


def test_host_bound_step_is_never_faster_than_its_launches():
    for us in (5.0, 50.0, 500.0):
        r = _dsv3(_ops(1.0, us))
        launches = float(r.mechanisms["host"]["wire_s"][0])  # m x the stage's launch time per micro-batch
        assert float(r.step_s[0]) >= launches
        assert float(r.breakdown["host_wait_s"][0]) >= 0
    slow = _dsv3(_ops(1.0, 500.0))
    assert float(slow.step_s[0]) < 1.6 * float(slow.mechanisms["host"]["wire_s"][0])  # host-bound: launches dominate


def test_deepep_launches_fewer_host_ops_than_the_nccl_dispatcher():
    a = _dsv3(_ops(), dispatcher="alltoall")
    d = _dsv3(_ops(), dispatcher="deepep")
    assert float(d.mechanisms["host"]["wire_s"][0]) < float(a.mechanisms["host"]["wire_s"][0])
    assert float(d.step_s[0]) < float(a.step_s[0])


def test_only_stacks_declaring_launches_pay_them():
    from superpod.training.framework import frameworks

    declared = {n for n, f in frameworks().items() if f.host_ops is not None}
    assert declared == {"megatron"}


# ---- flexible pipeline layout (the LM head on a stage with fewer layers) ----

@pytest.mark.parametrize("pp,vpp", [(8, 4), (4, 1), (16, 1), (61, 1)])
def test_pipeline_layout_bounds(pp, vpp):
    m, hw = load_model("deepseek-v3"), _hw("gb200-nvl72", 256)
    p = TrainPlan.one(tp=1, pp=pp, vpp=vpp, ep=8, dp=256 // pp if 256 % pp == 0 else 1, micro_batch=1, zero=1,
                      schedule="interleaved" if vpp > 1 else "1f1b")
    fixed = step(m, hw, p, 4096, 2048)
    flex = step(m, hw, p, 4096, 2048, pp_layout=True)
    assert float(flex.step_s[0]) <= float(fixed.step_s[0]) + 1e-12  # placing the head freely never costs time
    if (-(-61 // pp)) * pp == 61:  # no slot to give up: the same step
        assert float(flex.step_s[0]) == pytest.approx(float(fixed.step_s[0]))
    # never below the fullest stage without any head: the head's cost only shrinks to zero
    from superpod.cost.layers import BWD_GEMM, head_forward_s

    head = float(head_forward_s(m, 4096.0, 1.0, hw)) * (1 + BWD_GEMM) * float(fixed.micro_batches[0])
    assert float(flex.breakdown["compute_s"][0]) >= float(fixed.breakdown["compute_s"][0]) - head - 1e-9


def test_hybridep_never_slower_than_deepep_and_faster_across_the_nvl72():
    for ep in (4, 8, 32):
        m, hw = load_model("deepseek-v3"), _hw("gb200-nvl72", 256)
        p = TrainPlan.one(tp=1, pp=8, vpp=4, ep=ep, dp=32, micro_batch=1, zero=1, schedule="interleaved")
        d = step(m, hw, p, 4096, 2048, dispatcher="deepep").breakdown["ep_comm_s"]
        h = step(m, hw, p, 4096, 2048, dispatcher="hybridep").breakdown["ep_comm_s"]
        assert float(h[0]) <= float(d[0])
        if ep > 8:
            assert float(h[0]) < 0.7 * float(d[0])


# ---- fine-grained recompute (--recompute-modules) ----

def _mods(mods, model="deepseek-v3", system="gb200-nvl72", n=256, **plan):
    m, hw = load_model(model), _hw(system, n)
    kw = dict(tp=1, pp=8, vpp=4, ep=32, dp=32, micro_batch=1, zero=1, schedule="interleaved", recompute="selective")
    kw.update(plan)
    return step(m, hw, TrainPlan.one(**kw), 4096, 2048, recompute_modules=mods)


def test_recompute_modules_bounds():
    default = _mods(None)
    core = _mods(("core_attn",))
    assert float(core.breakdown["recompute_s"][0]) == pytest.approx(float(default.breakdown["recompute_s"][0]))
    assert np.ravel(core.recompute_flops)[0] == pytest.approx(np.ravel(default.recompute_flops)[0])
    prev_s, prev_f = 0.0, 0.0
    for mods in (("layernorm",), ("layernorm", "mla_up_proj"), ("layernorm", "mla_up_proj", "mlp"),
                 ("layernorm", "mla_up_proj", "mlp", "moe_act"), ("layernorm", "mla_up_proj", "mlp", "moe_act", "moe"),
                 ("layernorm", "mla_up_proj", "mlp", "moe_act", "moe", "core_attn")):
        r = _mods(mods)
        s, f = float(r.breakdown["recompute_s"][0]), float(np.asarray(r.recompute_flops).ravel()[0])
        assert s > prev_s and f >= prev_f, mods  # more modules never cost less
        prev_s, prev_f = s, f
    full = _mods(None, recompute="full")
    assert prev_s <= float(full.breakdown["recompute_s"][0]) * 1.05  # no module set costs much more than full


def test_recompute_modules_are_checked_and_stated():
    from superpod.errors import InvalidOptionError
    from superpod.planners.train_estimate import train

    kw = dict(tp=1, pp=8, vpp=4, ep=32, precision="mxfp8", micro_batch=1, schedule="interleaved", global_batch=2048)
    r = train("deepseek-v3", "gb200-nvl72@256", recompute_modules="mlp, mla_up_proj", **kw)
    assert r["recompute_modules"] == ["mlp", "mla_up_proj"] and r["plan"]["recompute"] == "selective"
    with pytest.raises(InvalidOptionError, match="unknown module"):
        train("deepseek-v3", "gb200-nvl72@256", recompute_modules="attention", **kw)
    with pytest.raises(InvalidOptionError, match="MLA"):
        train("llama3-70b", "dgx-h100-superpod@64", recompute_modules="mla_up_proj")
    with pytest.raises(InvalidOptionError, match="selective"):
        train("deepseek-v3", "gb200-nvl72@256", recompute_modules="mlp", recompute="full", **kw)


def test_mxfp8_experts_never_faster_than_the_measured_grouped_gemm():
    from superpod.training.framework import framework
    from superpod.training.kernels import expert_rate, layer_train_measured_s

    m, gb, h100 = load_model("deepseek-v3"), _hw("gb200-nvl72", 256), _hw("dgx-h100-superpod", 256)
    rates = framework("megatron").expert_flops
    cap = expert_rate(rates, gb, "mxfp8")
    assert cap == pytest.approx(2672e12) and expert_rate(rates, gb, "bf16") is None and expert_rate(rates, h100, "mxfp8") is None
    args = (m, True, 4096.0, 2048.0, 1.0, 32.0, gb, "fp8", "flash", 0, 1.0, None)
    free = layer_train_measured_s(*args)
    capped = layer_train_measured_s(*args, expert_flops=cap)
    flop = 2 * 4096 * 8 * 3 * 7168 * 2048
    assert float(capped["experts_s"]) >= flop / cap * 0.999 and float(capped["experts_s"]) >= float(free["experts_s"])
    assert float(capped["bwd_s"]) - float(free["bwd_s"]) == pytest.approx(2 * (float(capped["fwd_s"]) - float(free["fwd_s"])))


# ---- expert routing assumption ----

def test_random_routing_is_never_faster_and_tends_to_balanced():
    from superpod.errors import InvalidOptionError
    from superpod.planners.train_estimate import train
    from superpod.training.dispatch import routing_skew

    g = routing_skew("random", np.array([64.0, 1024.0, 32768.0, 1e9]), 32.0)
    assert np.all(np.diff(g) < 0) and g[-1] == pytest.approx(1.0, abs=1e-3) and g[0] > 1.3
    assert float(routing_skew("random", 4096.0, 1.0)) == 1.0 and float(routing_skew("balanced", 64.0, 32.0)) == 1.0
    m, hw = load_model("deepseek-v3"), _hw("gb200-nvl72", 256)
    for mb in (1, 4):
        p = TrainPlan.one(tp=1, pp=8, ep=32, dp=32, micro_batch=mb, zero=1)
        b, r = (step(m, hw, p, 512, 2048, routing=x) for x in ("balanced", "random"))
        assert float(r.step_s[0]) > float(b.step_s[0])
        assert float(r.breakdown["ep_comm_s"][0]) > float(b.breakdown["ep_comm_s"][0])
    kw = dict(tp=1, pp=8, ep=32, global_batch=2048)
    assert train("deepseek-v3", "gb200-nvl72@256", routing="random", **kw)["routing"] == "random"
    with pytest.raises(InvalidOptionError, match="routing"):
        train("deepseek-v3", "gb200-nvl72@256", routing="measured", **kw)
