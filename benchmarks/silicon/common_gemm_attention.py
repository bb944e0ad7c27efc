"""Shared helpers of the GEMM / attention / MLA fits: table loading, hardware facts, error metrics, TOML.

Tables: AIConfigurator perf database, ``<root>/<system>/<group>/<framework>/<version>/<op>.parquet``
(Apache-2.0). Latency in the tables is milliseconds per call; everything here is seconds.

Hardware facts per GPU (what the models need from the chip catalog):
  * dense tensor-core peak per dtype class (bf16, fp8, fp4) and HBM bandwidth: read from the
    ``system.yaml`` beside the tables (AIConfigurator's spec of that GPU; datasheet dense values);
  * SM count: ``SM_COUNT`` below, with its source.
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np
import pandas as pd

#: SMs per GPU. H100/H200 SXM5: 132 (NVIDIA H100 Tensor Core GPU Architecture whitepaper). B200 (HGX and
#: GB200): 148 (NVIDIA Blackwell architecture technical brief; CUDA deviceQuery). B300/GB300: 160 SMs on the
#: full Blackwell Ultra die (NVIDIA Hot Chips 2025 / developer blog); the enabled count of the product is
#: not published in our sources, 148 is assumed (same as B200) -> confidence C.
SM_COUNT = {"h100_sxm": 132, "h200_sxm": 132, "b200_sxm": 148, "gb200": 148, "b300_sxm": 148, "gb300": 148}
GPUS = tuple(SM_COUNT)


def hardware(root: str, system: str) -> dict:
    """Hardware facts of one GPU from the system.yaml beside its tables (regex: no YAML dependency)."""
    text = open(os.path.join(root, system, "system.yaml")).read()

    def num(key: str, default: float = 0.0) -> float:
        m = re.search(rf"^\s*{key}:\s*([0-9.eE+]+)", text, re.M)
        return float(m.group(1)) if m else default

    return {
        "peak_flops": {"bf16": num("bfloat16_tc_flops"), "fp8": num("fp8_tc_flops"), "fp4": num("fp4_tc_flops")},
        "hbm_Bps": num("mem_bw"),
        "sm_count": SM_COUNT[system],
        "arch": f"sm{int(num('sm_version')) // 10 * 10}",
        "source": f"AIConfigurator system spec {system}/system.yaml; SM count: see SM_COUNT",
    }


def load(root: str, op: str) -> pd.DataFrame:
    """All rows of one table over every GPU and framework, with ``system``, ``table`` and ``t_s``."""
    parts = []
    for path in sorted(glob.glob(os.path.join(root, "*", "*", "*", "*", f"{op}.parquet"))):
        rel = os.path.relpath(path, root).split(os.sep)
        d = pd.read_parquet(path)
        d["system"] = rel[0]
        d["table"] = "/".join(rel[:4])
        parts.append(d)
    if not parts:
        raise SystemExit(f"no {op}.parquet under {root}")
    d = pd.concat(parts, ignore_index=True)
    d["t_s"] = d["latency"].astype(float) * 1e-3
    return d


def errors(pred_s, meas_s) -> np.ndarray:
    """Absolute relative error per row."""
    return np.abs(np.asarray(pred_s) - np.asarray(meas_s)) / np.asarray(meas_s)


def summary(err: np.ndarray) -> tuple[int, float, float]:
    """(rows, MAPE %, p90 %)."""
    if len(err) == 0:
        return 0, float("nan"), float("nan")
    return len(err), 100 * float(np.mean(err)), 100 * float(np.percentile(err, 90))


def report(d: pd.DataFrame, by: list[str], ranges: dict | None = None, worst: int = 3,
           shape_cols: list[str] | None = None, out=print) -> pd.DataFrame:
    """Print rows / MAPE / p90 per group (and per named row-range mask); returns the table."""
    rows = []
    for key, g in d.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(by, key))
        rec["rows"], rec["mape"], rec["p90"] = summary(g["err"].to_numpy())
        for name, mask in (ranges or {}).items():
            sub = g[mask(g)]
            _, rec[f"mape_{name}"], rec[f"p90_{name}"] = summary(sub["err"].to_numpy())
        if shape_cols and worst:
            w = g.nlargest(worst, "err")
            rec["worst"] = "; ".join(
                ",".join(f"{c}={r[c]}" for c in shape_cols) + f" {100 * r['err']:.0f}%" for _, r in w.iterrows())
        rows.append(rec)
    t = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_colwidth", 120, "display.max_rows", 500):
        out(t.round(1).to_string(index=False))
    return t


def toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if abs(v) >= 1e-3 or v == 0 else f"{float(v):.6e}"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{quote_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def quote_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else toml_value(str(k))


def write_toml(path: str, header: str, tables: dict[str, dict]) -> None:
    """Write ``{"a.b": {key: value}}`` as TOML sections ``[a.b]`` (keys quoted when needed)."""
    lines = [f"# {x}" if x else "#" for x in header.splitlines()] + [""]
    for name, body in tables.items():
        lines.append("[" + ".".join(quote_key(p) for p in name.split("|")) + "]")
        lines += [f"{quote_key(k)} = {toml_value(v)}" for k, v in body.items()]
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def stratified_sample(d: pd.DataFrame, by: list[str], n_per: int, seed: int = 0) -> pd.DataFrame:
    """Up to ``n_per`` random rows from each group."""
    shuffled = d.sample(frac=1.0, random_state=seed)
    return shuffled[shuffled.groupby(by, sort=False).cumcount() < n_per]
