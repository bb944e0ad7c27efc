"""The CLI end to end through typer's CliRunner, including every bad-input case."""

import json

import pytest


def test_help_lists_commands(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for c in ("chips", "systems", "models", "show", "compare", "claims"):
        assert c in r.stdout


@pytest.mark.parametrize("cmd", ["chips", "systems", "models", "show", "compare", "claims"])
def test_subcommand_help(cli, cmd):
    r = cli(cmd, "--help")
    assert r.exit_code == 0 and len(r.stdout) > 100


def test_help_is_light():
    """`superpod --help` must not import plotting or distributed libraries."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from superpod.faces.cli import app\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "heavy = [m for m in ('matplotlib', 'plotly', 'ray', 'duckdb', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_chips_and_systems_json(cli):
    chips = json.loads(cli("chips", "--json").stdout)["chips"]
    assert {"ascend-910c", "gb200"} <= {c["name"] for c in chips}
    c910 = next(c for c in chips if c["name"] == "ascend-910c")
    assert c910["fp8_flops"] is None and c910["bf16_flops"] == pytest.approx(752e12)
    systems = json.loads(cli("systems", "--json").stdout)["systems"]
    assert {"cloudmatrix384", "gb200-nvl72", "atlas950-superpod"} <= {s["name"] for s in systems}


def test_compare_json_main_job(cli):
    r = cli("compare", "cloudmatrix384", "gb200-nvl72", "--json")
    assert r.exit_code == 0, r.stderr
    cm, nv = json.loads(r.stdout)["systems"]
    assert cm["name"] == "cloudmatrix384" and nv["name"] == "gb200-nvl72"
    assert cm["bf16_flops"] == pytest.approx(288.768e15) and nv["bf16_flops"] == pytest.approx(180e15)
    assert cm["hbm_bytes"] == pytest.approx(384 * 128 * 2**30)  # 128 GiB per 910C (vendor GB are binary)
    assert cm["hbm_Bps"] == pytest.approx(1228.8e12) and nv["hbm_Bps"] == pytest.approx(576e12)
    assert nv["scaleup_bits_per_s"] == pytest.approx(518_400e9)
    assert cm["scaleup_bits_per_s"] == pytest.approx(1_204_224e9)
    assert cm["power_w"] == pytest.approx(559e3) and nv["power_w"] == pytest.approx(145e3)
    assert cm["fp8_flops"] is None and nv["fp4_flops"] == pytest.approx(720e15)
    assert nv["ratio_to_first"]["bf16_flops"] == pytest.approx(180 / 288.768)
    # the basis is shown where the published comparison differs
    assert "780" in cm["basis"]["bf16_flops"] and "192 GB" in nv["basis"]["hbm_bytes"]


def test_compare_table(cli):
    r = cli("compare", "cloudmatrix384", "gb200-nvl72")
    assert r.exit_code == 0
    assert "288.8 PFLOP/s" in r.stdout and "Basis" in r.stdout


def test_compare_sized(cli):
    r = cli("compare", "cloudmatrix384", "gb200-nvl72@384", "h800-cluster", "--json")
    cm, nv, h8 = json.loads(r.stdout)["systems"]
    assert nv["chips"] == 384 and h8["chips"] == 2048
    r = cli("compare", "cloudmatrix384", "gb200-nvl72", "--chips", "384", "--json")
    assert [s["chips"] for s in json.loads(r.stdout)["systems"]] == [384, 384]


def test_claims_json(cli):
    r = cli("claims", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["counts"]["disputed"] == 0
    ids = {c["id"] for c in data["claims"]}
    assert {"cm384-bf16", "cm384-vs-nvl72-power", "atlas950-fp8", "atlas950-cluster-fp8", "910c-hbm"} <= ids
    assert cli("claims", "--strict").exit_code == 0


def test_show_system_and_chip(cli):
    r = cli("show", "cloudmatrix384", "--json")
    assert r.exit_code == 0
    info = json.loads(r.stdout)
    assert info["kind"] == "system" and info["quantities"]["chips"]["confidence"] == "A"
    assert all(q["source"] for q in info["quantities"].values())
    r = cli("show", "ascend-910c")
    assert r.exit_code == 0 and "arXiv 2506.12708" in r.stdout


# ---- bad input: one line on stderr, exit 2, never a traceback ----


def _one_line_error(r):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


def test_unknown_system_suggests(cli):
    msg = _one_line_error(cli("compare", "cloudmatrix348", "gb200-nvl72"))
    assert "cloudmatrix384" in msg


def test_unknown_show_name(cli):
    msg = _one_line_error(cli("show", "gb200-nvl27"))
    assert "gb200-nvl72" in msg


def test_zero_chips(cli):
    msg = _one_line_error(cli("compare", "cloudmatrix384", "gb200-nvl72", "--chips", "0"))
    assert "chips" in msg


def _system_file(tmp_path, body):
    p = tmp_path / "mine.toml"
    p.write_text(body)
    return p


GOOD = """
name = "mine"
title = "My pod"
vendor = "me"
kind = "fixed"
chip = "h100"
chips_per_node = 8
tiers = ["nvlink5-nvl72"]
[chips]
value = 64
source = "my design"
confidence = "U"
[racks]
value = 2
source = "my design"
confidence = "U"
[power.parts.all]
value = 60
unit = "kW"
source = "my estimate"
confidence = "U"
"""


def test_user_system_file(cli, tmp_path):
    p = _system_file(tmp_path, GOOD)
    r = cli("compare", "cloudmatrix384", str(p), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["systems"][1]["chips"] == 64


def test_malformed_toml_names_line(cli, tmp_path):
    p = _system_file(tmp_path, GOOD.replace('vendor = "me"', 'vendor = "me'))
    msg = _one_line_error(cli("show", str(p)))
    assert str(p) in msg and "line" in msg


def test_negative_bandwidth(cli, tmp_path):
    p = tmp_path / "chip.toml"
    p.write_text(
        'name = "x"\nvendor = "v"\nreleased = "2026"\n'
        '[bf16_flops]\nvalue = 100\nunit = "TFLOPS"\nsource = "mine"\nconfidence = "U"\n'
        '[hbm_bytes]\nvalue = 80\nunit = "GB"\nsource = "mine"\nconfidence = "U"\n'
        '[hbm_Bps]\nvalue = -3\nunit = "TB/s"\nsource = "mine"\nconfidence = "U"\n'
    )
    msg = _one_line_error(cli("show", str(p)))
    assert "hbm_Bps.value" in msg and "greater than 0" in msg


def test_zero_chips_in_file(cli, tmp_path):
    p = _system_file(tmp_path, GOOD.replace("value = 64", "value = 0"))
    msg = _one_line_error(cli("compare", str(p), "gb200-nvl72"))
    assert "chips.value" in msg


def test_missing_source(cli, tmp_path):
    p = _system_file(tmp_path, GOOD.replace('source = "my design"\nconfidence = "U"\n[racks]', 'confidence = "U"\n[racks]'))
    msg = _one_line_error(cli("compare", str(p), "gb200-nvl72"))
    assert "chips.source" in msg and "Field required" in msg


def test_wrong_unit_dimension(cli, tmp_path):
    p = _system_file(tmp_path, GOOD.replace('unit = "kW"', 'unit = "GB"'))
    msg = _one_line_error(cli("compare", str(p), "gb200-nvl72"))
    assert "power" in msg


def test_unknown_chip_in_user_file(cli, tmp_path):
    p = _system_file(tmp_path, GOOD.replace('chip = "h100"', 'chip = "h1000"'))
    msg = _one_line_error(cli("compare", str(p), "gb200-nvl72"))
    assert "h100" in msg


def test_missing_file(cli):
    _one_line_error(cli("compare", "./nope.toml", "gb200-nvl72"))


def test_bad_size_suffix(cli):
    _one_line_error(cli("compare", "cloudmatrix384", "gb200-nvl72@lots"))


def test_models_json(cli):
    r = cli("models", "--json")
    assert r.exit_code == 0
    rows = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    assert set(rows["deepseek-v3"]) >= {"name", "params", "active_params", "layers", "hidden", "attention", "experts", "source"}
    assert rows["deepseek-v3"]["params"] == pytest.approx(671e9, rel=0.01)
    assert rows["deepseek-v3"]["experts"] == 256 and rows["deepseek-v3"]["attention"] == "mla"


def test_show_hf_config_json(cli):
    import pathlib

    path = pathlib.Path(__file__).parent / "data" / "llama3-8b" / "config.json"
    r = cli("show", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["kind"] == "model" and info["layers"] == 32
    assert info["params"] == pytest.approx(8.03e9, rel=0.01)
