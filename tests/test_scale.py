"""Scale layer: reliability formulas, the Llama 3 calibration, spares, power, energy, cost, layout."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from superpod.scaling import params
from superpod.scaling.economics import YEAR_S, usd_per_s
from superpod.scaling.energy import power_w, split_part
from superpod.scaling.layout import job_chips, nice_job_chips, placement
from superpod.scaling.recovery import RecoveryOptions, recovery
from superpod.scaling.reliability import (daly_interval_s, failure_rates_per_s, goodput, job_mtbf_s, optics_per_chip,
                                        poisson_tail, young_interval_s)
from superpod.spec.catalog import load_model, load_system

MIN = 60.0
H = 3600.0


# ---------------------------------------------------------------- Young / Daly (formulas.md 9.2)
def test_young_closed_form():
    assert young_interval_s(300.0, 86400.0) == pytest.approx(math.sqrt(2 * 300 * 86400))


@pytest.mark.parametrize("mtbf_s, expected_min", [(24 * H, 117), (6 * H, 57), (15 * MIN, 9.1)])
def test_daly_examples(mtbf_s, expected_min):
    """Daly (FGCS 2006): delta = 5 min gives 117, 57 and 9.1 min for M = 24 h, 6 h, 15 min."""
    assert float(daly_interval_s(5 * MIN, mtbf_s)) / MIN == pytest.approx(expected_min, abs=0.5 if expected_min > 10 else 0.05)


def test_daly_closed_form_and_cap():
    d, m = 120.0, 7200.0
    x = d / (2 * m)
    tau = math.sqrt(2 * d * m) * (1 + math.sqrt(x) / 3 + x / 9) - d
    assert float(daly_interval_s(d, m)) == pytest.approx(tau)
    assert float(daly_interval_s(3 * m, m)) == m  # delta >= 2M: checkpoint every M


# ---------------------------------------------------------------- goodput properties
pos = st.floats(min_value=1e-3, max_value=1e7, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(delta=pos, restart=st.floats(min_value=0, max_value=1e5), mtbf=pos)
def test_goodput_in_unit_interval(delta, restart, mtbf):
    g = float(goodput(daly_interval_s(delta, mtbf), delta, restart, mtbf))
    assert 0.0 <= g <= 1.0
    if restart < 10 * mtbf and delta < mtbf:
        assert g > 0.0


@settings(max_examples=100, deadline=None)
@given(delta=st.floats(min_value=0.1, max_value=1e3), restart=st.floats(min_value=0, max_value=3e3),
       per_chip_mtbf=st.floats(min_value=1e6, max_value=1e10))
def test_goodput_falls_with_chips_at_fixed_per_chip_rate(delta, restart, per_chip_mtbf):
    chips = np.geomspace(64, 1e6, 40)
    m = per_chip_mtbf / chips  # MTBF_job = MTBF_chip / N
    g = goodput(daly_interval_s(delta, m), delta, restart, m)
    assert np.all((g > 0) | (m <= max(restart, delta) / 50)) and np.all(g <= 1)  # else underflow
    assert np.all(np.diff(g) <= 1e-12)


def test_goodput_falls_with_chips_on_a_catalog_system():
    """The whole recovery model (storage scaled with the job, spares off) on the Atlas 950 SuperCluster."""
    rel = params.reliability()
    s = load_system("atlas950-supercluster")
    n = np.array([512, 4096, 32768, 262144, 524288], dtype=float)
    r = recovery(671e9, s, n, n, rel, RecoveryOptions(spares=False))
    assert np.all(np.diff(r["goodput"]) < 0) and np.all(np.diff(r["job_mtbf_s"]) < 0)
    assert np.all((r["goodput"] > 0) & (r["goodput"] <= 1))


# ---------------------------------------------------------------- the Llama 3 calibration case
def test_llama3_interruptions_reproduced():
    """CALIBRATION case, not validation: the component rates are the Table 5 counts divided by the
    record's units, so 419 unexpected interruptions in 54 days on 16,384 GPUs come back by construction."""
    rel = params.reliability()
    s = load_system("h100-roce-cluster")
    rates = failure_rates_per_s(rel, s, 16384)
    assert sum(float(v) for v in rates.values()) * 54 * 86400 == pytest.approx(419)
    assert float(job_mtbf_s(rates)) / H == pytest.approx(54 * 24 / 419)  # 3.1 h
    gpu = (float(rates["accelerator"]) + float(rates["hbm"])) * 54 * 86400
    assert gpu == pytest.approx(268)  # GPU-category counts (64%), not the printed 58.7%


def test_llama3_goodput_consistent_with_paper():
    """Consistency check of the U restart defaults: Llama 3 reports > 90% effective training time."""
    rel = params.reliability()
    r = recovery(load_model("llama3-405b").params, load_system("h100-roce-cluster"), 16384, 16384, rel)
    assert 0.88 <= float(r["goodput"]) <= 0.95


def test_optics_counted_and_visible():
    rel = params.reliability()
    cm = load_system("cloudmatrix384")
    per, basis = optics_per_chip(cm, 384, rel.optics)
    assert float(per) * 384 == pytest.approx(6912) and "6,912" in basis
    rates = failure_rates_per_s(rel, cm, 384)
    share = float(rates["network"]) / sum(float(v) for v in rates.values())
    assert 0.3 < share < 0.5  # 18 modules per NPU: optics are a large share of CM384's interruptions
    # NVL72 has copper NVLink: only the scale-out link's modules, and only once the job leaves the rack
    nv = load_system("gb200-nvl72")
    assert float(optics_per_chip(nv, 72, rel.optics)[0]) == 0.0
    assert float(optics_per_chip(nv, 144, rel.optics)[0]) == pytest.approx(2.0)


# ---------------------------------------------------------------- spares (formulas.md 9.4)
def test_poisson_tail():
    nu = 0.3
    for k in range(5):
        exact = 1 - sum(math.exp(-nu) * nu**j / math.factorial(j) for j in range(k))
        assert float(poisson_tail(nu, k)) == pytest.approx(exact)
    assert float(poisson_tail(2.0, 1000)) < 1e-100  # Chernoff branch


def test_spares_shorten_restart():
    rel = params.reliability()
    s = load_system("atlas950-superpod")
    with_spares = recovery(671e9, s, 8192, 8192, rel)
    without = recovery(671e9, s, 8192, 8192, rel, RecoveryOptions(spares=False))
    assert float(with_spares["spare_chips"]) == 128  # 64 + 1 per cabinet
    assert float(with_spares["restart_s"]) < float(without["restart_s"])
    assert float(with_spares["goodput"]) > float(without["goodput"])


def test_in_memory_checkpoint_is_cheaper():
    rel = params.reliability()
    s = load_system("gb300-nvl72")
    disk = recovery(671e9, s, 65536, 65536, rel)
    mem = recovery(671e9, s, 65536, 65536, rel, RecoveryOptions(in_memory_checkpoint=True))
    assert float(mem["checkpoint_s"]) < float(disk["checkpoint_s"]) and float(mem["goodput"]) > float(disk["goodput"])


# ---------------------------------------------------------------- power, energy, cost
@pytest.mark.parametrize("system", ["cloudmatrix384", "gb200-nvl72", "atlas950-supercluster", "h100-roce-cluster"])
def test_power_breakdown_sums_to_total(system):
    s = load_system(system)
    n = np.array([s.size // 2, s.size, 3 * s.size], dtype=float)
    p = power_w(s, n, n * 0.9, 0.7, 0.15, 1.3, spare_chips=n / 64)
    assert np.allclose(sum(p["parts_w"].values()), p["total_w"])
    assert np.allclose(sum(p["category_w"].values()), p["total_w"])
    full = power_w(s, s.size, s.size, 1.0, 0.15, 1.0)
    assert float(full["total_w"]) == pytest.approx(s.at().totals()["power_w"])  # u = 1, PUE 1: the catalog's nameplate
    idle = power_w(s, s.size, s.size, 0.0, 0.15, 1.0)
    assert float(idle["total_w"]) < float(full["total_w"])


def test_part_categories():
    assert split_part("gpus") == "accelerators" and split_part("ub_switches_optics") == "network"
    assert split_part("npus_switches_other") == "accelerators+other" and split_part("my_cpu_sleds") == "hosts"


def test_cost_rate():
    per_s = usd_per_s(4e6, 4.0, 500e3, 0.1, 0.03)
    assert per_s == pytest.approx(4e6 / (4 * YEAR_S) + 500 * 0.1 / 3600 + 4e6 * 0.03 / YEAR_S)


def test_electricity_presets():
    c = params.costs()
    assert c.price_usd_per_kwh("china")[0] < c.price_usd_per_kwh("us")[0]
    assert c.price_usd_per_kwh(0.07)[0] == 0.07 and c.price_usd_per_kwh("0.07")[0] == 0.07


# ---------------------------------------------------------------- layout
def test_job_chips_factorise():
    m = load_model("deepseek-v3")
    j = int(job_chips(m, 1_000_000, 4096, 15360))
    assert 990_000 <= j <= 1_000_000
    nice = int(nice_job_chips(m, 1_000_000, 4096, 15360))
    assert nice == 983_040  # 15 x 2^16
    assert int(job_chips(m, 524288, 4096, 15360)) == 524288


def test_placement_keeps_tp_ep_inside_the_pod():
    s = load_system("atlas950-supercluster")
    plan = {"tp": 8, "cp": 8, "ep": 256, "dp": 1024, "pp": 8}
    p = placement(plan, s)
    assert p["pod_chips"] == 8192
    assert not p["groups"]["tp"]["crosses_pod"] and not p["groups"]["ep"]["crosses_pod"]
    assert p["groups"]["dp"]["crosses_pod"] and p["groups"]["pp"]["tier"] == "roce-uboe-atlas"


# ---------------------------------------------------------------- catalog data
def test_scale_tomls_sourced():
    import tomllib

    from superpod.spec.catalog import catalog_root

    def walk(node, path=""):
        if isinstance(node, dict):
            if "value" in node:
                yield path, node
                return
            for k, v in node.items():
                yield from walk(v, f"{path}.{k}")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            yield path, node

    for f in sorted((catalog_root() / "scale").glob("*.toml")):
        for path, item in walk(tomllib.loads(f.read_text())):
            assert isinstance(item, dict), f"{f.name}: bare number at {path}"
            assert len(item.get("source", "")) >= 3 and item.get("confidence") in {"A", "B", "C", "U"}, f"{f.name}: {path}"
    # and they validate
    params.reliability(), params.energy(), params.costs(), params.training()


def test_resilience_schema_optional_and_paired():
    from pydantic import ValidationError

    from superpod.spec.system import Resilience

    assert load_system("gb200-nvl72").resilience is None  # backward compatible
    assert load_system("atlas950-supercluster").resilience.spare_group_chips.si == 64
    q = {"value": 1, "source": "test", "confidence": "U"}
    with pytest.raises(ValidationError):
        Resilience(spare_chips=q)
