"""Hostile-input fuzz suite (issue 15): every command and the Python API over bad inputs.

Each generated input must end in either a valid result (which then passes the result
invariants below) or one line ``error: ...`` on stderr with exit code 2: never a
traceback, never a hang (a per-example alarm at 10 s of CPU time, 60 s of wall time), never a changed input file.
Runs in-process through ``typer.testing.CliRunner`` and ``import superpod as sp``.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from typer.testing import CliRunner

import superpod as sp
from superpod.errors import SuperpodError
from superpod.faces.cli import app

TIMEOUT_S = 10
WALL_S = 60
def FUZZ(n: int):
    """Settings of a fuzz test with ``n`` examples (reproducible, no example database)."""
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None, phases=[Phase.explicit, Phase.generate])
runner = CliRunner()


@contextmanager
def alarm(what: str):
    """Fail (not hang) when one example runs past TIMEOUT_S of this process's CPU time (a busy machine's
    other work does not count), or past WALL_S of wall time (a hang that waits instead of computing)."""

    def boom(*_):
        raise TimeoutError(f"hang (> {TIMEOUT_S} s CPU or {WALL_S} s wall): {what}")

    old = signal.signal(signal.SIGPROF, boom), signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_PROF, TIMEOUT_S)
    signal.alarm(WALL_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.alarm(0)
        signal.signal(signal.SIGPROF, old[0])
        signal.signal(signal.SIGALRM, old[1])


# ---------------------------------------------------------------------------- invariants

NONNEG_SUFFIX = ("_s", "_bytes", "_w", "_j", "_per_s", "_per_chip", "_per_kw", "_usd", "chips", "ranks", "_flops",
                 "_Bps", "_tokens", "_per_token", "_kw")
UNIT = ("mfu", "hfu", "utilisation", "utilization", "cache_hit", "goodput_fraction", "hit_rate", "chip_share",
        "capacity_hit_ratio")


def check_invariants(obj, where: str) -> None:
    """No NaN/inf, no negative time/size/throughput/count, MFU and utilisations in [0, 1]
    (2 for FP8 against the BF16 peak), memory within HBM, FLOP/s per chip under the peak.
    A failure names the path and the inputs (``where``) to reproduce it."""
    bad: list[str] = []

    def walk(o, path: str, key: str) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}.{k}", str(k))
            if isinstance(o.get("memory_per_chip_bytes"), (int, float)) and isinstance(o.get("hbm_bytes"), (int, float)):
                if o["memory_per_chip_bytes"] > o["hbm_bytes"] * 1.0001:
                    bad.append(f"{path}: memory {o['memory_per_chip_bytes']} > HBM {o['hbm_bytes']}")
            tf, peak = o.get("tflops_per_chip"), o.get("peak_bf16_flops_per_chip")
            if isinstance(tf, (int, float)) and isinstance(peak, (int, float)):
                limit = 2 if o.get("precision") == "fp8" else 1
                if tf * 1e12 > limit * peak * 1.0001:
                    bad.append(f"{path}: {tf} TFLOP/s per chip above the roofline {peak / 1e12 * limit}")
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]", key)
        elif isinstance(o, bool) or o is None or isinstance(o, str):
            return
        elif isinstance(o, (int, float)):
            if not math.isfinite(o):
                bad.append(f"{path} = {o}")
            elif o < 0 and key.endswith(NONNEG_SUFFIX):
                bad.append(f"{path} = {o} < 0")
            elif any(key == u or key.endswith("_" + u) or key.startswith(u + "_") for u in UNIT) and not (
                    key.endswith(NONNEG_SUFFIX) or key.startswith(("mfu_", "hfu_"))):
                if not 0 <= o <= 2:
                    bad.append(f"{path} = {o} outside [0, 1]")

    walk(obj, "", "")
    FIGURES["results"] += 1
    bad += serving_roofline(obj)
    assert not bad, f"impossible result for {where}: " + "; ".join(bad[:5])


def _specs(model: str, chip: str):
    """(active parameters, HBM bytes/s, dense, share of full-attention layers) of a record's model and
    chip, or None (a model from a file). The KV a step must read is that of its full-attention layers:
    a sliding-window layer reads only its window, whatever the cache holds for it."""
    from superpod.cost.hardware import Hardware
    from superpod.spec.catalog import load_chip, load_model

    try:
        m = load_model(model)
        full = 1.0 - (len(m.sliding_window_layers) / m.layers if m.sliding_window else 0.0)
        return m.active_params, Hardware.of_chip(load_chip(chip)).hbm_Bps, m.moe is None, full
    except SuperpodError:
        return None


def serving_roofline(obj, path: str = "") -> list[str]:
    """Every serving record (at any depth) under its rooflines, per chip: a decode step reads at
    least the KV cache its full-attention layers hold (and, on a dense model, all its weights) at the HBM bandwidth;
    output tokens, and the prompt tokens not served from the prefix cache, cost at least
    2 x active parameters FLOPs each at the peak of the precision used (``peak_flops_per_chip``)."""
    out: list[str] = []
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            out += serving_roofline(v, f"{path}[{i}]")
        return out
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if isinstance(v, (dict, list)) and k not in ("decode", "prefill", "both"):
            out += serving_roofline(v, f"{path}.{k}")
    peak = obj.get("peak_flops_per_chip")
    if not isinstance(peak, (int, float)) or not any(k in obj for k in ("decode", "prefill", "both")):
        return out
    specs = _specs(obj.get("model"), obj.get("chip"))
    if specs is None:
        return out
    FIGURES["serving"] += 1
    active, hbm_Bps, dense, full = specs
    hit = (obj.get("plan") or {}).get("cache_hit", 0.0) or 0.0
    tol = 1.0001
    for phase in ("decode", "prefill", "both"):
        r = obj.get(phase)
        if not isinstance(r, dict):
            continue
        where = f"{path}.{phase}"
        if phase == "decode":
            tokens = r.get("tokens_per_s_per_chip")
        elif phase == "prefill":
            tokens = r.get("computed_tokens_per_s_per_chip", r.get("tokens_per_s_per_chip"))
        else:
            tokens = (r.get("output_tokens_per_s_per_chip") or 0) + (r.get("input_tokens_per_s_per_chip") or 0) * (1 - hit)
        if isinstance(tokens, (int, float)) and tokens * 2 * active > peak * tol:
            out.append(f"{where}: {tokens:,.0f} tokens/s per chip x 2 x {active:.3g} active params = "
                       f"{tokens * 2 * active / 1e12:,.0f} TFLOP/s above the peak {peak / 1e12:,.0f}")
        step = r.get("step_s")
        if phase in ("decode", "both") and isinstance(step, (int, float)):
            read = (r.get("kv_bytes_per_chip") or 0) * full + ((r.get("weight_bytes_per_chip") or 0) if dense else 0)
            if read > step * hbm_Bps * tol:
                out.append(f"{where}: a {step * 1e3:.3g} ms step reads {read / 1e9:,.1f} GB per chip, above "
                           f"{hbm_Bps / 1e12:.2f} TB/s x step = {step * hbm_Bps / 1e9:,.1f} GB")
    return out


def _json(text: str, where: str):
    def const(c):
        raise AssertionError(f"non-finite {c} in JSON for {where}")

    return json.loads(text, parse_constant=const)


# ---------------------------------------------------------------------------- CLI driver

#: what the suite tried, for issue 15's closing note (``pytest tests/test_fuzz.py -s`` prints it)
FIGURES: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def _figures():
    yield
    print(f"\nfuzz figures: {FIGURES['inputs']} inputs, {FIGURES['results']} results checked against the invariants "
          f"({FIGURES['serving']} serving records under the roofline), {FIGURES['refused']} one-line refusals; "
          "0 tracebacks, 0 hangs, 0 impossible results (any would have failed a test)")


def run_cli(args: list[str], files: list[Path] = ()) -> None:
    """Invoke the CLI in-process; assert the contract. ``files`` must be left unchanged."""
    FIGURES["inputs"] += 1
    where = "superpod " + " ".join(repr(a) if (" " in a or not a) else a for a in args)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    with alarm(where), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a numpy warning must not reach the user
        r = runner.invoke(app, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback
        tb = "".join(traceback.format_exception(r.exception))
        pytest.fail(f"traceback for {where}:\n{tb}")
    assert r.exit_code in (0, 2) or (args[:1] == ["validate"] and r.exit_code == 1), f"exit {r.exit_code} for {where}: {r.stderr[-500:]}"
    if r.exit_code == 2 and not r.stderr.strip() and "Usage" in r.stdout:
        pass  # a command group given no sub-command prints its help (click's no_args_is_help)
    elif r.exit_code == 2:
        err = r.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err, f"not one line for {where}: {err[:600]!r}"
        FIGURES["refused"] += 1
    elif "--json" in args and "--help" not in args:
        check_invariants(_json(r.stdout, where), where)
    for p, h in before.items():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == h, f"{where} changed {p}"


BAD_NUMBERS = ["-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e308", "1e-320", "2.5", "99999999999999999999",
               "9223372036854775808", "abc", "", "true", " 8", "0x10", "1_0", "-5"]
GOOD_NUMBERS = ["1", "2", "4", "8", "16", "64", "128"]
BAD_STRINGS = ["", "nope", "BF16", "fp16", "\x00", "é", "a" * 300, "-", "../../etc/passwd", "1", "None"]

TRAIN = ["train", "llama3-8b", "gb200-nvl72"]
COMMANDS = {
    "train": (TRAIN, ["--chips", "--seq-len", "--global-batch", "--global-batch-tokens", "--tp", "--pp", "--vpp",
                      "--dp", "--zero", "--ep", "--cp", "--micro-batch", "--top"],
              ["--schedule", "--recompute", "--precision", "--framework"]),
    "train-moe": (["train", "deepseek-v3", "gb200-nvl72"], ["--ep", "--tp", "--pp", "--zero", "--micro-batch",
                                                             "--power-limit-w"], ["--dispatcher"]),
    "train-power": (["train", "llama3-8b", "dgx-h100-superpod@8"], ["--power-limit-w"], ["--dispatcher"]),
    "serve": (["serve", "llama3-8b", "gb200-nvl72"],
              ["--chips", "--input-len", "--output-len", "--kv-len", "--cache-hit", "--batch-per-chip",
               "--concurrency", "--tpot-slo-ms", "--ttft-slo-ms", "--tp", "--moe-tp", "--moe-ep", "--ep",
               "--dp-attention", "--mtp", "--mtp-accept", "--rate"],
              ["--phase", "--quant", "--kv-dtype", "--eplb", "--framework"]),
    "serve-moe": (["serve", "deepseek-v3", "gb200-nvl72"], ["--tp", "--moe-ep", "--dp-attention", "--mtp",
                                                           "--mtp-accept", "--batch-per-chip"], ["--phase"]),
    "simulate": (["simulate", "llama3-8b", "gb200-nvl72", "--rate", "2", "--requests", "50"],
                 ["--rate", "--requests", "--input-len", "--output-len", "--chips", "--mtp", "--mtp-accept",
                  "--tpot-slo-ms", "--ttft-slo-ms", "--seed"],
                 ["--input-dist", "--output-dist", "--mode", "--quant", "--kv-dtype", "--framework"]),
    "scale": (["scale", "llama3-8b", "gb200-nvl72", "--fast"],
              ["--chips", "--days", "--tokens", "--seq-len", "--global-batch", "--pue", "--electricity",
               "--amortisation-years", "--capex-per-chip", "--failure-scale", "--restart-s",
               "--serve-tokens-per-s-per-chip", "--serve-tpot-ms"], ["--precision", "--framework", "--electricity"]),
    "train-layout": (["train", "llama3-8b", "dgx-h100-superpod@64"], ["--tp", "--pp", "--cp", "--dp", "--vpp", "--ep"],
                     ["--schedule"]),
    "serve-prefill": (["serve", "llama3-8b", "gb200-nvl72", "--phase", "prefill"],
                      ["--kv-len", "--mtp", "--cache-hit", "--dp-attention", "--moe-ep", "--moe-tp", "--tp"], ["--eplb"]),
    "serve-moe-layout": (["serve", "deepseek-v3", "gb200-nvl72", "--phase", "pd"],
                         ["--tp", "--dp-attention", "--moe-ep", "--moe-tp", "--cache-hit"], ["--eplb"]),
    "compare": (["compare", "cloudmatrix384", "gb200-nvl72"], ["--chips"], []),
    "scenario": (["scenario", "--fast"], ["--tokens", "--seq-len", "--global-batch", "--pue", "--failure-scale",
                                         "--restart-s", "--electricity"], ["--model", "--nvidia", "--precision"]),
}
DISTS = ["fixed:nan", "fixed:inf", "exp:1e300", "uniform:1,1e30", "lognormal:-100,1", "uniform:100,10",
         "normal:100,-10", "fixed:-5", "exp:0", "normal:1e308,1e308", "lognormal:100,1e3", "fixed:", "zipf:1",
         "uniform:1", "fixed:1e20"]


@st.composite
def cli_inputs(draw):
    name = draw(st.sampled_from(sorted(COMMANDS)))
    base, nums, strs = COMMANDS[name]
    args = list(base)
    for _ in range(draw(st.integers(1, 3))):
        if strs and draw(st.booleans()) and draw(st.booleans()):
            flag = draw(st.sampled_from(strs))
            pool = DISTS + BAD_STRINGS if flag.endswith("-dist") else BAD_STRINGS
            args += [flag, draw(st.sampled_from(pool))]
        else:
            flag = draw(st.sampled_from(nums))
            args += [flag, draw(st.sampled_from(BAD_NUMBERS + GOOD_NUMBERS))]
    if draw(st.booleans()):
        args.append("--json")
    return args


@FUZZ(1500)
@given(cli_inputs())
def test_fuzz_cli_options(args):
    run_cli(args)


@FUZZ(150)
@given(st.sampled_from(["chips", "systems", "models", "show", "compare", "train", "serve", "simulate", "scale",
                        "scenario", "plot", "claims", "validate"]),
       st.lists(st.sampled_from(["--nope", "-x", "--json", "--chips", "abc", "--help", "--tp=abc", "--", "\x00",
                                 "nope@8", "gb200-nvl72@0", "gb200-nvl72@-1", "gb200-nvl72@abc", "llama3-8b@2",
                                 "a" * 300, "x/" + "b" * 300 + ".toml", "/dev/null", "/", "nope.json",
                                 "gb200-nvl72@99999999999999999999", "gb200-nvl72@1e9"]),
                max_size=3))
def test_fuzz_cli_parse(cmd, rest):
    run_cli([cmd, *rest])


# ---------------------------------------------------------------------------- files

NESTED = "[" * 5000 + "]" * 5000


@st.composite
def bad_files(draw):
    kind = draw(st.sampled_from(["binary", "latin1", "utf16", "nested-json", "nested-toml", "config", "toml",
                                 "empty", "huge"]))
    if kind == "binary":
        return ".json", bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=64)))
    if kind == "latin1":
        return draw(st.sampled_from([".toml", ".json"])), 'name = "caf\xe9"\n'.encode("latin-1")
    if kind == "utf16":
        return ".json", '{"hidden_size": 4096}'.encode("utf-16")
    if kind == "nested-json":
        return ".json", ('{"a": ' * 3000 + "1" + "}" * 3000).encode()
    if kind == "nested-toml":
        return ".toml", ("a = " + NESTED + "\n").encode()
    if kind == "empty":
        return draw(st.sampled_from([".toml", ".json"])), b""
    if kind == "huge":
        return ".json", b'{"x": "' + b"a" * (9 << 20) + b'"}'
    base = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
            "max_position_embeddings": 8192}
    key = draw(st.sampled_from(sorted(base)))
    base[key] = draw(st.sampled_from([0, -1, "32", [32], 1e300, 10 ** 30, True, None, {}, 2.5, 10 ** 9, float("nan")]))
    if kind == "config":
        return ".json", json.dumps(base).encode()
    return ".toml", "".join(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}\n"
                             for k, v in base.items() if v is not None and not isinstance(v, (dict, float)) or
                             isinstance(v, float) and math.isfinite(v)).encode()


@FUZZ(120)
@given(bad_files(), st.sampled_from(["show", "train", "serve"]))
def test_fuzz_files(tmp_path_factory, f, cmd):
    suffix, data = f
    path = tmp_path_factory.mktemp("fz") / ("config" + suffix if suffix == ".json" else "model" + suffix)
    path.write_bytes(data)
    args = {"show": ["show", str(path)], "train": ["train", str(path), "gb200-nvl72", "--tp", "2"],
            "serve": ["serve", str(path), "gb200-nvl72"]}[cmd]
    run_cli(args, files=[path])


# ---------------------------------------------------------------------------- Python API

API_VALUES = [-1, 0, 2.5, float("nan"), float("inf"), -float("inf"), 10 ** 20, 2 ** 63, True, False, "no", "4096", "",
              None, [], {}, 1e-320, "nope", object()]
API = {
    "train": (lambda **k: sp.train("llama3-8b", "gb200-nvl72", **k),
              ["chips", "seq_len", "tp", "pp", "dp", "cp", "ep", "zero", "micro_batch", "top", "sp", "precision",
               "schedule", "recompute", "tensor_parallel", "global_batch"]),
    "serve": (lambda **k: sp.serve("llama3-8b", "gb200-nvl72", **k),
              ["input_len", "output_len", "kv_len", "tp", "mtp", "mtp_accept", "overlap", "batch_per_chip",
               "concurrency", "tpot_slo_s", "cache_hit", "quant", "phase", "chips"]),
    "scale": (lambda **k: sp.scale("llama3-8b", "gb200-nvl72", fast=True, **k),
              ["pue", "tokens", "days", "electricity", "failure_scale", "restart_s", "chips"]),
    "compare": (lambda **k: sp.compare(k.pop("systems", ["cloudmatrix384", "gb200-nvl72"]), **k), ["systems", "chips"]),
    "show": (lambda **k: sp.show(k["ref"]), ["ref"]),
    "serve-valid": (lambda **k: sp.serve(k.pop("model"), k.pop("system"), **k), []),
    "simulate": (lambda **k: sp.simulate("llama3-8b", "gb200-nvl72", **({"rate": 2.0, "requests": 40} | k)),
                 ["rate", "requests", "seed", "input_dist", "mtp", "chips", "tpot_slo_s"]),
}


def api_call(name: str, kwargs: dict) -> None:
    f, _ = API[name]
    FIGURES["inputs"] += 1
    where = f"sp.{name}(**{kwargs!r})"
    with alarm(where), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            r = f(**kwargs)
        except SuperpodError as e:
            assert "\n" not in str(e), f"multi-line error for {where}"
            FIGURES["refused"] += 1
            return
    d = r.to_dict() if hasattr(r, "to_dict") else r
    check_invariants(json.loads(json.dumps(d, default=str)), where)


@FUZZ(400)
@given(st.sampled_from(sorted(k for k in API if API[k][1])), st.data())
def test_fuzz_api(name, data):
    keys = API[name][1]
    key = data.draw(st.sampled_from(keys))
    value = data.draw(st.sampled_from(API_VALUES + ([[], ["gb200-nvl72"]] if key == "systems" else [])))
    api_call(name, {key: value})


@FUZZ(400)
@given(st.sampled_from(["llama3-8b", "llama3-70b", "deepseek-v3", "qwen3-235b-a22b", "gpt-oss-120b"]),
       st.sampled_from(["gb200-nvl72", "dgx-h100-superpod", "cloudmatrix384", "mi300x-cluster", "h200-cluster"]),
       st.sampled_from(["decode", "prefill", "both", "pd"]), st.data())
def test_fuzz_serving_under_the_roofline(model, system, phase, data):
    """Plausible serving requests (valid values, mixed freely): every estimate obeys the invariants
    and the serving roofline (:func:`serving_roofline`), or is refused in one line."""
    kw: dict = {"phase": phase}
    pool = {"input_len": [128.0, 1024.0, 8192.0, 65536.0], "output_len": [16.0, 256.0, 4096.0],
            "tp": [1, 2, 4, 8], "quant": ["bf16", "fp8", "int8", "fp4"], "chips": [8, 16, 72],
            "kv_dtype": ["bf16", "fp8"]}
    if phase in ("decode", "both"):
        pool |= {"batch_per_chip": [1.0, 8.0, 64.0, 512.0], "mtp": [1, 2, 3]}
    if phase != "decode":
        pool |= {"cache_hit": [0.3, 0.9]}
    for key in data.draw(st.lists(st.sampled_from(sorted(pool)), max_size=3, unique=True)):
        kw[key] = data.draw(st.sampled_from(pool[key]))
    api_call("serve-valid", {"model": model, "system": system, **kw})


# ---------------------------------------------------------------------------- regressions (issue 15 classes)

@pytest.mark.parametrize("args", [
    TRAIN + ["--micro-batch", "-1"], TRAIN + ["--pp", "-1"], TRAIN + ["--tp", "0"], TRAIN + ["--tp", "-1"],
    TRAIN + ["--cp", "0"], TRAIN + ["--pp", "64"], TRAIN + ["--zero", "4"], TRAIN + ["--top", "0"],
    TRAIN + ["--ep", "8"],
    TRAIN + ["--tp", "9223372036854775808"], TRAIN + ["--chips", "abc"],
    ["serve", "llama3-8b", "gb200-nvl72", "--batch-per-chip", "0"],
    ["serve", "llama3-8b", "gb200-nvl72", "--concurrency", "0"],
    ["serve", "llama3-8b", "gb200-nvl72", "--input-len", "-4096"],
    ["serve", "llama3-8b", "gb200-nvl72", "--tpot-slo-ms", "0"],
    ["scale", "llama3-8b", "gb200-nvl72", "--pue", "nan"],
    ["scale", "llama3-8b", "gb200-nvl72", "--electricity", "-1"],
    ["scale", "llama3-8b", "gb200-nvl72", "--failure-scale", "1e-320"],
    ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "nan", "--requests", "10"],
    ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "1", "--requests", "10", "--input-dist", "exp:1e300"],
    ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "1", "--requests", "10", "--seed", "-1"],
    ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "1", "--requests", "10", "--input-dist", "uniform:100,10"],
    ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "1", "--requests", "10", "--input-dist", "normal:100,-10"],
    ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "1", "--requests", "10", "--input-dist", "lognormal:-100,1"],
    ["serve", "llama3-8b", "gb200-nvl72", "--mtp-accept", "0.7"],
    ["serve", "llama3-8b", "gb200-nvl72", "--phase", "pd", "--batch-per-chip", "8"],
    ["serve", "llama3-8b", "gb200-nvl72", "--phase", "pd", "--concurrency", "8"],
    ["serve", "llama3-8b", "gb200-nvl72", "--phase", "prefill", "--tpot-slo-ms", "50"],
    ["serve", "llama3-8b", "gb200-nvl72", "--rate", "3"],
    ["serve", "llama3-8b", "gb200-nvl72", "--quant", ""],
    ["scale", "llama3-8b", "gb200-nvl72", "--tokens", "inf"],
    ["compare", "cloudmatrix384", "--chips", "99999999999999999999"],
    ["scenario", "--fast", "--model", "a" * 300],
    ["show", "x/" + "b" * 300 + ".toml"],
    ["plot", "scaling", "llama3-8b", "gb200-nvl72", "--out", "/proc/x.png"],
    ["plot", "scaling", "llama3-8b", "gb200-nvl72", "--out", "nodir/a.png"],
    ["plot", "scaling", "llama3-8b", "gb200-nvl72", "--out", "x.png", "--workers", "0"],
])
def test_issue15_rejected(args):
    with alarm(" ".join(args)):
        r = runner.invoke(app, args)
    err = r.stderr.strip()
    assert r.exit_code == 2 and err.startswith("error: ") and "\n" not in err, (args, r.stderr, r.exception)


@pytest.mark.parametrize("call", [
    lambda: sp.train("llama3-8b", "gb200-nvl72", tensor_parallel=8),
    lambda: sp.train("llama3-8b", "gb200-nvl72", precision="fp16"),
    lambda: sp.train("llama3-8b", "gb200-nvl72", tp=2.5),
    lambda: sp.train("llama3-8b", "gb200-nvl72", sp="no"),
    lambda: sp.train("llama3-8b", "gb200-nvl72", tp=True),
    lambda: sp.train("llama3-8b", "gb200-nvl72", schedule="nope"),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", input_len="4096"),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", mtp=1.7),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", overlap="no"),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", quant=""),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", mtp_accept=0.8),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", ttft_slo_s=0.5),  # decode phase: no TTFT
    lambda: sp.serve("llama3-8b", "gb200-nvl72", phase="prefill", tpot_slo_s=0.05),
    lambda: sp.serve("llama3-8b", "gb200-nvl72", rate=3.0),
    lambda: sp.compare([]),
    lambda: sp.show(None), lambda: sp.show(5),
    lambda: sp.scale("llama3-8b", "gb200-nvl72", pue=float("nan")),
    lambda: sp.scale("llama3-8b", "gb200-nvl72", electricity=-1.0),
])
def test_issue15_api_rejected(call):
    with pytest.raises(SuperpodError) as e:
        call()
    assert "\n" not in str(e.value)


def test_plot_out_onto_a_directory(tmp_path):
    d = tmp_path / "d.png"
    d.mkdir()
    r = runner.invoke(app, ["plot", "scaling", "llama3-8b", "gb200-nvl72", "--out", str(d)])
    assert r.exit_code == 2 and "is a directory" in r.stderr


def test_one_request_has_a_throughput():
    r = sp.simulate("llama3-8b", "gb200-nvl72", rate=1.0, requests=1).to_dict()
    assert r["throughput_output_tokens_per_s"] > 0


def test_valid_estimates_pass_the_invariants():
    r = runner.invoke(app, TRAIN + ["--tp", "2", "--json"])
    assert r.exit_code == 0
    check_invariants(json.loads(r.stdout), "train")
    for args in (["serve", "deepseek-v3", "gb200-nvl72"], ["serve", "llama3-8b", "gb200-nvl72", "--phase", "pd"],
                 ["scale", "llama3-8b", "gb200-nvl72", "--fast"],
                 ["simulate", "llama3-8b", "gb200-nvl72", "--rate", "2", "--requests", "100", "--no-progress"]):
        r = runner.invoke(app, [*args, "--json"])
        assert r.exit_code == 0, (args, r.stderr)
        check_invariants(json.loads(r.stdout), " ".join(args))


# ---------------------------------------------------------------------------- catalog file validation

MODEL_TOML = (Path(__file__).parents[1] / "src/superpod/catalog/models/llama3-8b.toml").read_text()


@pytest.mark.parametrize("old,new", [
    ("layers = 32", "layers = true"), ("layers = 32", "layers = 1_000_000_000"), ("layers = 32", "layers = 32.5"),
    ("value = 8e9", "value = true"), ("value = 8e9", "value = inf"), ("value = 8e9", "value = 1e300"),
    ("hidden = 4096", 'hidden = "4096"'),
])
def test_catalog_file_strict(tmp_path, old, new):
    assert old in MODEL_TOML
    p = tmp_path / "m.toml"
    p.write_text(MODEL_TOML.replace(old, new, 1))
    run_cli(["show", str(p)], files=[p])
    r = runner.invoke(app, ["show", str(p)])
    assert r.exit_code == 2, (new, r.stdout[:300])


def test_counts_are_whole():
    from superpod.spec.quantity import Count
    from pydantic import TypeAdapter, ValidationError
    with pytest.raises(ValidationError, match="whole number"):
        TypeAdapter(Count).validate_python({"value": 7.5, "unit": "count", "source": "test", "confidence": "U"})
