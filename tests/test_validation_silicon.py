"""The silicon validation group: every measured row is answered, unsupported or infeasible, never dropped."""

import pytest

from superpod.errors import SpecError
from superpod.planners.validation_silicon import read_rows, validate_silicon


@pytest.fixture(scope="module")
def report():
    return validate_silicon()


def test_every_row_has_a_status(report):
    assert report["summary"]["rows"] == 2762
    assert len(report["rows"]) == 2762
    for r in report["rows"]:
        assert r["status"] in ("ok", "unsupported", "infeasible")
        assert (r["status"] == "ok") == (r["predicted_tpot_ms"] is not None)
        if r["status"] != "ok":
            assert r["reason"]


def test_answered_rows_are_positive(report):
    for r in report["rows"]:
        if r["status"] == "ok":
            assert r["predicted_ttft_ms"] > 0 and r["predicted_tpot_ms"] > 0


def test_partitions_conserve_rows(report):
    assert sum(p["rows"] for p in report["partitions"]) == report["summary"]["rows"]
    assert sum(p["answered"] for p in report["partitions"]) == report["summary"]["answered"]


def test_malformed_csv_names_file_and_line(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("id,backend,model_path,system,mode,isl,osl,silicon_ttft_ms,silicon_tpot_ms\n"
                 "a,sglang,x,h100_sxm,agg,1024,128,12.0,abc\n")
    with pytest.raises(SpecError, match=r"bad.csv:2: silicon_tpot_ms"):
        read_rows(f)
    g = tmp_path / "cols.csv"
    g.write_text("id,backend\n1,sglang\n")
    with pytest.raises(SpecError, match=r"cols.csv:1: missing column"):
        read_rows(g)
