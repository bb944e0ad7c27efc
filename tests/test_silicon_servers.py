"""InferenceMAX's server launch settings (catalog/validation/silicon/servers.toml) and how the
silicon validation prices a row with them; synthetic rows only (no /work/shared)."""

import pytest

from superpod.planners import silicon_servers as S
from superpod.planners.silicon_rows import Row, row_settings
from superpod.planners.validation_silicon import apply_server
from superpod.serving.closed_loop import closed_loop, run, scheduler
from superpod.serving.context import make_ctx
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.steady import spread_steady
from superpod.spec.quantity import Quantity


def _row(**kw) -> dict[str, str]:
    """A co-located InferenceMAX row of DeepSeek-R1 FP4 on 8 B200 under SGLang, 1k/1k at 32 clients."""
    raw = {"id": "synthetic", "backend": "sglang", "backend_version": "0.5.9", "model_path": "deepseek-ai/DeepSeek-R1",
           "system": "b200_sxm", "precision": "fp4", "mode": "agg", "isl": "1024", "osl": "1024",
           "gemm_quant_mode": "nvfp4", "moe_quant_mode": "nvfp4", "batch_size": "32", "tp_size": "8", "pp_size": "1",
           "attention_dp_size": "", "moe_tp_size": "1", "moe_ep_size": "8",
           "silicon_data_source": "source_file=2026-03-25.csv; model=DeepSeek-R1; ; measured=2026-03-25T00:00:00Z; "
                                  "silicon_concurrency=32; image=lmsysorg/sglang:v0.5.9-cu130",
           "silicon_ttft_ms": "500", "silicon_tpot_ms": "20"}
    return raw | kw


def _names(conc=32.0, isl=1024.0, osl=1024.0, tp=8, dp=1):
    return {"isl": isl, "osl": osl, "conc": conc, "tp": tp, "dp": dp, "gpus": tp * dp}


def test_the_catalog_parses_and_every_setting_is_sourced():
    cat = S.catalog()
    assert cat["server"], "servers.toml has entries"
    assert S.check(cat) == []
    for e in cat["server"]:
        for key in ("kv_dtype", *S.SETTINGS):
            for c in S._cases(e.get(key, [])):
                assert c["source"] and c["confidence"] in ("A", "B", "C", "U"), (e["name"], key)


def test_check_names_what_is_missing():
    bad = {"server": [{"name": "x", "framework": "vllm", "model_path": "m", "system": "s", "precision": "fp8",
                       "token_budget": {"value": 8192, "unit": "requests", "confidence": "C"}}]}
    problems = S.check(bad)
    assert any("no source" in p for p in problems) and any("unit 'requests'" in p for p in problems)


def test_a_matching_row_gets_its_scripts_settings():
    srv = S.server(_row(), "sglang", _names(conc=32))
    assert srv.name == "sglang-dsr1-fp4-b200" and srv.kv_dtype == "fp8"
    u = srv.update
    assert u["token_budget"].si == 16384 and u["token_budget_large_hbm"] is None
    assert u["max_running"].si == 256 and u["recv_interval"].si == 30
    assert u["kv_mem_fraction"].si == pytest.approx(0.85) and u["kv_mem_fraction_of"] == "static"
    assert "--scheduler-recv-interval" in srv.sources["recv_interval"]
    assert S.server(_row(), "sglang", _names(conc=8)).update["recv_interval"].si == 10  # CONC < 16


def test_cases_and_expressions_follow_the_script():
    vllm = _row(backend="vllm", model_path="MiniMaxAI/MiniMax-M2.5", precision="fp8",
                silicon_data_source="db-dump/2026-04-27; config_id=1; silicon_concurrency=64; "
                                    "measured=2026-04-21T00:00:00.000Z; vllm/vllm-openai:v0.19.0-cu130")
    srv = S.server(vllm, "vllm", _names(conc=64, isl=8192))
    assert srv.update["token_budget"].si == 2 * 8192 and srv.kv_dtype == "fp8"
    assert srv.update["kv_mem_fraction_of"] == "total"
    # the image pins the script version: the v0.17.0 rows are left out
    assert S.entry(vllm | {"silicon_data_source": vllm["silicon_data_source"].replace("v0.19.0", "v0.17.0")}) is None
    trt = _row(backend="trtllm", precision="fp8", system="h200_sxm")
    assert S.server(trt, "tensorrt-llm", _names(conc=64, isl=8192)).update["token_budget"].si == 8320
    assert S.server(trt, "tensorrt-llm", _names(conc=64, isl=1024)).update["token_budget"].si == 8192


def test_a_non_matching_row_gets_nothing():
    assert S.entry(_row(silicon_data_source="source_file=/Users/x/aic.csv; silicon_concurrency=32")) is None
    assert S.entry(_row(model_path="Qwen/Qwen3-32B")) is None
    assert S.entry(_row(mode="disagg")) is None


def test_validation_applies_the_entry_only_to_the_rows_it_matches():
    hit = Row("hit", _row(), 2)
    row_settings(hit)
    before = dict(hit.settings)
    apply_server(hit)
    assert hit.settings["kv"] == "fp8" and hit.settings["server"] == "sglang-dsr1-fp4-b200"
    assert hit.settings["sched"]["recv_interval"].si == 30
    miss = Row("miss", _row(silicon_data_source="source_file=/Users/x/aic.csv; silicon_concurrency=32"), 3)
    row_settings(miss)
    unchanged = dict(miss.settings)
    apply_server(miss)
    assert miss.settings == unchanged and before["kv"] is None


def test_expressions_are_arithmetic_only():
    assert S.evaluate("max((conc + isl + 64 + 63) // 64 * 64, 8192)", {"conc": 256, "isl": 8192}) == 8512
    assert S.evaluate("isl == 1024 and conc >= 16", {"isl": 1024, "conc": 16}) is True
    with pytest.raises(ValueError):
        S.evaluate("__import__('os')", {})


def _q(v, unit="count"):
    return Quantity(value=float(v), unit=unit, source="test", confidence="U")


def test_scheduler_receive_interval_and_memory_fraction():
    sg = scheduler("sglang")
    assert sg.interval() == 1
    assert sg.model_copy(update={"recv_interval": _q(30), "decode_steps": _q(4)}).interval() == 120
    c = make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "vllm")
    hbm, w = c.hw.hbm_bytes, 35e9
    r = c.fw.si("runtime_reserve_bytes")
    default = sg.usable_kv_bytes(hbm, c.fw, w)
    assert default > 0
    f = {"kv_mem_fraction": _q(0.9, "ratio")}
    assert sg.model_copy(update=f | {"kv_mem_fraction_of": "free"}).usable_kv_bytes(hbm, c.fw, w) == pytest.approx((hbm - r - w) * 0.9)
    assert sg.model_copy(update=f | {"kv_mem_fraction_of": "total"}).usable_kv_bytes(hbm, c.fw, w) == pytest.approx(0.9 * hbm - w - r)
    assert sg.model_copy(update=f | {"kv_mem_fraction_of": "static"}).usable_kv_bytes(hbm, c.fw, w) == pytest.approx(0.9 * hbm - w)


def test_a_receive_interval_delays_first_tokens_only():
    def step(P, D):
        return 0.01 + 1e-5 * P if (P or D) else 0.0
    base = spread_steady(step, 32, 1024, 1024, 16384, "prefill-first")
    slow = spread_steady(step, 32, 1024, 1024, 16384, "prefill-first", recv=30)
    assert slow["steady_ttft_s"] > base["steady_ttft_s"] + 0.1  # ~14.5 more iterations of ~10 ms
    assert slow["steady_tpot_s"] == pytest.approx(base["steady_tpot_s"], rel=0.05)
    idle = run(step, 8, 1024, 64, 16384, "prefill-first", rounds=4, recv=30)
    assert idle["ttft_s"] == run(step, 8, 1024, 64, 16384, "prefill-first", rounds=4)["ttft_s"]  # an idle engine takes them at once


def test_closed_loop_takes_a_modified_scheduler():
    c = make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "sglang")
    plan, wl = ServePlan.one(tp=8, batch=32 / 8), Workload(1024, 1024)
    own = closed_loop(c, plan, wl, rounds_per_client=10, length_ratio=0.8)
    same = closed_loop(c, plan, wl, rounds_per_client=10, length_ratio=0.8, sched=scheduler("sglang"))
    assert same["ttft_s"] == own["ttft_s"] and same["tpot_s"] == own["tpot_s"]
    tuned = scheduler("sglang").model_copy(update={"token_budget": _q(4096), "token_budget_large_hbm": None,
                                                   "recv_interval": _q(30)})
    out = closed_loop(c, plan, wl, rounds_per_client=10, length_ratio=0.8, sched=tuned)
    assert out["token_budget"] == 4096 and out["ttft_s"] > own["ttft_s"]
