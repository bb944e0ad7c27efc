"""Single-pool whole-system figures count whole instances on the system's nodes and domains (issue 12)."""

import itertools

import numpy as np
import pytest

from superpod.errors import SuperpodError
from superpod.planners.serve_capacity import whole_instances
from superpod.planners.serve_estimate import serve
from superpod.spec.catalog import load_system

MAIN = dict(tpot_slo_s=0.05, mtp=1, mtp_accept=0.7)  # the README's main job


def test_whole_instances_never_exceed_the_chips():
    for chips, n, cpn, dom in itertools.product((1, 2, 3, 4, 5, 8, 12, 16, 24, 48, 64, 72, 80, 96, 160, 384),
                                                (1, 8, 12, 72, 144, 384, 400, 1000),
                                                (1, 4, 8), (8, 72, 384)):
        k = float(whole_instances(chips, n, cpn, dom))
        assert k >= 0 and k == int(k)
        assert k * chips <= n, (chips, n, cpn, dom, k)
        if chips <= min(cpn, n) and cpn % chips == 0 and n % cpn == 0 and dom % cpn == 0:
            assert k * chips == n  # instances that divide a node tile whole nodes


def test_whole_instances_on_the_racks():
    # GB200 NVL72 (4-GPU trays, one 72-GPU domain): one EP48 instance, three EP24, eighteen EP4
    assert whole_instances(np.array([48, 24, 4, 72]), 72, 4, 72).tolist() == [1, 3, 18, 1]
    # CloudMatrix 384 (8-NPU boards): 80-NPU instances leave 64 NPUs, 64-NPU instances tile it
    assert whole_instances(np.array([80, 64, 160]), 384, 8, 384).tolist() == [4, 6, 2]
    # 384 GB200s are five whole racks and a third of one: a 48-GPU instance stays inside a rack
    assert whole_instances(np.array([48, 16, 144]), 384, 4, 72).tolist() == [5, 21, 2]


@pytest.mark.parametrize("system,phase", [("gb200-nvl72", "decode"), ("cloudmatrix384", "decode"),
                                          ("gb200-nvl72", "prefill"), ("h200-cluster@12", "decode")])
def test_system_throughput_is_instances_times_instance(system, phase):
    r = serve("deepseek-r1" if "h200" not in system else "llama3-70b", system, phase=phase)
    x = r[phase]
    inst = int(np.ceil(x["chips"] - 1e-9))
    assert x["chips_used"] == x["instances"] * inst <= r["system_chips"]
    assert x["chips_left"] == r["system_chips"] - x["chips_used"]
    assert x["tokens_per_s_per_system"] == pytest.approx(x["instances"] * inst * x["tokens_per_s_per_chip"], rel=1e-12)
    assert x["tokens_per_s_per_kw"] == pytest.approx(x["tokens_per_s_per_chip"] / (r["system_power_w"] / r["system_chips"] / 1e3))


def test_gb200_decode_tiles_the_rack_with_ep24():
    """The README's example: EP48 has the best per-chip rate but only one instance fits; three EP24 fill the rack."""
    r = serve("deepseek-r1", "gb200-nvl72", **MAIN)
    d = r["decode"]
    assert (r["plan"]["ep"], d["instances"], d["chips_used"], d["chips_left"]) == (24, 3, 72, 0)
    ep48 = serve("deepseek-r1", "gb200-nvl72", moe_ep=48, **MAIN)["decode"]
    assert (ep48["instances"], ep48["chips_used"], ep48["chips_left"]) == (1, 48, 24)
    assert ep48["tokens_per_s_per_chip"] > d["tokens_per_s_per_chip"]  # per chip EP48 wins ...
    assert d["tokens_per_s_per_system"] > ep48["tokens_per_s_per_system"]  # ... per system EP24 does
    assert d["tokens_per_s_per_system"] == pytest.approx(750_000, rel=0.01)  # 698,000 before the MLA decode surfaces (s5-attn); 741,000 before HBM in binary units


def test_search_maximises_whole_system_throughput():
    best = serve("deepseek-r1", "gb200-nvl72", **MAIN)["decode"]["tokens_per_s_per_system"]
    for ep in (8, 16, 32, 48, 64, 72):
        try:
            forced = serve("deepseek-r1", "gb200-nvl72", moe_ep=ep, **MAIN)["decode"]["tokens_per_s_per_system"]
        except SuperpodError:
            continue
        assert forced <= best * (1 + 1e-9), ep


def test_pd_power_rows_are_the_deployments():
    r = serve("deepseek-r1", "cloudmatrix384", phase="pd")
    pd, dep = r["pd"], r["deployment"]
    per_chip_w = r["system_power_it_w"] / r["system_chips"]
    assert pd["tokens_per_s_per_system"] == r["capacity_output_tokens_per_s"]
    assert (pd["chips_used"], pd["chips_left"]) == (dep["chips_used"], dep["chips_left"])
    watts = dep["chips_used"] * per_chip_w
    assert pd["tokens_per_s_per_kw"] == pytest.approx(r["capacity_output_tokens_per_s"] / (watts / 1e3), rel=1e-12)
    assert pd["energy_j_per_token"] == pytest.approx(watts / r["capacity_output_tokens_per_s"], rel=1e-12)


def test_pd_table_has_no_single_pool_rows_beside_the_deployment():
    from superpod.faces.cli.serve import _human_record

    rows = dict(_human_record(serve("deepseek-r1", "cloudmatrix384", phase="pd")))
    assert not any("instance chips" in k for k in rows)
    assert "decode output tok/s, whole system" not in rows and "PD output tok/s, whole system" in rows
    assert "(best plan alone)" in next(k for k in rows if k.startswith("decode output tok/s per chip"))
    one = dict(_human_record(serve("deepseek-r1", "gb200-nvl72", **MAIN)))
    assert one["decode output tok/s, whole system"].endswith("(3 x 24 chips of 72)")


def test_chips_per_node_and_domain_come_from_the_catalog():
    s = load_system("gb200-nvl72")
    assert (s.chips_per_node, s.scaleup_domain) == (4, 72)
