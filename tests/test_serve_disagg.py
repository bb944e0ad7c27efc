"""Disaggregated runs with explicit pools at fixed concurrency (serving/disaggregated.py)."""

import pytest

from superpod.serving.context import make_ctx
from superpod.serving.disaggregated import disaggregated
from superpod.serving.plan import ServePlan


@pytest.fixture(scope="module")
def c():
    return make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "fp8", "tensorrt-llm")


def pools(c, n, prefill_workers=1, decode_workers=1, b_d=None):
    d = ServePlan.one(tp=4, batch=(b_d if b_d is not None else n / decode_workers) / 4)
    return disaggregated(c, ServePlan.one(tp=4), d, 4096, 512, n, prefill_workers=prefill_workers,
                         decode_workers=decode_workers)


def test_ttft_includes_the_prefill_and_the_transfer(c):
    r = pools(c, 1)
    assert r["kv_transfer_s"] > 0 and r["prefill_queue_s"] == pytest.approx(0.0, abs=1e-9)
    assert r["steady_ttft_s"] == pytest.approx(r["prefill_step_s"] + r["kv_transfer_s"] + r["tpot_s"] + r["request_latency_s"])


def test_prefill_queueing_grows_with_concurrency(c):
    t = [pools(c, n)["ttft_s"] for n in (4, 64, 256)]
    assert t == sorted(t) and t[-1] > 5 * t[0]
    r = pools(c, 256)
    assert r["prefill_bound"] and r["prefill_queue_s"] > 0


def test_more_prefill_workers_cut_the_queue(c):
    one, four = pools(c, 256, 1), pools(c, 256, 4)
    assert four["ttft_s"] < one["ttft_s"] / 2
    assert four["output_tokens_per_s"] > one["output_tokens_per_s"]


def test_sized_prefill_pool_keeps_up(c):
    d = ServePlan.one(tp=4, batch=64 / 4)
    r = disaggregated(c, ServePlan.one(tp=4), d, 4096, 512, 64, prefill_workers=None)
    assert r["prefill_workers"] >= 1 and not r["prefill_bound"]


def test_validate_silicon_prices_disagg_rows_with_their_pools(tmp_path):
    """The public rows of one deployment (config 303: DeepSeek-R1 on H200, TensorRT-LLM, one
    TP8 prefill worker, nine TP8 decode workers, 36-576 clients): predicted TTFT rises with the
    concurrency as the prefill queue grows, as measured."""
    import csv

    from superpod.planners.validation_silicon import default_file, read_rows, validate_silicon

    rows = [r for r in read_rows(default_file()) if r.id.endswith("_cfg303")]
    assert len(rows) >= 4
    f = tmp_path / "cfg303.csv"
    with f.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].raw))
        w.writeheader()
        w.writerows(r.raw for r in rows)
    out = validate_silicon(f)
    ok = sorted((r for r in out["rows"] if r["status"] == "ok"), key=lambda r: r["measured_ttft_ms"])
    assert len(ok) == len(rows), [r["reason"] for r in out["rows"]]
    predicted = [r["predicted_ttft_ms"] for r in ok]
    assert predicted == sorted(predicted) and predicted[-1] > 3 * predicted[0]


def test_a_decode_worker_runs_what_fits_and_the_rest_wait(c):
    """One H100 holding Llama-3-70B in FP8 keeps a few GB for KV: of 64 requests of 4,096 + 512
    tokens only a few decode at once; the others wait for a slot, and TTFT shows it."""
    small = disaggregated(c, ServePlan.one(tp=4), ServePlan.one(tp=1, batch=64), 4096, 512, 64, prefill_workers=4)
    wide = disaggregated(c, ServePlan.one(tp=4), ServePlan.one(tp=4, batch=16), 4096, 512, 64, prefill_workers=4)
    assert 1 <= small["decode_running"] < 64 and small["decode_queued"] == 64 - small["decode_running"]
    assert wide["decode_queued"] == 0
    assert small["ttft_s"] > 3 * wide["ttft_s"]
