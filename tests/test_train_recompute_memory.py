"""Fine-grained recompute (--recompute-modules) saves what its modules' outputs held (cost/memory_train.py)."""

import itertools

import numpy as np
import pytest

from superpod.cost.hardware import Hardware
from superpod.cost.memory_train import activation_bytes_per_layer
from superpod.planners.train_search import search
from superpod.spec.catalog import load_model, load_system
from superpod.training.recompute import MODULES


@pytest.mark.parametrize("name", ["deepseek-v3", "qwen3-235b-a22b", "llama3-8b"])
def test_recomputing_more_never_needs_more_activation_memory(name):
    m = load_model(name)
    usable = [x for x in MODULES if not (x == "mla_up_proj" and m.mla is None)
              and not (x in ("moe", "moe_act", "shared_experts") and m.moe is None)]
    for moe_layer in ((False, True) if m.moe is not None else (False,)):
        def act(mods):
            return float(activation_bytes_per_layer(m, 4096, 1, 2, 1, 1, 1, moe_layer=moe_layer, modules=mods))
        base = float(activation_bytes_per_layer(m, 4096, 1, 2, 1, 1, 1, moe_layer=moe_layer))
        assert act(("core_attn",)) == pytest.approx(base)  # FlashAttention keeps no score matrix to drop
        for r in range(1, 3):
            for mods in itertools.combinations(usable, r):
                a = act(mods)
                assert 0 < a <= base + 1e-6, mods
                for extra in usable:
                    assert act(mods + (extra,)) <= a + 1e-6, (mods, extra)
        full = float(activation_bytes_per_layer(m, 4096, 1, 2, 1, 1, 2, moe_layer=moe_layer))
        assert act(tuple(usable)) >= full  # never below full recompute (the layer input only)


def test_the_article_recompute_sets_save_memory_on_the_dsv3_plan():
    m, hw = load_model("deepseek-v3"), Hardware.of(load_system("gb200-nvl72").at(256))
    plan = {"tp": 1, "pp": 8, "vpp": 4, "ep": 32, "etp": 1, "micro_batch": 1, "schedule": "interleaved", "zero": 1}
    mem = {}
    for mods in (["core_attn"], ["mlp", "mla_up_proj"], ["mlp", "moe_act"]):
        r = search(m, hw, 4096, 2048, dict(plan), precision="mxfp8", dispatcher="alltoall", recompute_modules=mods)
        mem[tuple(mods)] = r.plans[0]["memory_per_chip_bytes"]
    assert mem[("mlp", "mla_up_proj")] < mem[("core_attn",)]
    assert mem[("mlp", "moe_act")] < mem[("core_attn",)]
    assert np.isfinite(list(mem.values())).all()
