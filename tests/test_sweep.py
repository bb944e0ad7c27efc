"""Sweeps (issue 13): spec errors with file:line, the smallest spec, stores, resume after kill -9,
what-if catalog axes, query and plot. The Ray engine is in test_sweep_ray.py."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from typer.testing import CliRunner  # noqa: E402

from superpod.errors import SpecError  # noqa: E402
from superpod.faces.cli import app  # noqa: E402
from superpod.planners.sweep import load, parse, query, run  # noqa: E402
from superpod.spec import whatif  # noqa: E402
from superpod.spec.catalog import load_chip, load_system  # noqa: E402

SMALLEST = """\
question = "serve"
[fixed]
model = "deepseek-r1"
phase = "decode"
[axes]
system = ["cloudmatrix384", "gb200-nvl72"]
tpot_slo_ms = [30, 50]
"""


def spec_file(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


# ---- spec errors: file, line and what is wrong ----

@pytest.mark.parametrize("text, line, words", [
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\n[axes]\nsystem = ["cloudmatrix384"]\ntpot_slo = [30]\n',
     6, ["unknown option 'tpot_slo'", "tpot_slo_ms"]),
    ('question = "serv"\n', 1, ["question must be one of"]),
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\nsystem = "gb200-nvl72"\nchips = "many"\n', 5,
     ["chips takes a number"]),
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\n[axes]\nsystem = [\n', 5, ["malformed TOML"]),
    ('question = "serve"\nfixd = {}\n', 2, ["unknown key 'fixd'", "fixed"]),
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\n[axes]\nsystem = ["gb200-nvl72"]\n'
     'input_len = {start = 1, stop = 8}\n', 6, ["input_len: a range is"]),
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\n[axes]\nsystem = []\n', 5, ["non-empty list"]),
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\n', 0, ["needs system"]),
    ('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\nsystem = "gb200-nvl72"\n[axes]\nchp.hbm_Bps = [1e12]\n', 6,
     ["unknown option 'chp.hbm_Bps'", "chip."]),
])
def test_malformed_spec_names_file_and_line(tmp_path, text, line, words):
    p = spec_file(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}: " if line else f"{p}: "), msg
    for w in words:
        assert w in msg


def test_ranges_and_dotted_catalog_axes():
    s = parse('question = "serve"\n[fixed]\nmodel = "deepseek-r1"\nsystem = "gb200-nvl72"\n[axes]\n'
              'input_len = {start = 1024, stop = 8192, num = 4, log = true}\nbatch_per_chip = {start = 8, stop = 32, step = 8}\n'
              'chip.hbm_Bps = ["x1", "x1.5"]\nfabric.scaleup.bw_per_chip_Bps = [9e11]\n')
    assert s.axes["input_len"] == [1024, 2048, 4096, 8192]
    assert s.axes["batch_per_chip"] == [8, 16, 24, 32]
    assert s.axes["chip.hbm_Bps"] == ["x1", "x1.5"] and "fabric.scaleup.bw_per_chip_Bps" in s.axes
    assert s.size == 32


# ---- what-if catalog fields ----

def test_whatif_overrides_are_scoped_and_marked():
    base = load_chip("ascend-910c").hbm_Bps
    with whatif.overriding({"chip.hbm_Bps": "x1.5", "fabric.scaleup.bw_per_chip_Bps": 1e12}):
        s = load_system("cloudmatrix384")
        assert s.chip.hbm_Bps.si == pytest.approx(1.5 * base.si)
        assert s.chip.hbm_Bps.source == whatif.SOURCE and s.chip.hbm_Bps.confidence == "U"
        assert s.tiers[0].bw_per_chip_Bps.si == pytest.approx(1e12) and s.tiers[1].bw_per_chip_Bps.confidence != "U"
    assert load_system("cloudmatrix384").chip.hbm_Bps == base
    with pytest.raises(SpecError, match="did you mean hbm_Bps"):
        with whatif.overriding({"chip.hbm_bps": 1e12}):
            load_chip("ascend-910c")
    with pytest.raises(SpecError, match="tier 'spine' is none of scaleup, scaleout"):
        with whatif.overriding({"fabric.spine.latency_s": 1e-6}):
            load_system("cloudmatrix384")


def test_more_hbm_bandwidth_never_slower(tmp_path):
    p = spec_file(tmp_path, """\
        question = "serve"
        [fixed]
        model = "deepseek-r1"
        phase = "decode"
        batch_per_chip = 32
        [axes]
        system = ["cloudmatrix384", "gb200-nvl72"]
        chip.hbm_Bps = [2.0e12, 3.2e12, 4.8e12, 8.0e12]
        """)
    run(load(p), tmp_path / "r.duckdb")
    _, rows = query(tmp_path / "r.duckdb", "SELECT system, chip_hbm_Bps, decode_tpot_s, error, catalog_hash "
                                           "FROM results ORDER BY system, chip_hbm_Bps")
    assert len(rows) == 8 and all(r[3] is None for r in rows)
    assert len({r[4] for r in rows}) == 4  # the overrides are part of the catalog hash
    for system in ("cloudmatrix384", "gb200-nvl72"):
        tpot = [r[2] for r in rows if r[0] == system]
        assert all(b <= a for a, b in zip(tpot, tpot[1:])) and tpot[-1] < tpot[0], (system, tpot)


def test_optical_failure_rate_axis_lowers_goodput(tmp_path):
    p = spec_file(tmp_path, """\
        question = "scale"
        [fixed]
        model = "llama3-70b"
        system = "dgx-h100-superpod"
        chips = 2048
        fast = true
        [axes]
        reliability.components.network.interruptions = ["x1", "x10"]
        """)
    run(load(p), tmp_path / "r.parquet")
    _, rows = query(tmp_path / "r.parquet", "SELECT reliability_components_network_interruptions, goodput FROM results "
                                            "ORDER BY 1")
    assert rows[0][0] == "x1" and rows[1][1] < rows[0][1]


# ---- the smallest spec, stores and resume ----

def test_smallest_spec_runs_as_written(tmp_path):
    p = spec_file(tmp_path, SMALLEST)
    res = CliRunner().invoke(app, ["sweep", str(p), "--out", str(tmp_path / "r.duckdb"), "--json"])
    assert res.exit_code == 0, res.output
    cols, rows = query(tmp_path / "r.duckdb", "SELECT * FROM results")
    assert len(rows) == 4
    for c in ("system", "tpot_slo_ms", "decode_tokens_per_s_per_chip", "decode_tpot_s", "plan_tp", "plan_ep",
              "superpod_version", "catalog_hash", "point_hash", "error"):
        assert c in cols
    _, rows = query(tmp_path / "r.duckdb", "SELECT tpot_slo_ms, decode_tpot_s FROM results")
    assert all(tpot <= slo / 1e3 for slo, tpot in rows)
    again = CliRunner().invoke(app, ["sweep", str(p), "--out", str(tmp_path / "r.duckdb")])
    assert again.exit_code == 2 and "--resume" in again.output
    res = CliRunner().invoke(app, ["sweep", str(p), "--out", str(tmp_path / "r.duckdb"), "--resume", "--json"])
    assert res.exit_code == 0 and '"skipped": 4' in res.output


def test_parquet_store_resume_and_rejected_points(tmp_path):
    p = spec_file(tmp_path, """\
        question = "serve"
        batch = 2
        [fixed]
        model = "deepseek-r1"
        phase = "decode"
        system = "gb200-nvl72"
        [axes]
        batch_per_chip = [8, 64, 100000]
        quant = ["fp8", "fp4"]
        """)
    spec = load(p)
    first = parse(p.read_text().replace("100000]", "100000]\n").replace('["fp8", "fp4"]', '["fp8"]'))
    s1 = run(first, tmp_path / "r.parquet")
    assert s1.written == 3 and s1.errors == 1  # 100,000 sequences per chip do not fit
    s2 = run(spec, tmp_path / "r.parquet", resume=True)
    assert (s2.skipped, s2.written) == (3, 3)
    _, rows = query(tmp_path / "r.parquet", "SELECT count(*), count(DISTINCT point_hash), count(error) FROM results")
    assert rows == [(6, 6, 2)]
    _, err = query(tmp_path / "r.parquet", "SELECT error FROM results WHERE error IS NOT NULL LIMIT 1")
    assert "does not fit" in err[0][0]


DRIVER = """
import sys, time
from superpod.planners.sweep import load, run
def progress(done, total):
    print(done, total, flush=True)
    time.sleep(0.2)  # room for the test's kill -9 to land mid-sweep
run(load(sys.argv[1]), sys.argv[2], resume=True, progress=progress)
"""


@pytest.mark.parametrize("store", ["r.duckdb", "r.parquet"])
def test_resume_after_kill_9_of_the_driver(tmp_path, store):
    p = spec_file(tmp_path, """\
        question = "serve"
        batch = 2
        [fixed]
        model = "deepseek-r1"
        phase = "decode"
        [axes]
        system = ["cloudmatrix384", "gb200-nvl72"]
        tpot_slo_ms = [20, 30, 40, 50, 60, 70, 80, 90, 100, 120]
        """)
    out = tmp_path / store
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(p), str(out)], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if int(line.split()[0]) > 0:  # the first batch is stored: kill the driver mid-sweep
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    _, (n,) = query(out, "SELECT count(*) FROM results")
    assert 0 < n[0] < 20
    s = run(load(p), out, resume=True)
    assert s.skipped == n[0] and s.written == 20 - n[0]
    _, rows = query(out, "SELECT count(*), count(DISTINCT point_hash) FROM results")
    assert rows == [(20, 20)]
    clean = tmp_path / ("clean" + out.suffix)  # every point once, with the values of an uninterrupted run
    run(load(p), clean)
    cols = "point_hash, system, tpot_slo_ms, decode_tokens_per_s_per_chip, decode_tpot_s, plan_ep, error"
    assert query(out, f"SELECT {cols} FROM results ORDER BY 1") == query(clean, f"SELECT {cols} FROM results ORDER BY 1")


# ---- query and plot ----

def test_query_and_plot(tmp_path):
    p = spec_file(tmp_path, SMALLEST.replace("tpot_slo_ms = [30, 50]", "batch_per_chip = [16, 32]"))
    run(load(p), tmp_path / "r.duckdb")
    r = CliRunner()
    res = r.invoke(app, ["query", str(tmp_path / "r.duckdb"), "SELECT system, batch_per_chip FROM results ORDER BY 1, 2",
                         "--csv"])
    assert res.exit_code == 0 and res.output.splitlines()[:2] == ["system,batch_per_chip", "cloudmatrix384,16.0"]
    res = r.invoke(app, ["query", str(tmp_path / "r.duckdb"), "SELECT nope FROM results"])
    assert res.exit_code == 2 and "query failed" in res.output
    for ext in ("png", "html"):
        res = r.invoke(app, ["plot", "sweep", str(tmp_path / "r.duckdb"), "--x", "batch_per_chip",
                             "--y", "decode_tokens_per_s_per_kw", "--color", "system", "--out", str(tmp_path / f"p.{ext}")])
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"p.{ext}").stat().st_size > 1000


def test_local_process_pool_matches_one_process(tmp_path):
    p = spec_file(tmp_path, """\
        question = "serve"
        batch = 3
        [fixed]
        model = "llama3-70b"
        phase = "both"
        [axes]
        system = ["h200-cluster", "gb200-nvl72"]
        input_len = [1024, 4096]
        output_len = [256, 1024]
        """)
    run(load(p), tmp_path / "one.duckdb")
    s = run(load(p), tmp_path / "two.parquet", workers=2)
    assert s.written == 8
    cols = "point_hash, both_output_tokens_per_s_per_chip, both_tpot_s, plan_tp, error"
    assert (query(tmp_path / "one.duckdb", f"SELECT {cols} FROM results ORDER BY 1")[1] ==
            query(tmp_path / "two.parquet", f"SELECT {cols} FROM results ORDER BY 1")[1])


def test_train_and_scenario_questions(tmp_path):
    p = spec_file(tmp_path, """\
        question = "train"
        [fixed]
        model = "llama3-8b"
        system = "dgx-h100-superpod"
        chips = 64
        [axes]
        tp = [1, 2]
        chip.bf16_flops = ["x1", "x2"]
        """)
    run(load(p), tmp_path / "t.duckdb")
    _, rows = query(tmp_path / "t.duckdb", "SELECT tp, plan_tp, chip_bf16_flops, tokens_per_s, error FROM results ORDER BY 1, 3")
    assert [r[0] for r in rows] == [r[1] for r in rows] == [1, 1, 2, 2] and all(r[4] is None for r in rows)
    assert rows[1][3] > rows[0][3] and rows[3][3] > rows[2][3]  # twice the FLOP/s: more tokens/s
    p = spec_file(tmp_path, 'question = "scenario"\n[fixed]\nfast = true\n[axes]\nrestart_s = [60, 600]\n', "s.toml")
    run(load(p), tmp_path / "s.duckdb")
    _, rows = query(tmp_path / "s.duckdb", "SELECT restart_s, scenario, json_array_length(builds) FROM results ORDER BY 1")
    assert rows == [(60.0, "huaweiopolis", 3), (600.0, "huaweiopolis", 3)]


def test_a_whatif_kernel_handle_never_serves_the_plain_chip():
    """The kernel fits' handle (cost/kernel_costs.resolve) holds the chip's facts: one made under a
    chip.* override must not be reused for the plain chip, nor the reverse, in one process."""
    from superpod.cost.kernel_costs import resolve
    from superpod.serving.framework import framework
    from superpod.spec import whatif

    choice = framework("tensorrt-llm", "gb200").kernels
    with whatif.overriding({"chip.hbm_Bps": 16e12}):
        fast = resolve("gb200", choice)
    plain = resolve("gb200", choice)
    assert fast is not plain and fast.hw["hbm_Bps"] == 16e12 and plain.hw["hbm_Bps"] < 16e12
    assert resolve("gb200", choice) is plain  # still cached per chip and facts
