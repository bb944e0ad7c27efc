"""`superpod serve` / `superpod simulate` end to end through CliRunner, incl. every bad input."""

import json

import pytest

MAIN = ["deepseek-r1", "cloudmatrix384", "--phase", "decode", "--quant", "int8", "--tpot-slo-ms", "50",
        "--mtp", "1", "--mtp-accept", "0.7"]


def test_help(cli):
    r = cli("serve", "--help")
    assert r.exit_code == 0
    for word in ("tokens_per_s_per_chip", "INPUT", "OUTPUT", "--tpot-slo-ms", "--explain"):
        assert word in r.stdout
    assert cli("simulate", "--help").exit_code == 0


def test_main_job_json(cli):
    r = cli("serve", *MAIN, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"decode", "plan", "breakdown"}
    assert "prefill" not in out and "both" not in out
    d = out["decode"]
    assert {"tokens_per_s_per_chip", "tpot_s", "batch_per_chip", "kv_bytes_per_chip"} <= set(d)
    assert d["tpot_s"] <= 0.05
    assert 1943 * 0.9 < d["tokens_per_s_per_chip"] < 1943 * 1.1
    assert out["plan"]["quant"] == "int8" and "batch" in out["plan"]["picked"]


def test_explain_and_table(cli):
    r = cli("serve", *MAIN, "--explain")
    assert r.exit_code == 0
    assert "time per step" in r.stdout and "attention" in r.stdout and "ep_comm" in r.stdout


def test_phases_json_keys(cli):
    p = json.loads(cli("serve", "deepseek-r1", "cloudmatrix384", "--phase", "prefill", "--ep", "32", "--json").stdout)
    assert {"tokens_per_s_per_chip", "ttft_s", "batch_tokens_per_chip"} <= set(p["prefill"]) and "decode" not in p
    b = json.loads(cli("serve", "llama3.3-70b", "dgx-h100-superpod", "--chips", "8", "--phase", "both",
                       "--input-len", "1000", "--output-len", "1000", "--json").stdout)
    assert {"output_tokens_per_s_per_chip", "ttft_s", "tpot_s", "concurrency"} <= set(b["both"])
    pd = json.loads(cli("serve", "deepseek-v3", "h800-cluster", "--chips", "256", "--phase", "pd", "--json").stdout)
    assert {"prefill", "decode", "pd"} <= set(pd) and 0 < pd["pd"]["prefill_chip_share"] < 1


def test_comparison(cli):
    r = cli("serve", "deepseek-r1", "cloudmatrix384", "gb200-nvl72", "--tpot-slo-ms", "50", "--json")
    assert r.exit_code == 0, r.stderr
    recs = json.loads(r.stdout)["systems"]
    assert [x["system"] for x in recs] == ["cloudmatrix384", "gb200-nvl72"]
    assert recs[0]["plan"]["quant"] == "int8" and recs[1]["plan"]["quant"] == "fp4"
    t = cli("serve", "deepseek-r1", "cloudmatrix384", "gb200-nvl72", "--tpot-slo-ms", "50")
    assert t.exit_code == 0 and "cloudmatrix384" in t.stdout and "gb200-nvl72" in t.stdout


def test_simulate_json(cli):
    r = cli("simulate", "deepseek-r1", "cloudmatrix384", "--rate", "20", "--requests", "500", "--quant", "int8",
            "--output-dist", "uniform:100,400", "--output-len", "250", "--tpot-slo-ms", "50", "--ttft-slo-ms", "2000", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("ttft_s", "tpot_s"):
        assert out[key]["p50"] <= out[key]["p90"] <= out[key]["p99"]
    assert 0 <= out["goodput_fraction"] <= 1 and out["requests"] == 500


@pytest.mark.parametrize("args, words", [
    (["deepseek-r1", "dgx-h100-superpod", "--chips", "8", "--ep", "8", "--quant", "bf16"], ["does not fit", "missing", "--ep"]),
    (["llama3.3-70b", "dgx-h100-superpod", "--tp", "3"], ["--tp 3", "heads"]),
    (["deepseek-r1", "cloudmatrix384", "--ep", "400"], ["--ep 400", "expert slots"]),
    (["deepseek-r1", "cloudmatrix384", "--quant", "fp8"], ["no fp8", "int8"]),
    (["deepseek-r1", "cloudmatrix384", "--quant", "int8", "--tpot-slo-ms", "1"], ["best reachable", "ms"]),
    (["deepseek-r1", "cloudmatrix384", "--phase", "sideways"], ["--phase"]),
    (["no-such-model", "cloudmatrix384"], ["no-such-model"]),
    (["deepseek-r1", "cloudmatrix384", "--mtp", "1", "--mtp-accept", "1.5"], ["--mtp-accept"]),
])
def test_bad_input_one_line_exit_2(cli, args, words):
    r = cli("serve", *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("error:") and "\n" not in err
    for w in words:
        assert w in err


def test_simulate_bad_distribution(cli):
    r = cli("simulate", "llama3.3-70b", "dgx-h100-superpod", "--chips", "8", "--rate", "1", "--requests", "10",
            "--input-dist", "zipf:3")
    assert r.exit_code == 2 and "distribution" in r.stderr


def test_batch_and_concurrency_exclusive(cli):
    r = cli("serve", "llama3-8b", "dgx-h100-superpod", "--batch-per-chip", "8", "--concurrency", "8")
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0 and "at most one" in r.stderr


def test_comparison_keeps_going_when_one_system_cannot(cli):
    r = cli("serve", "deepseek-r1", "cloudmatrix384", "h800-cluster", "--quant", "int8", "--json")
    recs = json.loads(r.stdout)["systems"]
    assert "decode" in recs[0] and "no int8" in recs[1]["error"]
