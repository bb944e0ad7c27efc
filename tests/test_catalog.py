"""The shipped catalog: every number sourced, every entry loads, totals add up."""

import math
import tomllib

import pytest

from superpod.spec import catalog
from superpod.spec.catalog import catalog_root, load_chip, load_fabric, load_system, names

# plain (unsourced) numbers allowed: structure, not measurements
STRUCTURAL = {"dies", "chips_per_node", "cpus_per_node", "links_per_chip", "switch_radix", "scaleup_tiers", "dims"}
REQUIRED_SYSTEMS = [
    "cloudmatrix384", "atlas950-superpod", "atlas960-superpod", "atlas950-supercluster", "atlas960-supercluster",
    "atlas800t-a2-cluster", "gb200-nvl72", "gb300-nvl72", "vr200-nvl144", "dgx-a100-superpod", "dgx-h100-superpod",
    "h800-cluster", "h200-cluster", "dgx-b200-cluster", "mi300x-cluster", "mi355x-cluster", "tpu-v5p-pod",
    "tpu-ironwood-pod", "ethernet-8gpu-cluster",
]
REQUIRED_CHIPS = [
    "ascend-910b", "ascend-910c", "ascend-950pr", "ascend-950dt", "ascend-960", "ascend-970", "a100", "h100", "h800",
    "h20", "h200", "b200", "gb200", "b300", "gb300", "rubin", "mi300x", "mi355x", "tpu-v5p", "tpu-v6e", "tpu-ironwood",
]


def _files(kind):
    return sorted((catalog.catalog_root() / kind).glob("*.toml"))


def _walk(node, path=""):
    """Yield (path, table) for every sourced-quantity table and (path, number) for bare numbers."""
    if isinstance(node, dict):
        if "value" in node:
            yield path, node
            return
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node


@pytest.mark.parametrize("kind", ["chips", "fabrics", "systems"])
def test_every_number_has_source_and_confidence(kind):
    for f in _files(kind):
        data = tomllib.loads(f.read_text())
        for path, item in _walk(data):
            if isinstance(item, dict):
                assert len(item.get("source", "")) >= 3, f"{f.name}: {path} has no source"
                assert item.get("confidence") in {"A", "B", "C", "U"}, f"{f.name}: {path} has no confidence"
            else:
                assert path.split("[")[0].split(".")[-1] in STRUCTURAL, f"{f.name}: bare number at {path}"


def test_required_names_present():
    assert set(REQUIRED_CHIPS) <= set(names("chips"))
    assert set(REQUIRED_SYSTEMS) <= set(names("systems"))


@pytest.mark.parametrize("name", REQUIRED_CHIPS)
def test_chip_loads(name):
    c = load_chip(name)
    assert c.hbm_bytes.si > 0 and c.hbm_Bps.si > 0
    assert c.precisions(), "a chip with no number formats"


def test_fabrics_load():
    for n in names("fabrics"):
        t = load_fabric(n)
        assert t.bw_per_chip_Bps.si > 0 and t.latency_s.si > 0


def test_absent_means_unsupported():
    from superpod.errors import UnsupportedPrecisionError

    c = load_chip("ascend-910c")
    assert c.fp8_flops is None and "fp8" not in c.precisions()
    with pytest.raises(UnsupportedPrecisionError, match="no fp8"):
        c.peak_flops("fp8")
    assert c.peak("fp8", fallback=True) == ("int8", c.int8_flops.si)


@pytest.mark.parametrize("name", REQUIRED_SYSTEMS)
def test_system_conservation(name):
    s = load_system(name)
    sized = s.at()
    t = sized.totals()
    per = sized.per_chip()
    # totals are the sum over chips
    for k, v in per.items():
        if not math.isnan(v):
            assert math.isclose(t[k], v * s.size, rel_tol=1e-12)
    # power breakdown sums to the total, and to the published total where there is one
    assert math.isclose(sum(sized.power_parts_w().values()), t["power_w"], rel_tol=1e-12)
    if s.power.total_w is not None:
        assert math.isclose(t["power_w"], s.power.total_w.si, rel_tol=0.01)
    # n copies of the parts = the system sized to n times the chips
    double = s.at(2 * s.size).totals() if s.kind == "cluster" or s.scaleout_tier else None
    if double is not None:
        for k in ("bf16_flops", "hbm_bytes", "power_w", "racks"):
            if not math.isnan(t[k]):
                assert math.isclose(double[k], 2 * t[k], rel_tol=1e-12)


def test_sizing_fills_nodes_first():
    s = load_system("h800-cluster")
    one = s.at(1)
    assert one.n_chips == 1 and one.nodes == 1
    assert s.at(9).nodes == 2
    assert s.at(100_000).totals()["chips"] == 100_000


def test_fixed_system_beyond_size_becomes_copies():
    s = load_system("gb200-nvl72")
    assert s.at(384).copies == 6
    assert s.at(72).copies == 1


def test_published_comparison_bases():
    """compare's figures agree with the published CM384 vs NVL72 table where bases match."""
    cm = load_system("cloudmatrix384").at().totals()
    nv = load_system("gb200-nvl72").at().totals()
    assert math.isclose(cm["bf16_flops"], 288.768e15)
    assert math.isclose(nv["bf16_flops"], 180e15)
    assert math.isclose(cm["hbm_bytes"] / 2**30 / 1e3, 49.152)  # 384 x 128 GiB: vendors' binary "49.2 TB"
    assert math.isclose(cm["hbm_Bps"] / 1e12, 1228.8)
    assert math.isclose(nv["hbm_Bps"] / 1e12, 576)
    assert math.isclose(nv["scaleup_Bps"] * 8 / 1e9, 518_400)
    assert math.isclose(cm["scaleup_Bps"] * 8 / 1e9, 1_204_224)
    assert math.isclose(cm["power_w"], 559e3) and math.isclose(nv["power_w"], 145e3)


def test_every_quantity_in_every_catalog_file_is_sourced():
    """Every ``{value = ...}`` table anywhere in the catalog (calibration, frameworks, scale, validation,
    silicon fits) carries a source and a confidence mark; claims.toml holds claim records instead."""
    root = catalog_root()
    missing = []

    def walk(node, path, f):
        if isinstance(node, dict):
            if "value" in node and not isinstance(node["value"], (dict, list)):
                if len(str(node.get("source", ""))) < 3 or node.get("confidence") not in {"A", "B", "C", "U"}:
                    missing.append(f"{f}: {path}")
            for k, v in node.items():
                walk(v, f"{path}.{k}", f)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]", f)

    files = [f for f in root.rglob("*.toml") if f.name != "claims.toml"]
    assert len(files) > 100
    for f in files:
        walk(tomllib.loads(f.read_text()), "", f.relative_to(root))
    assert not missing, missing[:10]
