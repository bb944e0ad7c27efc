"""The published serving cases stay within the issue's target (MAPE <= 10%, none beyond 20%)."""

import pytest

from superpod.planners.validate import cases, run_group


@pytest.fixture(scope="module")
def group():
    return run_group("serving")


def test_serving_within_target(group):
    assert group["mape"] <= 0.10, group["mape"]
    assert group["max_abs_error"] <= 0.20, group["max_abs_error"]
    assert group["within_target"]


def test_every_reference_case_is_present(group):
    ids = {r["id"] for r in group["cases"]}
    assert {"cm384-prefill-perfect-eplb", "cm384-prefill-default-eplb", "cm384-decode-tpot50",
            "deepseek-h800-profile-prefill", "deepseek-h800-profile-decode", "sglang-h100-prefill-1k",
            "sglang-h100-prefill-2k", "sglang-h100-prefill-4k", "sglang-h100-prefill-4k-perfect-eplb",
            "sglang-h100-decode", "sglang-h100-decode-simulated-mtp", "trtllm-h100-llama3.3-70b-tp2-fp8"} <= ids


def test_at_most_one_calibration_case_per_framework():
    seen = {}
    for c in cases("serving"):
        assert c["role"] in ("validation", "calibration")
        assert c["source"] and c["confidence"] in "ABCU"
        if c["role"] == "calibration":
            assert c["framework"] not in seen, f"two calibration cases for {c['framework']}"
            seen[c["framework"]] = c["id"]


def test_calibration_names_its_cases():
    from superpod.serving.framework import eplb, frameworks

    calib = {c["id"] for c in cases("serving") if c["role"] == "calibration"}
    assert eplb().fitted_on in calib
    for f in frameworks().values():
        if f.fitted_on and f.fitted_on.split(" ")[0].startswith(("cm384", "sglang", "deepseek")):
            assert f.fitted_on.split(" ")[0] in calib
