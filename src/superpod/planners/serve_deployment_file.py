"""Deployment files: ``serve --save-deployment FILE.toml`` writes the chosen deployment and
``simulate --deployment FILE.toml`` reads it back (same model, system, formats and pools).

The file is plain TOML: the workload and formats at the top, then ``[prefill]`` and ``[decode]``
(or ``[replicas]``) tables with ``workers``, ``chips_per_worker``, ``tp``, ``moe_tp``, ``moe_ep``,
``dp_attention``, ``batch`` and the plan settings ``overlap``, ``mtp_k``, ``mtp_accept``, ``eplb``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from superpod.errors import InvalidOptionError

POOL_KEYS = ("workers", "chips_per_worker", "tp", "moe_tp", "moe_ep", "dp_attention", "batch")
PLAN_EXTRA = ("overlap", "mtp_k", "mtp_accept", "eplb")
TOP = ("model", "system", "chips", "quant", "kv_dtype", "framework", "input_len", "output_len", "slo_percentile",
       "capacity_requests_per_s", "mode")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_deployment(path: str | Path, rec: dict[str, Any]) -> None:
    """Write the ``deployment`` of serve record ``rec`` to ``path``."""
    plan, dep = rec["plan"], rec["deployment"] | {k: rec[k] for k in ("slo_percentile", "capacity_requests_per_s")}
    top = {"model": rec["model"], "system": rec["system"], "chips": rec["chips"], "quant": plan["quant"],
           "kv_dtype": plan["kv_dtype"], "framework": plan["framework"], "input_len": plan["input_len"],
           "output_len": plan["output_len"], "slo_percentile": dep["slo_percentile"],
           "capacity_requests_per_s": dep["capacity_requests_per_s"], "mode": dep["mode"]}
    lines = ["# superpod deployment (serve --save-deployment); read by: superpod simulate --deployment THIS_FILE"]
    lines += [f"{k} = {_value(v)}" for k, v in top.items()]
    for pool in ("prefill", "decode", "replicas"):
        if pool in dep:
            w = dep[pool]
            lines += ["", f"[{pool}]"] + [f"{k} = {_value(w[k])}" for k in POOL_KEYS + PLAN_EXTRA]
    Path(path).write_text("\n".join(lines) + "\n")


def read_deployment(path: str | Path) -> dict[str, Any]:
    """The file's settings and its deployment (pools with their plan rows); one-line errors."""
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise InvalidOptionError(f"deployment file {p} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidOptionError(f"deployment file {p} is not TOML: {e}") from None
    for k in ("model", "system", "mode"):
        if k not in d:
            raise InvalidOptionError(f"deployment file {p} has no {k!r}")
    pools = ("prefill", "decode") if d["mode"] == "pd" else ("replicas",) if d["mode"] == "colocated" else None
    if pools is None:
        raise InvalidOptionError(f"deployment file {p}: mode must be pd or colocated, not {d['mode']!r}")
    dep: dict[str, Any] = {"mode": d["mode"], "slo_percentile": d.get("slo_percentile", 90),
                           "capacity_requests_per_s": d.get("capacity_requests_per_s")}
    for pool in pools:
        w = d.get(pool)
        if not isinstance(w, dict):
            raise InvalidOptionError(f"deployment file {p} has no [{pool}] table")
        missing = [k for k in POOL_KEYS if k not in w]
        if missing:
            raise InvalidOptionError(f"deployment file {p} [{pool}] lacks {', '.join(missing)}")
        for k in ("workers", "chips_per_worker", "tp", "moe_tp", "moe_ep"):
            if not isinstance(w[k], int) or isinstance(w[k], bool) or w[k] < 1:
                raise InvalidOptionError(f"deployment file {p} [{pool}] {k} must be a whole number >= 1, got {w[k]!r}")
        if not isinstance(w["batch"], (int, float)) or not w["batch"] > 0:
            raise InvalidOptionError(f"deployment file {p} [{pool}] batch must be > 0, got {w['batch']!r}")
        plan = {"tp": w["tp"], "ep": w["moe_ep"], "dp": 1, "moe_tp": w["moe_tp"],
                "overlap": bool(w.get("overlap", False)), "mtp_k": int(w.get("mtp_k", 0)),
                "mtp_accept": float(w.get("mtp_accept", 0.0)), "eplb": w.get("eplb", "balanced")}
        dep[pool] = {k: w[k] for k in POOL_KEYS} | {"plan": plan}
    used = sum(dep[q]["workers"] * dep[q]["chips_per_worker"] for q in pools)
    dep |= {"chips_used": used, "chips_left": None, "nodes_used": None}
    return {k: d[k] for k in TOP if k in d} | {"deployment": dep}
