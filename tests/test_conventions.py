"""Issue 9's conventions (docs/conventions.md): ranks vs chips, IT vs facility power, peak bases,
the shared default batch policy."""

import doctest
import math

import pytest

from superpod.planners import conventions, ranks

from superpod.cost.hardware import Hardware
from superpod.errors import InvalidOptionError
from superpod.planners.conventions import default_global_batch
from superpod.planners.scale_estimate import ScaleOptions, scale
from superpod.planners.serve_estimate import serve
from superpod.planners.train_estimate import train
from superpod.planners.train_search import search
from superpod.spec.catalog import all_chips, load_chip, load_model, load_system


# ---- ranks vs chips ----------------------------------------------------------------------------
def test_ranks_per_chip_in_catalog():
    ranks = {c.name: c.ranks for c in all_chips()}
    assert ranks["ascend-910c"] == 2  # one process per die (arXiv 2506.12708)
    assert ranks["tpu-ironwood"] == 2  # two TPU devices per TPU7x chip
    assert ranks["b200"] == ranks["gb200"] == ranks["h100"] == ranks["ascend-910b"] == 1
    assert all(r >= 1 for r in ranks.values())
    q = load_chip("ascend-910c").ranks_per_chip
    assert q.source and q.confidence == "A"


@pytest.mark.parametrize("system", ["cloudmatrix384@64", "tpu-ironwood-pod@64"])
def test_train_plan_counts_ranks_physics_unchanged(system):
    r = train("llama3-8b", system)
    sized = load_system(system.split("@")[0]).at(64)
    chip_level = search(load_model("llama3-8b"), Hardware.of(sized), 4096, r["global_batch"]).plans[0]
    assert r["ranks_per_chip"] == 2 and r["chips"] == 64 and r["ranks"] == 128
    assert r["plan"]["tp"] == 2 * chip_level["plan"]["tp"] and r["plan"]["tp_chips"] == chip_level["plan"]["tp"]
    p = r["plan"]
    assert p["tp"] * p["pp"] * p["cp"] * p["dp"] == r["ranks"]
    for k in ("step_s", "tokens_per_s", "mfu", "hfu", "memory_per_chip_bytes"):
        assert r[k] == chip_level[k]
    for k in ("pp", "dp", "ep", "cp"):
        assert p[k] == chip_level["plan"][k]


def test_user_tp_in_ranks_on_910c():
    pinned = train("llama3-8b", "cloudmatrix384@64", tp=4)  # two packages
    chip_level = search(load_model("llama3-8b"), Hardware.of(load_system("cloudmatrix384").at(64)), 4096,
                        pinned["global_batch"], {"tp": 2}).plans[0]
    assert pinned["plan"]["tp"] == 4 and pinned["step_s"] == chip_level["step_s"]


def test_odd_tp_on_910c_refused_with_what_to_type(cli):
    with pytest.raises(InvalidOptionError) as e:
        train("llama3-8b", "cloudmatrix384@64", tp=1)
    assert str(e.value) == ("on ascend-910c a package holds 2 ranks and --tp counts ranks: --tp 1 is half a package; "
                            "give --tp 2 (one package, the old --tp 1) or a multiple of 2")
    res = cli("train", "llama3-8b", "cloudmatrix384@64", "--tp", "3")
    assert res.exit_code == 2 and "give --tp 4" in res.output
    with pytest.raises(InvalidOptionError, match="--tp 1 is half a package"):
        scale("llama3-8b", "cloudmatrix384", opts=ScaleOptions(fixed={"tp": 1}))


def test_gpu_tp_unchanged():
    r = train("llama3-8b", "dgx-h100-superpod@64", tp=1)
    assert r["plan"]["tp"] == r["plan"]["tp_chips"] == 1 and r["ranks"] == r["chips"] == 64


def test_scale_states_chips_and_ranks():
    r = scale("llama3-8b", "cloudmatrix384", opts=ScaleOptions(fast=True))
    assert r["ranks"] == 2 * r["chips"] and r["job_ranks"] == 2 * r["job_chips"]
    assert r["plan"]["tp"] == 2 * r["plan"]["tp_chips"]
    assert r["placement"]["groups"]["tp"]["size"] == r["plan"]["tp"]


def test_serve_states_chips_and_ranks():
    r = serve("deepseek-r1", "cloudmatrix384", tpot_slo_s=0.05)
    assert (r["chips"], r["ranks"], r["system_ranks"]) == (384, 768, 768)
    assert r["decode"]["ranks"] == 2 * r["decode"]["chips"] == r["plan"]["ep"]  # EP320 on 160 packages


# ---- IT vs facility power ----------------------------------------------------------------------
ALIASES_TRAIN = {"power_w": "power_it_w", "tokens_per_s_per_kw": "tokens_per_s_per_kw_it"}
ALIASES_SCALE = {"power_w": "power_facility_w", "it_power_w": "power_it_w",
                 "energy_j_per_token": "energy_facility_j_per_token", "energy_run_j": "energy_facility_run_j",
                 "power_breakdown_w": "power_facility_breakdown_w", "power_by_category_w": "power_facility_by_category_w"}
ALIASES_SERVE = {"tokens_per_s_per_kw": "tokens_per_s_per_kw_it", "energy_j_per_token": "energy_it_j_per_token"}


def _consistent(rec, tokens_per_s):
    pue = rec["pue"]
    assert rec["power_facility_w"] == pytest.approx(rec["power_it_w"] * pue, rel=1e-12)
    for basis in ("it", "facility"):
        p = rec[f"power_{basis}_w"]
        assert rec[f"energy_{basis}_j_per_token"] == pytest.approx(p / tokens_per_s, rel=1e-12)
        assert rec[f"tokens_per_s_per_kw_{basis}"] == pytest.approx(1e3 / rec[f"energy_{basis}_j_per_token"], rel=1e-12)


def test_train_power_keys():
    r = train("llama3-8b", "dgx-h100-superpod@64")
    for old, new in ALIASES_TRAIN.items():
        assert r[old] == r[new]
    assert r["power_draw"] == "nameplate" and r["pue"] > 1
    _consistent(r, r["tokens_per_s"])


def test_scale_power_keys():
    r = scale("llama3-8b", "dgx-h100-superpod", opts=ScaleOptions(fast=True))
    for old, new in ALIASES_SCALE.items():
        assert r[old] == r[new]
    assert r["power_draw"] == "at utilisation"
    assert math.isclose(sum(r["power_facility_breakdown_w"].values()), r["power_facility_w"], rel_tol=1e-9)
    _consistent(r, r["useful_tokens_per_s"])
    s = scale("llama3-8b", "dgx-h100-superpod", opts=ScaleOptions(fast=True), serve_tokens_per_s_per_chip=1000.0)["serving"]
    assert s["power_w"] == s["power_facility_w"] and s["energy_j_per_output_token"] == s["energy_facility_j_per_output_token"]
    assert s["energy_it_j_per_output_token"] * s["pue"] == pytest.approx(s["energy_facility_j_per_output_token"])


def test_serve_power_keys():
    r = serve("llama3-70b", "h200-cluster", chips=8, phase="both")
    assert r["system_power_w"] == r["system_power_it_w"]
    assert r["system_power_facility_w"] == pytest.approx(r["system_power_it_w"] * r["pue"])
    ph = r["both"]
    for old, new in ALIASES_SERVE.items():
        assert ph[old] == ph[new]
    assert ph["energy_facility_j_per_token"] == pytest.approx(ph["energy_it_j_per_token"] * r["pue"])


def test_system_totals_name_it_power():
    t = load_system("gb200-nvl72").at().totals()
    assert t["power_it_w"] == t["power_w"] and t["ranks"] == t["chips"]


# ---- peak bases --------------------------------------------------------------------------------
def test_peak_bases_named():
    t = train("llama3-8b", "dgx-h100-superpod@64", precision="fp8")
    assert t["mfu_basis"] == "bf16 dense" and t["peak_bf16_flops_per_chip"] == load_chip("h100").bf16_flops.si
    s = scale("llama3-8b", "dgx-h100-superpod", opts=ScaleOptions(fast=True, precision="fp8"))
    assert s["mfu_basis"] == "bf16 dense" and s["paper_flops_basis"] == "fp8 dense"
    v = serve("deepseek-r1", "cloudmatrix384", tpot_slo_s=0.05)
    assert v["peak_basis"] == "int8 dense"
    assert v["decode"]["tokens_per_s_per_tflops"] == pytest.approx(v["decode"]["tokens_per_s_per_chip"] / (v["peak_flops_per_chip"] / 1e12))


# ---- one default batch policy ------------------------------------------------------------------
@pytest.mark.parametrize("chips, sequences", [(8, 1024), (384, 1024), (4096, 1024), (8192, 2048), (16_384, 4096),
                                              (61_440, 15_360), (524_288, 15_360), (None, 15_360)])
def test_batch_policy(chips, sequences):
    assert default_global_batch(chips)[0] == sequences
    assert default_global_batch(chips, 8192)[0] == sequences // 2  # kept in tokens


def test_batch_policy_used_by_train_and_scale():
    t = train("llama3-8b", "dgx-h100-superpod@384")
    assert t["global_batch"] == 1024 and t["global_batch_policy"]["source"] == "default"
    assert train("llama3-8b", "dgx-h100-superpod@64", global_batch=512)["global_batch_policy"]["source"] == "user"
    s = scale("llama3-8b", "dgx-h100-superpod", opts=ScaleOptions(fast=True))
    assert s["global_batch"] == default_global_batch(s["chips"])[0] and "clamp" in s["global_batch_policy"]["rule"]


def test_train_default_batch_at_odd_seq_len():
    # the old fixed 4,194,304-token default refused sequence lengths that do not divide it
    r = train("llama3-8b", "dgx-h100-superpod@64", seq_len=3000)
    assert r["global_batch"] == 4 * 1024 * 1024 // 3000


def test_unknown_values_refused():
    with pytest.raises(InvalidOptionError):
        train("llama3-8b", "dgx-h100-superpod@64", precision="fp6")


@pytest.mark.parametrize("module", [conventions, ranks])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0
