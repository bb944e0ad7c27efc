"""Two attention mechanisms priced in serving: DeepSeek sparse attention (GLM-5's lightning indexer and
MLA over the top-k keys) and a q/k RMSNorm over all heads under TP (MiniMax-M2's all-reduced sums).
Bounds against a twin of the same model without the mechanism; no /work/shared."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from superpod.cost.layers import gemms
from superpod.cost.memory_serve import kv_bytes_per_token_per_layer
from superpod.serving.context import make_ctx
from superpod.serving.decode import attention_per_layer, decode
from superpod.serving.forward import forward
from superpod.serving.kernel_attention import decode_attention, indexer_s, prefill_attention
from superpod.serving.plan import ServePlan
from superpod.serving.prefill import prefill
from superpod.spec.catalog import load_model

CONTEXTS = (256.0, 1024.0, 2048.0, 4096.0, 16384.0, 65536.0)


def _ctx(model, system="dgx-b200-cluster", fw="sglang"):
    return make_ctx(model, system, chips=8, quant="fp8", kv_dtype="bf16", framework_name=fw)


@pytest.fixture(scope="module")
def glm():
    m = load_model("glm-5")
    return _ctx(m), _ctx(m.model_copy(update={"sparse_attention": None}))


def test_dsa_decode_core_reads_top_k_and_the_indexer_adds_its_own_cost(glm):
    dsa, dense = glm
    d = dsa.model.sparse_attention
    plan = ServePlan.one(tp=8, ep=1, moe_tp=8, batch=0.5)
    B = 0.5
    for ctx in CONTEXTS:
        a = float(decode_attention(dsa, plan, B, 1.0, ctx)(1.0)[0])
        full = float(decode_attention(dense, plan, B, 1.0, ctx)(1.0)[0])
        idx = float(np.ravel(indexer_s(dsa, B * 8, ctx, B * 8, query_per_seq=1.0))[0])
        assert idx > 0
        assert a <= full + idx * (1 + 1e-9), ctx  # never worse than full MLA plus the indexer's own cost
        if ctx <= d.index_topk:
            assert a == pytest.approx(full + idx)  # nothing to skip: the indexer is pure overhead
    long = 1e6
    assert float(decode_attention(dsa, plan, B, 1.0, long)(1.0)[0]) < float(decode_attention(dense, plan, B, 1.0, long)(1.0)[0])


def test_dsa_indexer_cost_grows_with_context(glm):
    dsa, _ = glm
    t = [float(np.ravel(indexer_s(dsa, 32.0, c, 32.0, query_per_seq=1.0))[0]) for c in CONTEXTS]
    assert all(b >= a for a, b in zip(t, t[1:])) and t[-1] > t[0]
    p = [float(np.ravel(indexer_s(dsa, 8192.0, c, 1.0))[0]) for c in CONTEXTS]
    assert all(b >= a for a, b in zip(p, p[1:])) and p[-1] > p[0]


def test_dsa_roofline_flops_and_bytes(glm):
    dsa, dense = glm
    plan = ServePlan.one(tp=8, ep=1, moe_tp=8, batch=4.0)
    f_s, b_s = attention_per_layer(dsa, plan, 4.0, 1.0, 1024.0)
    f_d, b_d = attention_per_layer(dense, plan, 4.0, 1.0, 1024.0)
    assert f_s[0] > f_d[0] and b_s[0] > b_d[0]  # short context: the indexer's scoring on top
    f_s, b_s = attention_per_layer(dsa, plan, 4.0, 1.0, 131072.0)
    f_d, b_d = attention_per_layer(dense, plan, 4.0, 1.0, 131072.0)
    assert f_s[0] < f_d[0] and b_s[0] < b_d[0]  # long context: 2,048 latents instead of 131,072


def test_dsa_causal_keys():
    d = load_model("glm-5").sparse_attention
    K = d.index_topk
    assert float(d.causal_keys(0, 1000)) == pytest.approx(500.5)  # inside top-k: full causal attention
    assert float(d.causal_keys(10 * K, 100)) == pytest.approx(K)  # every query at top-k
    for p, n in ((0, 8192), (1000, 4096), (3000, 10)):
        assert float(d.causal_keys(p, n)) <= min(p + (n + 1) / 2, K) + 1e-9


def test_dsa_prefill_long_prompts_are_cheaper_and_short_ones_pay_the_indexer(glm):
    dsa, dense = glm
    # one rank: the core's heads are not split, so skipping keys beats scoring them (under TP the
    # replicated indexer scores every query on every rank while the core splits its heads)
    plan = ServePlan.one(tp=1, ep=1, moe_tp=1, batch=8192.0)
    long_s = float(prefill_attention(dsa, plan, 65536.0, 65536.0, 0.0)(1.0)[0])
    long_d = float(prefill_attention(dense, plan, 65536.0, 65536.0, 0.0)(1.0)[0])
    assert long_s < long_d
    short_s = float(prefill_attention(dsa, plan, 1024.0, 1024.0, 0.0)(1.0)[0])
    short_d = float(prefill_attention(dense, plan, 1024.0, 1024.0, 0.0)(1.0)[0])
    assert short_s > short_d  # the key path of the indexer, no scoring
    a, b = prefill(dsa, plan, 1024.0), prefill(dense, plan, 1024.0)
    assert a["ttft_s"][0] > b["ttft_s"][0]


def test_dsa_gemms_and_kv_cache():
    m = load_model("glm-5")
    names = {g.name: g for g in gemms(m, True)}
    assert (names["index_q"].k, names["index_q"].n, names["index_q"].shard) == (2048, 32 * 128, "none")
    assert (names["index_k"].k, names["index_k"].n) == (6144, 128)
    assert (names["index_weights"].k, names["index_weights"].n) == (6144, 32)
    assert float(kv_bytes_per_token_per_layer(m, 2)) == 576 * 2 + 132
    assert float(kv_bytes_per_token_per_layer(m, 1)) == 576 + 132
    v3 = load_model("deepseek-v3")
    assert not any(g.name.startswith("index") for g in gemms(v3, True))
    assert float(kv_bytes_per_token_per_layer(v3, 2)) == 1152


def test_dsa_roofline_path_prices_too(glm):
    dsa, dense = glm
    plan = ServePlan.one(tp=8, ep=1, moe_tp=8, batch=4.0)
    roof_s = decode(dataclasses.replace(dsa, kernels=None), plan, 1536.0)
    roof_d = decode(dataclasses.replace(dense, kernels=None), plan, 1536.0)
    assert roof_s["gemm_s"][0] > roof_d["gemm_s"][0]  # the indexer's projections
    assert roof_s["step_s"][0] > roof_d["step_s"][0]


@pytest.fixture(scope="module")
def minimax():
    m = load_model("minimax-m2.5")
    twin = m.model_copy(update={"qk_norm_per_layer": False})
    return _ctx(m, "h200-cluster", "vllm"), _ctx(twin, "h200-cluster", "vllm")


@pytest.mark.parametrize("roofline", [False, True])
def test_qk_norm_all_reduce_is_never_free_under_tp(minimax, roofline):
    norm, twin = minimax
    if roofline:
        norm, twin = dataclasses.replace(norm, kernels=None), dataclasses.replace(twin, kernels=None)
    extra = []
    for tp in (1, 2, 4, 8):
        plan = ServePlan.one(tp=tp, ep=1, moe_tp=tp, batch=4.0 / tp)
        f, b = attention_per_layer(norm, plan, 4.0 / tp, 1.0, 2048.0)
        a = forward(norm, plan, 4.0 / tp, f, b, "decode", attn_kernel=decode_attention(norm, plan, 4.0 / tp, 1.0, 2048.0))
        z = forward(twin, plan, 4.0 / tp, f, b, "decode", attn_kernel=decode_attention(twin, plan, 4.0 / tp, 1.0, 2048.0))
        extra.append(float(a["tp_comm_s"][0] - z["tp_comm_s"][0]))
        if tp == 1:
            assert a["total_s"][0] == z["total_s"][0]  # one rank holds every head: a plain norm
        else:
            assert extra[-1] > 0 and a["elementwise_s"][0] > z["elementwise_s"][0]
    assert all(x > 0 for x in extra[1:])


def test_dsa_sparse_prefill_pads_heads_to_the_kernel_tile(glm):
    """FlashMLA's sparse prefill kernel runs 64 (Hopper) or 128 (Blackwell) query heads a tile: under TP
    the padded tile, not the real local heads, sets the cost."""
    from superpod.serving.kernel_attention import sparse_head_tile, sparse_prefill_s
    dsa, _ = glm
    assert sparse_head_tile(dsa) == 128
    assert sparse_head_tile(_ctx(dsa.model, "h200-cluster")) == 64
    one = [float(sparse_prefill_s(dsa, ServePlan.one(tp=tp, ep=1, moe_tp=tp, batch=1.0), 8192.0, 2048.0, 1.0,
                                  8192.0)[0]) for tp in (1, 2, 8)]
    assert max(one) <= 1.02 * min(one)  # 64, 32 and 8 local heads all run one 128-head tile
