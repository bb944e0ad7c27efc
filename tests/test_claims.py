import pytest

from superpod.planners.claims import claims, load_claims, round_sig, strict_failures


@pytest.fixture(scope="module")
def rows():
    return {r["id"]: r for r in claims()}


def test_every_claim_reproduced_or_explained(rows):
    bad = {k: (r["computed"], r["claimed"]) for k, r in rows.items() if r["verdict"] == "disputed"}
    assert not bad
    assert not strict_failures(list(rows.values()))


@pytest.mark.parametrize(
    "cid,verdict",
    [
        ("cm384-bf16", "explained"),
        ("nvl72-bf16", "reproduced"),
        ("cm384-hbm", "reproduced"),
        ("nvl72-hbm", "explained"),
        ("cm384-hbm-bw", "reproduced"),
        ("nvl72-hbm-bw", "reproduced"),
        ("cm384-scaleup", "explained"),
        ("nvl72-scaleup", "reproduced"),
        ("cm384-power", "reproduced"),
        ("nvl72-power", "reproduced"),
        ("cm384-vs-nvl72-power", "reproduced"),
        ("cm384-chips", "reproduced"),
        ("910c-vs-blackwell", "explained"),
        ("atlas950-memory", "reproduced"),  # 144 GiB per NPU (vendor HBM GB are binary): 1,152 TiB
        ("atlas950-cluster-fp8", "explained"),
        ("atlas950-cluster-fp4", "reproduced"),
        ("atlas960-npus", "reproduced"),
    ],
)
def test_verdicts(rows, cid, verdict):
    assert rows[cid]["verdict"] == verdict


def test_explained_values(rows):
    # 300 PF is 384 x 780 TF; Huawei's paper gives 752 TF -> 288.8 PF
    assert rows["cm384-bf16"]["computed"] == pytest.approx(288.768)
    assert rows["cm384-bf16"]["alternate"]["computed"] == pytest.approx(299.52)
    # 1,075,200 Gb/s is 7 x 400G per chip; 392 GB/s gives 1,204,224
    assert rows["cm384-scaleup"]["computed"] == pytest.approx(1_204_224)
    assert rows["cm384-scaleup"]["alternate"]["computed"] == pytest.approx(1_075_200)
    # Atlas 950's 1,152 TB is 8,192 x 144 GiB in TiB
    assert rows["atlas950-memory"]["computed"] == pytest.approx(1152)
    assert rows["cm384-vs-nvl72-power"]["computed"] == pytest.approx(559 / 145)


def test_claim_ids_unique():
    ids = [c.id for c in load_claims()]
    assert len(ids) == len(set(ids))


def test_round_sig():
    assert round_sig(8.47, 1) == 8
    assert round_sig(1.664, 2) == 1.7
    assert round_sig(21.33, 1) == 20
