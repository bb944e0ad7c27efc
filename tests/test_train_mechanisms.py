"""Every training mechanism priced (issue 11): monotonicity and bounds, MoE parallel folding,
precision recipes, --explain per mechanism, --compare-plan, and the published-vs-searched property."""

import numpy as np
import pytest

from superpod.cost.hardware import Hardware
from superpod.cost.plan import TrainPlan
from superpod.errors import InvalidOptionError, SuperpodError, UnsupportedPrecisionError
from superpod.planners.train_estimate import parse_plan, train
from superpod.planners.train_search import build_grid, search
from superpod.planners.validate import run_group
from superpod.spec.catalog import load_model, load_system
from superpod.training.mechanisms import cp_exchange_s, dp_sync_s, ep_alltoall_s, fsdp_s, straggler_s, tier_index
from superpod.training.step import step


def _hw(system, n):
    return Hardware.of(load_system(system).at(n))


def _step(model, system, n, seq, batch, **plan):
    return step(load_model(model), _hw(system, n), TrainPlan.one(**plan), seq, batch)


# ---- context parallelism ----

@pytest.mark.parametrize("overlap", [True, False])
def test_more_cp_never_makes_cp_free(overlap):
    hw = _hw("h100-roce-cluster", 1024)
    for cp in (2, 4, 8, 16, 32):
        r = cp_exchange_s(2 * 1 * (131072 / cp) * 1 * 128 * 2, cp, 8, 0.05 / cp, 0.125 / cp, hw, overlap)
        assert float(r["fwd_s"] + r["bwd_s"]) > 0, cp


def test_cp_overlap_ends_at_short_sequences_per_rank():
    hw = _hw("h100-roce-cluster", 1024)
    prev = 0.0
    for s in (131072, 65536, 32768, 16384, 8192, 4096):  # attention per rank ~ s^2, K/V chunk ~ s
        attn = 4e-3 * (s / 131072) ** 2  # ~ a 405B layer at TP8 CP16 on H100
        r = cp_exchange_s(2 * (s / 16) * 128 * 2, 16, 8, attn, 2.5 * attn, hw, True)
        share = float(r["fwd_s"] + r["bwd_s"]) / float(r["wire_s"])
        assert share >= 0.95 * prev, s  # (alpha terms make the fully hidden regime only nearly flat)
        prev = share
    assert prev > 0.3  # at 256 tokens per rank most of the exchange is exposed


def test_cp_in_the_step_is_priced():
    base = _step("llama3-405b", "h100-roce-cluster", 2048, 131072, 16, tp=8, pp=16, dp=1, cp=16, sp=1)
    assert float(base.breakdown["cp_comm_s"][0]) > 0
    assert float(base.mechanisms["cp"]["wire_s"][0]) >= float(base.breakdown["cp_comm_s"][0])


# ---- recompute ----

@pytest.mark.parametrize("model", ["llama3-8b", "gpt3-175b", "deepseek-v3"])
def test_full_recompute_never_cheaper_than_selective(model):
    sys, n = ("gb200-nvl72", 64) if model == "deepseek-v3" else ("dgx-h100-superpod", 64)
    ep = 8 if model == "deepseek-v3" else 1
    out = {}
    for rc in (0, 1, 2, 3):
        r = _step(model, sys, n, 4096, 64, tp=8, pp=8 if model != "llama3-8b" else 1, dp=n // (64 if model != "llama3-8b" else 8),
                  ep=ep, sp=1, recompute=rc)
        out[rc] = (float(r.breakdown["recompute_s"][0]), float(r.step_s[0]), float(r.recompute_flops[0]))
    assert out[0][0] == 0
    assert out[2][0] >= out[1][0] >= 0
    assert out[2][1] >= out[1][1] >= out[0][1]
    assert out[2][2] >= out[1][2] >= out[0][2]
    assert 0 < out[3][0] <= out[2][0] and 0 < out[3][2] <= out[2][2]  # TorchTitan's op policy: half the matmuls


# ---- expert parallelism ----

def test_ep_across_nodes_never_cheaper_than_inside_the_scaleup_domain():
    hw = _hw("dgx-h100-superpod", 64)
    kw = dict(tokens=8192, top_k=8, hidden=4096, hw=hw, quantised_dispatch=False, moe_compute_s=0.0, overlap=False,
              comm_sms=20)
    inside = ep_alltoall_s(ep=8, etp=1, **kw)  # ranks 0..7: one NVLink node
    across = ep_alltoall_s(ep=8, etp=2, **kw)  # stride 2: spans 16 ranks, two nodes
    assert float(across["wire_s"]) > float(inside["wire_s"]) > 0
    assert tier_index(8, 1, hw) == 0 and tier_index(8, 2, hw) == 1


def test_ep_four_all_to_alls_and_overlap_only_under_dualpipe():
    hw = _hw("gb200-nvl72", 72)
    kw = dict(tokens=4096, top_k=8, hidden=7168, ep=32, etp=1, hw=hw, quantised_dispatch=False, comm_sms=20)
    serial = ep_alltoall_s(moe_compute_s=1.0, overlap=False, **kw)
    dual = ep_alltoall_s(moe_compute_s=1.0, overlap=True, **kw)
    assert float(serial["exposed_s"]) == pytest.approx(float(serial["wire_s"]))
    # hidden behind compute, but the SMs the kernels hold slow that compute: never free
    assert 0 < float(dual["exposed_s"]) < float(serial["exposed_s"])


# ---- data parallel, FSDP, stragglers, pipeline ----

def test_dp_tail_and_hierarchy():
    hw = _hw("dgx-h100-superpod", 1024)
    small = dp_sync_s(4e9, 2e9, 8, 8, hw, 1, 10.0, 0.05, True)  # 8 replicas 8 apart: across nodes
    large = dp_sync_s(4e9, 2e9, 128, 8, hw, 1, 10.0, 0.05, True)
    assert float(small["exposed_s"]) >= 0.05 * float(small["wire_s"]) > 0  # the last bucket is never hidden
    assert float(large["wire_s"]) >= float(small["wire_s"])
    none = dp_sync_s(4e9, 2e9, 8, 8, hw, 1, 10.0, 0.05, False)
    assert float(none["exposed_s"]) == pytest.approx(float(none["wire_s"]))


def test_fsdp_first_gather_exposed_and_less_compute_hides_less():
    hw = _hw("dgx-h100-superpod", 256)
    a = fsdp_s(1e9, 32, 8, hw, 0.05, 0.1, 10, 3)
    b = fsdp_s(1e9, 32, 8, hw, 0.001, 0.002, 10, 3)
    assert 0 < float(a["exposed_s"]) < float(b["exposed_s"]) <= float(b["wire_s"]) + 1e-12 + 3 * float(b["wire_s"]) / 10
    assert float(fsdp_s(1e9, 32, 8, hw, 0.05, 0.1, 10, 1)["exposed_s"]) == 0


def test_stragglers_grow_with_replicas():
    waits = [float(straggler_s(10.0, d, 0.0136)) for d in (1, 8, 64, 1024, 16384)]
    assert waits[0] == 0 and waits == sorted(waits)


def test_pipeline_p2p_on_its_tier():
    inside = _step("llama3-70b", "dgx-h100-superpod", 8, 4096, 32, tp=1, pp=8, dp=1, micro_batch=1)
    across = _step("llama3-70b", "dgx-h100-superpod", 64, 4096, 32, tp=8, pp=8, dp=1, micro_batch=1)
    assert tier_index(2, 1, _hw("dgx-h100-superpod", 8)) == 0 and tier_index(2, 8, _hw("dgx-h100-superpod", 64)) == 1
    assert float(across.mechanisms["pp"]["wire_s"][0]) > 0 and float(inside.mechanisms["pp"]["wire_s"][0]) > 0


# ---- MoE parallel folding ----

def test_folding_layouts_of_the_public_runs_are_accepted_and_priced():
    q = search(load_model("qwen3-235b-a22b"), _hw("dgx-h100-superpod", 256), 4096, 2048,
               dict(tp=2, cp=1, pp=1, dp=128, ep=8, etp=1, micro_batch=4, zero=3, recompute=2, sp=1)).plans[0]
    assert (q["plan"]["ep"], q["plan"]["etp"], q["plan"]["dp"]) == (8, 1, 128)
    assert q["breakdown"]["ep_comm_s"] > 0 and q["mechanisms"]["ep"]["tier"] == "nvlink4-hgx8"  # EP8 folds into one node
    d = search(load_model("deepseek-v3"), _hw("gb200-nvl72", 256), 4096, 2048,
               dict(tp=1, pp=8, vpp=4, ep=32, etp=1, micro_batch=1, schedule=2), precision="mxfp8").plans[0]
    assert (d["plan"]["pp"], d["plan"]["vpp"], d["plan"]["ep"], d["plan"]["dp"]) == (8, 4, 32, 32)
    assert d["plan"]["precision"] == "mxfp8"


def test_folding_rule_and_search_explores_it():
    m = load_model("qwen3-235b-a22b")
    g = build_grid(m, 256, 4096, 2048, {"tp": 8, "pp": 1}, 0)
    p = g.plan
    valid = np.broadcast_to(g.valid, p.shape)
    tp, cp, dp, ep, etp = (np.broadcast_to(getattr(p, k), p.shape) for k in ("tp", "cp", "dp", "ep", "etp"))
    assert ((tp * cp * dp) % (ep * etp) == 0)[valid].all()
    # EP larger than DP x CP: legal only through folding over TP (TP8 DP32 -> EP64 does not divide DP x CP = 32)
    assert (valid & (ep == 64) & (dp * cp == 32)).any()
    with pytest.raises(SuperpodError):
        search(m, _hw("dgx-h100-superpod", 16), 4096, 64, dict(tp=2, pp=1, dp=8, cp=1, ep=32))


def test_etp_needs_moe():
    with pytest.raises(InvalidOptionError):
        train("llama3-8b", "dgx-h100-superpod@8", etp=2)


# ---- precision recipes ----

@pytest.mark.parametrize("system,precision", [("dgx-h100-superpod@8", "fp4"), ("dgx-h100-superpod@8", "mxfp8"),
                                              ("atlas800t-a2-cluster@8", "fp8")])
def test_precision_refused_where_the_chip_has_no_units(system, precision):
    with pytest.raises(UnsupportedPrecisionError):
        train("llama3-8b", system, precision=precision)


def test_lower_precision_recipes_are_faster_on_blackwell():
    steps = {p: train("llama3-70b", "gb200-nvl72@64", precision=p, tp=8, pp=1, recompute="full")["step_s"]
             for p in ("bf16", "fp8", "mxfp8", "fp4")}
    # same FP8 GEMMs; MXFP8's quantisation passes move fewer bytes than per-tensor FP8's amax + cast
    assert steps["fp4"] <= steps["mxfp8"] <= steps["fp8"] <= steps["bf16"]


def test_framework_refuses_what_it_does_not_implement():
    with pytest.raises(InvalidOptionError, match="megatron-2022"):
        train("gpt3-175b", "dgx-a100-superpod@64", framework="megatron-2022", zero=3)


# ---- --explain and --compare-plan ----

def test_explain_names_every_mechanism_and_compare_plan_says_why():
    r = train("llama3-70b", "dgx-h100-superpod@64", compare_plan="tp=8 pp=8 dp=1 recompute=full")
    mech = r["mechanisms"]
    assert {"tp", "cp", "ep", "pp", "bubble", "recompute", "dp", "fsdp", "stragglers"} <= set(mech)
    assert sum(v["exposed_s"] for v in mech.values()) == pytest.approx(r["step_s"])
    c = r["compare"]
    assert c["plan"]["tp"] == 8 and c["plan"]["pp"] == 8 and c["plan"]["recompute"] == "full"
    assert c["slowdown"] >= 1 - 1e-9 and c["why"]
    assert sum(p["delta_s"] for p in c["parts"]) == pytest.approx(c["step_s"] - r["step_s"])


def test_parse_plan():
    assert parse_plan("tp=8 pp=16, ep=8 etp=1 sp=on") == {"tp": 8, "pp": 16, "ep": 8, "etp": 1, "sp": True}
    for bad in ("tp", "tp=", "warp=9", "tp=0"):
        with pytest.raises(InvalidOptionError):
            parse_plan(bad)


def test_compare_plan_cli(cli):
    r = cli("train", "llama3-8b", "dgx-h100-superpod", "--chips", "16", "--compare-plan", "tp=8 pp=2", "--explain")
    assert r.exit_code == 0, r.stderr
    assert "Your plan vs the best" in r.stdout and "Mechanisms of the best plan" in r.stdout


# ---- the search never beats a published plan by > 15% without a named mechanism ----

#: published plans the search beats by more than 15%, and the mechanism --compare-plan names first.
#: The 2021-22 Megatron runs used full recompute (Narayanan et al.: every row; Korthikanti et al.'s
#: "full" rows are the baseline they improve on), which the search drops where memory allows;
#: the MoE and TorchTitan rows pay FSDP gathers, EP traffic and full recompute a layout without them avoids.
#: (The closing note of issue 11 lists them with the mechanism each names.)
EXCEPTIONS = {
    "N21-1.7b", "N21-3.6b", "N21-7.5b", "N21-18.4b", "N21-39.1b", "N21-76.1b", "N21-145.6b", "N21-310.1b",
    "N21-529.6b", "N21-1t", "K22-22B-full", "K22-175B-full", "K22-530B-full", "K22-1T-full",
    "MC-Qwen3-235B", "MC-DSV3-GB200", "TT-70B-2D",
    "TT-8B-FSDP",  # TorchTitan's op-level checkpointing (half the matmuls again) where memory allows none (1.16x)
}


@pytest.fixture(scope="module")
def training_group():
    return run_group("training")


def test_search_not_much_faster_than_published_unless_explained(training_group):
    found = {}
    for r in training_group["cases"]:
        d = r["details"]
        gain = d["step_s"] / d["searched_step_s"]
        if gain > 1.15:
            found[r["id"]] = d["why"][0] if d.get("why") else None
    assert set(found) == EXCEPTIONS, sorted(set(found) ^ EXCEPTIONS)
    assert all(found.values()), found  # each names the mechanism that costs the published plan most


# ---- MoE token dispatchers (training.md 7.2) and quantisation passes ----

@pytest.mark.parametrize("system,n,model", [("gb200-nvl72", 256, "deepseek-v3"), ("dgx-h100-superpod", 256, "qwen3-235b-a22b"),
                                            ("cloudmatrix384", 384, "deepseek-v3")])
def test_nccl_dispatcher_never_cheaper_than_deepep(system, n, model):
    hw, m = _hw(system, n), load_model(model)
    for ep in (2, 8, 16, 32, 64):
        for sched in ("1f1b", "dualpipe"):
            p = TrainPlan.one(tp=1, pp=8, dp=n // 8, ep=ep, micro_batch=1, zero=1, schedule=sched)
            d = step(m, hw, p, 4096, 2048, dispatcher="deepep").breakdown["ep_comm_s"]
            a = step(m, hw, p, 4096, 2048, dispatcher="alltoall").breakdown["ep_comm_s"]
            assert float(a[0]) > float(d[0]) > 0, (ep, sched)


def test_dispatcher_is_stated_checked_and_refused_on_dense_models():
    r = train("deepseek-v3", "gb200-nvl72@256", dispatcher="alltoall", tp=1, pp=8, vpp=4, ep=32, precision="mxfp8",
              micro_batch=1, schedule="interleaved", global_batch=2048)
    assert r["dispatcher"] == "alltoall"
    assert train("deepseek-v3", "gb200-nvl72@256", tp=1, pp=8, ep=32, global_batch=2048)["dispatcher"] == "deepep"
    with pytest.raises(InvalidOptionError, match="dispatcher"):
        train("deepseek-v3", "gb200-nvl72@256", dispatcher="hybrid")
    with pytest.raises(InvalidOptionError, match="dense"):
        train("llama3-70b", "dgx-h100-superpod@64", dispatcher="alltoall")


def test_quantisation_passes_only_under_low_precision_recipes():
    from superpod.training.quantise import quantise_s

    m, hw = load_model("llama3-70b"), _hw("gb200-nvl72", 64)
    q = {r: float(quantise_s(m, False, 8192.0, 8, hw, r)) for r in ("bf16", "fp8", "mxfp8", "fp4")}
    assert q["bf16"] == 0 < q["fp4"] < q["mxfp8"] < q["fp8"]
    r = train("llama3-70b", "gb200-nvl72@64", precision="mxfp8", tp=8, pp=1, recompute="full")
    assert r["breakdown"]["quantise_s"] > 0 and r["mechanisms"]["quantise"]["exposed_s"] > 0


def test_eager_stack_is_never_faster_than_the_fused_one():
    kw = dict(seq_len=8192, global_batch=16, tp=1, pp=1, dp=8, micro_batch=2, zero=3)
    for rc in ("none", "ops", "full"):
        fused = train("llama3-8b", "h100-hbm2e-cluster@8", framework="torchtitan", recompute=rc, **kw)
        eager = train("llama3-8b", "h100-hbm2e-cluster@8", framework="torchtitan-eager", recompute=rc, **kw)
        assert eager["step_s"] > fused["step_s"], rc
        # GEMMs are the same: only memory-bound elementwise work is added
        assert eager["breakdown"]["compute_s"] - fused["breakdown"]["compute_s"] < 0.5 * fused["breakdown"]["compute_s"]


def test_training_bf16_gemms_use_the_measured_kernel_fits_where_the_chip_has_them():
    from superpod.training.framework import framework
    from superpod.training.kernels import handle, layer_train_measured_s
    from superpod.cost.layers import layer_train_s

    m = load_model("llama3-70b")
    h100, a100 = _hw("dgx-h100-superpod", 8), _hw("dgx-a100-superpod", 8)
    fw = framework("megatron")
    assert handle(h100, fw.kernels) is not None and handle(a100, fw.kernels) is None
    k = handle(h100, fw.kernels)
    measured = layer_train_measured_s(m, False, 8192.0, 4096.0, 8.0, 1.0, h100, "bf16", "flash", 1, 1.0, k)
    roofline = layer_train_s(m, False, 8192.0, 4096.0, 8.0, 1.0, h100, "bf16", "flash", 1)
    assert float(measured["gemm_s"]) != pytest.approx(float(roofline["gemm_s"]))
    assert float(measured["attention_s"]) == pytest.approx(float(roofline["attention_s"]))  # attention keeps the roofline
    # FP8 GEMMs keep the roofline (the FP8 fits include the activation quantisation priced apart)
    f8 = layer_train_measured_s(m, False, 8192.0, 4096.0, 8.0, 1.0, h100, "fp8", "flash", 1, 1.0, k)
    assert float(f8["gemm_s"]) == pytest.approx(float(layer_train_s(m, False, 8192.0, 4096.0, 8.0, 1.0, h100, "fp8",
                                                                    "flash", 1)["gemm_s"]))


def test_older_attention_kernel_slows_attention_only_on_its_profile():
    from superpod.training.framework import framework

    m, hw = load_model("llama3-8b"), _hw("h100-hbm2e-cluster", 8)
    p = TrainPlan.one(tp=1, pp=1, dp=8, micro_batch=2, zero=3, recompute=2)
    base = step(m, hw, p, 8192, 16)
    fa2 = step(m, hw, p, 8192, 16, attention_utilisation=0.35)
    assert float(fa2.step_s[0]) > float(base.step_s[0])
    # only the attention core moves: the extra time is at most (0.647 / 0.35 - 1) x its forward, backward and recompute
    assert float(fa2.breakdown["compute_s"][0] - base.breakdown["compute_s"][0]) > 0
    tt = framework("torchtitan")
    assert set(tt.attention_utilisation) == {"hopper"}  # the source measures FlashAttention-2 on H100 only
    a100 = train("llama3-8b", "dgx-a100-superpod@8", framework="torchtitan", seq_len=8192, global_batch=16, tp=1, pp=1,
                 dp=8, micro_batch=2, zero=3, recompute="full")
    assert a100["step_s"] > 0
