"""Measured runs that used MTP their row does not state (catalog/validation/silicon/speculative.toml):
matched on backend, model, image and measured date; depth 1 under attention DP, else 3; acceptance
superpod's default, never fitted."""

import pytest

from superpod.planners.silicon_rows import Row, row_settings, speculative
from superpod.serving.framework import mtp


def _raw(model="deepseek-ai/DeepSeek-R1", image="nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.post3",
         measured="2026-02-06T17:21:58Z", tp="8", dp="", moe_tp="1", moe_ep="8", batch="32"):
    src = f"source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=32; measured={measured}; image={image}"
    return {"id": "x", "silicon_data_source": src, "backend": "trtllm", "backend_version": "", "model_path": model,
            "system": "b200_sxm", "precision": "fp4", "mode": "agg", "isl": "1024", "osl": "1024",
            "gemm_quant_mode": "nvfp4", "moe_quant_mode": "nvfp4", "batch_size": batch, "tp_size": tp,
            "pp_size": "1", "attention_dp_size": dp, "moe_tp_size": moe_tp, "moe_ep_size": moe_ep,
            "silicon_ttft_ms": "100", "silicon_tpot_ms": "10"}


def test_rc6_post3_r1_rows_ran_mtp3_and_mtp1_under_attention_dp():
    accept = mtp().default_accept.si
    k, a, name = speculative(_raw(), attention_dp=False)
    assert (k, a) == (3, accept) and "rc6.post3" in name
    assert speculative(_raw(image="nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6.post3"), attention_dp=True)[0] == 1


def test_rows_without_the_evidence_run_without_mtp():
    assert speculative(_raw(model="deepseek-ai/DeepSeek-V3"), False) is None
    assert speculative(_raw(image="nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.post2"), False) is None
    # release:1.1.0rc2.post2 ran both the -trt and -trt-mtp configs: only the 2026-01-14 runs are MTP
    rc2 = "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"
    assert speculative(_raw(image=rc2, measured="2026-01-14T00:00:00.000Z"), False)[0] == 3
    assert speculative(_raw(image=rc2, measured="2026-01-28T06:18:44Z"), False) is None
    assert speculative(_raw(image=rc2, measured="2025-12-15T00:00:00.000Z"), False) is None


@pytest.mark.parametrize("layout, depth", [(dict(tp="8", dp="", moe_tp="1", moe_ep="8"), 3),
                                           (dict(tp="1", dp="8", moe_tp="1", moe_ep="8", batch="4"), 1),
                                           (dict(tp="1", dp="64", moe_tp="8", moe_ep="8", batch="0.5"), 1)])
def test_row_settings_carry_the_depth_of_the_rows_layout(layout, depth):
    r = Row("x", _raw(**layout), 2)
    row_settings(r)
    assert r.status == "ok", r.reason
    assert r.settings["mtp_k"] == depth and r.record()["mtp_k"] == depth
