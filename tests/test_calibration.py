"""The microbenchmarks the calibration was fitted to, reproduced through the cost functions."""

import numpy as np
import pytest

from superpod.planners.calibration import anchor_rows
from superpod.spec.calibration import comm_profiles, kernel_profiles

ROWS = anchor_rows()
DEEPGEMM = [r for r in ROWS if r["id"].startswith("deepgemm-")]
OTHERS = [r for r in ROWS if not r["id"].startswith("deepgemm-")]


@pytest.mark.parametrize("row", OTHERS, ids=[r["id"] for r in OTHERS])
def test_anchor_within_10_percent(row):
    assert abs(row["error"]) <= 0.10, row
    if row["low"] is not None:  # a published range: the prediction must fall inside it
        assert row["low"] <= row["predicted"] <= row["high"]


def test_deepgemm_table():
    """One roofline-with-quantisation model for all 28 DeepGEMM rows (H800 FP8): every row
    within 10%, and the table as a whole within 5% on average."""
    errors = np.array([abs(r["error"]) for r in DEEPGEMM])
    assert len(DEEPGEMM) == 28
    assert errors.max() <= 0.10, max(DEEPGEMM, key=lambda r: abs(r["error"]))
    assert errors.mean() <= 0.05, errors.mean()


def test_every_factor_is_sourced():
    for p in kernel_profiles():
        for group in (p.gemm, p.attention):
            for name, q in group:
                if name == "tile_n_choices":  # structural list; its source is tile_n_source
                    assert p.gemm.tile_n_source
                    continue
                if name == "tile_n_source":
                    continue
                assert q.source and q.confidence in "ABCU", (p.name, name)
    for c in comm_profiles():
        assert c.eta_busbw.source and c.a2a_ll_dispatch.source


def test_default_profiles_exist():
    from superpod.spec.calibration import comm_profile, kernel_profile

    assert kernel_profile("tpu-v5p").name == "default"
    assert kernel_profile("h800").name == "hopper"
    assert comm_profile("no-such-fabric").name == "default"
