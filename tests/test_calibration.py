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


def test_calibration_folders_say_what_a_file_is():
    """Every calibration file sits in the folder of its kind and loads as that kind."""
    from superpod.serving.framework import frameworks as serving_frameworks
    from superpod.spec.calibration import message_layout, training_algorithms
    from superpod.spec.files import catalog_root
    from superpod.training.framework import frameworks as training_frameworks

    root = catalog_root() / "calibration"
    kinds = {p.parent.name for p in root.rglob("*.toml")}
    assert kinds == {"kernels", "comm", "algorithms", "frameworks", "anchors", "silicon"}, kinds
    from superpod.spec.calibration import SILICON_FILES, silicon_params

    assert sorted(p.stem for p in (root / "silicon").glob("*.toml")) == sorted(SILICON_FILES)
    assert all(silicon_params(n) for n in SILICON_FILES)
    assert not list(root.glob("*.toml")), "a calibration file outside the kind folders"
    assert len(kernel_profiles()) == len(list((root / "kernels").glob("*.toml")))
    assert comm_profiles() and training_frameworks() and serving_frameworks()
    d = message_layout().dispatch
    assert 7168 + 7168 / d.scale_group.si * d.scale_bytes.si + d.header_bytes.si == 7408  # DeepEP's V3 message
    assert training_algorithms().attention["flash"].backward_factor.si == 2.5
