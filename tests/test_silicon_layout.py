"""InferenceMAX dumps write a run's ``tpT_epE`` layout as products (harness.toml ``layout_product``):
the rows are read back as ``E`` GPUs (planners/silicon_rows.py)."""

import re

from superpod.planners.silicon_rows import _unproduct, default_file, read_rows, row_settings


def test_unproduct_reads_the_dumped_layouts_back():
    assert _unproduct(64, 1, 8, 8) == (8, 1, 1, 8)  # tp8 ep8: attention TP 8, experts EP 8
    assert _unproduct(1, 16, 4, 4) == (1, 4, 1, 4)  # attention DP 4, experts EP 4
    assert _unproduct(4, 1, 2, 2) == (2, 1, 1, 2)
    assert _unproduct(8, 1, 2, 4) == (8, 1, 2, 4)  # a genuine expert-TP x EP layout stays
    assert _unproduct(8, 1, 8, 1) == (8, 1, 8, 1)
    assert _unproduct(4, 4, 1, 16) == (4, 1, 1, 4)  # vLLM tp4 ep4: its EP is the TP group
    assert _unproduct(2, 2, 1, 4) == (2, 1, 1, 2)
    assert _unproduct(4, 2, 1, 8) == (4, 2, 1, 8)  # a genuine TP x DP attention with EP over both stays


def test_public_rows_price_as_many_gpus_as_their_id_names():
    seen = 0
    for r in read_rows(default_file()):
        m = re.search(r"_tp(\d+)_ep(\d+)_", r.id)
        if r.raw["mode"] != "agg" or m is None or m.group(2) == "1" or m.group(1) != m.group(2):
            continue
        row_settings(r)
        if r.status != "ok":
            continue
        s = r.settings
        gpus = int(m.group(1))
        assert s["tp"] * s["dp"] == gpus and s["moe_tp"] * s["moe_ep"] == gpus, r.id
        assert s["batch"] * s["dp"] == float(r.raw["batch_size"]) * float(r.raw["attention_dp_size"] or 1), r.id
        seen += 1
    assert seen > 100
