"""`superpod report --html`: a self-contained static page of the views (issue 14)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from superpod.faces.cli import app
from superpod.faces.report import html

MAX_BYTES = 4_800_000  # the scaling HTML plot's weight the issue asks to stay well under


def test_report_is_self_contained_and_small(tmp_path):
    out = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["report", "--html", str(out), "--systems", "cloudmatrix384", "--systems", "gb200-nvl72",
                                 "--no-silicon"])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert out.stat().st_size < MAX_BYTES / 4
    for view in ("compare", "train", "serve", "scale", "claims", "validation"):
        assert f'<section id="{view}">' in text
    assert text.count("<svg") >= 5
    # the dashboard's views: memory by part, top-K plans, latency distributions, power with chips, the scenario
    for piece in ("Memory per chip by part", "Top 5 plans per system", "TTFT of ", "facility power", "Huaweiopolis",
                  "MAPE per group and partition"):
        assert piece in text, piece
    # nothing fetched from the network: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text, re.I)
    assert "<script" not in text.lower()
    assert 'class="err"' not in text


def test_report_shows_refusals_as_one_line(tmp_path):
    text = html.build(["gb200-nvl72"], "deepseek-v3", chips=8, silicon=False)
    assert '<p class="err">' in text and "Traceback" not in text


def test_report_rejects_bad_suffix(tmp_path):
    r = CliRunner().invoke(app, ["report", "--html", str(tmp_path / "r.png")])
    assert r.exit_code == 2
    assert "--html must end in .html" in r.output
