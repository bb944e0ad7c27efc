"""Stacked decode pricing (planners/sweep/fast.py) gives every column bit-identical to one
``serve`` call per point, for searched and fixed batches, SLOs that bind or fail, MTP,
concurrency, fixed plan settings and what-if overrides."""

import pytest

from superpod.planners.sweep import parse
from superpod.planners.sweep.points import evaluate, points

CASES = [
    """question = "serve"
[fixed]
model = "deepseek-r1"
phase = "decode"
[axes]
system = ["cloudmatrix384", "gb200-nvl72"]
input_len = [1024, 4096]
output_len = [256, 2048]
tpot_slo_ms = [10, 30, 60]
mtp = [0, 1]
""",
    """question = "serve"
[fixed]
model = "llama3-70b"
phase = "decode"
system = "h200-cluster"
[axes]
kv_dtype = ["bf16", "fp8"]
batch_per_chip = [8, 64, 100000]
tpot_slo_ms = [20, 50]
chip.hbm_Bps = ["x1", "x2"]
""",
    """question = "serve"
[fixed]
model = "qwen3-235b-a22b"
phase = "decode"
system = "gb200-nvl72"
tp = 1
[axes]
concurrency = [1000, 5000]
kv_len = [2048, 8192]
ep = [8, 16, 200]
""",
]


@pytest.mark.parametrize("text", CASES)
def test_stacked_rows_equal_one_call_per_point(text):
    pts = list(points(parse(text)))
    stacked, single = evaluate("serve", pts), evaluate("serve", pts, stacked=False)
    assert len(stacked) == len(single) == len(pts)
    for a, b in zip(stacked, single):
        assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert any(r["error"] is None for r in stacked)


@pytest.mark.parametrize("text", CASES)
def test_columns_equal_rows(text):
    from superpod.planners.sweep.points import evaluate_columns

    pts = list(points(parse(text)))
    cols = evaluate_columns("serve", pts)
    as_rows = [{k: v[i] for k, v in cols.items() if v[i] is not None} for i in range(len(pts))]
    rows = [{k: v for k, v in r.items() if v is not None} for r in evaluate("serve", pts, stacked=False)]
    assert as_rows == rows
