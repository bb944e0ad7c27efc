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


SAMPLE = """question = "serve"
[fixed]
phase = "decode"
[axes]
system = ["cloudmatrix384", "gb200-nvl72", "h200-cluster", "atlas950-superpod"]
model = ["deepseek-r1", "qwen3-235b-a22b", "llama3-70b"]
input_len = [256, 1024, 3000, 8192, 32768]
output_len = [128, 700, 2048, 8192]
tpot_slo_ms = [8, 15, 25, 40, 70, 150]
"""


def test_fifty_random_points_equal_the_api():
    """The benchmark's grid shape (systems x models x lengths x TPOT targets): ~50 random points
    of a sweep priced as chunks equal ``superpod.serve(...).to_dict()``, metric for metric."""
    import math
    import random

    import superpod
    from superpod.errors import SuperpodError
    from superpod.planners.sweep.points import evaluate_columns, flatten

    pts = list(points(parse(SAMPLE), grouped=True))
    cols = evaluate_columns("serve", pts)
    sample = random.Random(13).sample(range(len(pts)), 50)
    compared = 0
    for i in sample:
        p = pts[i]
        try:
            want = flatten(superpod.serve(p["model"], p["system"], phase="decode", input_len=p["input_len"],
                                          output_len=p["output_len"], tpot_slo_s=p["tpot_slo_ms"] / 1e3).to_dict())
        except SuperpodError as e:
            assert cols["error"][i] == str(e)
            continue
        assert cols["error"][i] is None
        for k, v in want.items():
            got = cols[f"result_{k}"][i] if cols.get(f"result_{k}", [None] * len(pts))[i] is not None else cols[k][i]
            if isinstance(v, float) and isinstance(got, float) and math.isinf(got):
                continue  # to_dict() writes infinities JSON-safe
            assert got == v, (p, k, got, v)
            compared += 1
    assert compared > 30 * 40  # most sampled points have a plan, each with dozens of metrics


def test_groups_come_as_columns_and_mtp_falls_back():
    """Decode groups are flattened as columns (planners/sweep/columns.py) unless MTP prices each point again."""
    from superpod.planners.sweep.points import _results

    pts = list(points(parse(CASES[0]), grouped=True))
    _, groups = _results("serve", pts, True, columnar=True)
    by_mtp = {}
    for gr in groups:
        idx = gr[0] if isinstance(gr, tuple) else gr
        by_mtp.setdefault(pts[idx[0]]["mtp"], set()).add(isinstance(gr, tuple))
    assert by_mtp == {0: {True}, 1: {False}}
    fixed = list(points(parse(CASES[1]), grouped=True))
    assert any(isinstance(gr, tuple) for gr in _results("serve", fixed, True, columnar=True)[1])


@pytest.mark.parametrize("text", CASES + [SAMPLE])
def test_arrays_store_as_their_lists(text):
    """The columns the engine stores (numpy arrays, masked where rows have no value; planners/sweep/chunk.py)
    make the same Arrow table as their lists (the rows' values), and the point hashes are point_hash's."""
    from superpod.planners.sweep.chunk import Masked, as_list
    from superpod.planners.sweep.points import evaluate_columns, point_hash
    from superpod.planners.sweep.store import arrow_table

    pts = list(points(parse(text), grouped=True))
    arrays = evaluate_columns("serve", pts, arrays=True)
    lists = {k: as_list(v) for k, v in arrays.items()}
    assert any(not isinstance(v, list) for v in arrays.values())
    a, b = arrow_table(arrays), arrow_table(lists)
    assert a.schema == b.schema and a.to_pylist() == b.to_pylist()
    assert lists == evaluate_columns("serve", pts)
    assert lists["point_hash"] == [point_hash("serve", p) for p in pts]
    if text is CASES[0]:  # 10 ms TPOT targets fail: rows with no value in a numeric column
        assert any(isinstance(v, Masked) for v in arrays.values())


def test_point_hashes_are_point_hash():
    """The chunk's hashes (JSON text joined from cached encodings) equal point_hash, for the values whose
    cache keys could collide (0.0 and -0.0, 1 and 1.0 and True, NaN), lists, non-text keys and no keys."""
    from superpod.planners.sweep.points import point_hash, point_hashes

    pts = [{"a": 0.0, "b": 1}, {"a": -0.0, "b": 1}, {"a": float("nan"), "b": True}, {"b": [1, 2], "a": "x"},
           {1: 2}, {}, {"a": 1.0, "b": 1}, {"a": 1, "b": 1.0}, {"b": 1, "a": 1.0}, {"a": "é", "b": None}]
    assert point_hashes("serve", pts, ["c"] * len(pts)) == [point_hash("serve", p, "c") for p in pts]
