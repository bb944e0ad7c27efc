"""The server launch settings of a measured row that the row itself does not state: the flags
InferenceMAX's launch scripts pass to the engine (``catalog/validation/silicon/servers.toml``), as
superpod's scheduler and KV-cache settings.

An entry names a row group (backend, model, system, precision, and where the scripts changed, an
image substring or a measured-date range) and, per setting, one or more cases: the first whose
``when`` holds for the row gives the value (``value``, or ``expr`` over the row's ``isl``, ``osl``,
``conc``, ``tp``, ``dp`` and ``gpus``, as the script computes it); ``skip = true`` states that the
script versions disagree there, so the framework's default stays. Settings:

* ``kv_dtype`` (``fp8``/``bf16``): the KV-cache format (``make_ctx``; refused on a chip without it);
* ``token_budget`` (tokens per iteration: SGLang ``--chunked-prefill-size``, vLLM
  ``--max-num-batched-tokens``, TensorRT-LLM ``--max_num_tokens``);
* ``max_running`` (requests: ``--max-running-requests``, ``--max-num-seqs``, ``--max_batch_size``);
* ``mem_fraction`` (SGLang ``--mem-fraction-static``, vLLM ``--gpu-memory-utilization``,
  TensorRT-LLM ``free_gpu_memory_fraction``, each of what the engine takes it of:
  :meth:`superpod.serving.scheduling.Scheduler.usable_kv_bytes`);
* ``recv_interval`` / ``decode_steps`` (SGLang ``--scheduler-recv-interval``,
  ``--num-continuous-decode-steps``: :meth:`~superpod.serving.scheduling.Scheduler.interval`);
* ``batch_wait_iters`` / ``batch_wait_ratio`` and ``adp_balance_iters`` / ``adp_batching_wait_iters``
  (TensorRT-LLM batch waiting and attention-DP balance: :mod:`superpod.serving.holds`).

A row matches as :func:`superpod.planners.silicon_rows.harness` matches its harness: on
``silicon_data_source`` (the file's ``sources`` prefixes), then the entry's keys.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from superpod.planners.silicon_rows import measured_date
from superpod.spec.catalog import catalog_root, read_toml
from superpod.spec.quantity import Quantity

#: setting -> (unit the catalog writes, Quantity unit, Scheduler fields it sets)
SETTINGS = {
    "token_budget": ("tokens", "count", ("token_budget", "token_budget_large_hbm")),
    "max_running": ("requests", "count", ("max_running", "max_running_small_hbm")),
    "mem_fraction": ("ratio", "ratio", ("kv_mem_fraction",)),
    "recv_interval": ("iterations", "count", ("recv_interval",)),
    "decode_steps": ("iterations", "count", ("decode_steps",)),
    "batch_wait_iters": ("iterations", "count", ("batch_wait_iters",)),
    "batch_wait_ratio": ("ratio", "ratio", ("batch_wait_tokens_ratio",)),
    "adp_balance_iters": ("iterations", "count", ("adp_balance_iters",)),
    "adp_batching_wait_iters": ("iterations", "count", ("adp_batching_wait_iters",)),
}
KV_DTYPES = ("fp8", "bf16")
#: what each engine takes its memory fraction of (Scheduler.kv_mem_fraction_of)
MEM_FRACTION_OF = {"sglang": "static", "vllm": "total", "tensorrt-llm": "free"}
KEYS = ("framework", "model_path", "system", "precision")


def _path():
    return catalog_root() / "validation" / "silicon" / "servers.toml"


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    """The parsed ``servers.toml`` (empty without one)."""
    p = _path()
    return read_toml(p) if p.is_file() else {"sources": [], "server": []}


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Lt: operator.lt, ast.LtE: operator.le, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCS = {"max": max, "min": min, "ceil": math.ceil}


def evaluate(expr: str, names: dict[str, float]) -> float | bool:
    """``expr`` (arithmetic, comparisons, ``and``/``or``/``not``, ``max``/``min``/``ceil``) over ``names``."""
    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return n.value
        if isinstance(n, ast.Name) and n.id in names:
            return names[n.id]
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return _OPS[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.Not)):
            return -ev(n.operand) if isinstance(n.op, ast.USub) else not ev(n.operand)
        if isinstance(n, ast.BoolOp):
            vals = [ev(v) for v in n.values]
            return all(vals) if isinstance(n.op, ast.And) else any(vals)
        if isinstance(n, ast.Compare) and all(type(o) in _OPS for o in n.ops):
            left, ok = ev(n.left), True
            for o, c in zip(n.ops, n.comparators):
                right = ev(c)
                ok, left = ok and _OPS[type(o)](left, right), right
            return ok
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _FUNCS and not n.keywords:
            return _FUNCS[n.func.id](*[ev(a) for a in n.args])
        raise ValueError(f"servers.toml: {expr!r}: {ast.dump(n)[:60]} is not allowed")
    return ev(ast.parse(expr, mode="eval"))


def _cases(v: Any) -> list[dict[str, Any]]:
    return list(v) if isinstance(v, list) else [v]


def _pick(cases: list[dict[str, Any]], names: dict[str, float]) -> dict[str, Any] | None:
    """The first case whose ``when`` holds (None if none does or it says ``skip``)."""
    for c in cases:
        if "when" not in c or evaluate(c["when"], names):
            return None if c.get("skip") else c
    return None


def _listed(want: Any, have: str) -> bool:
    return have in want if isinstance(want, list) else want == have


def _measured(src: str) -> str | None:
    """The day a row was measured (``measured=YYYY-MM-DD...`` in its source, :func:`measured_date`), or None."""
    day = measured_date(src)[:10]
    return day if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else None


def entry(raw: dict[str, str]) -> dict[str, Any] | None:
    """The ``servers.toml`` entry for a row (its raw CSV fields), or None."""
    cat = catalog()
    src = raw.get("silicon_data_source") or ""
    if raw.get("mode", "agg") != "agg" or not any(src.startswith(p) for p in cat.get("sources", [])):
        return None
    date = _measured(src)
    for e in cat.get("server", []):
        if not all(_listed(e[k], raw.get({"framework": "backend"}.get(k, k)) or "") for k in KEYS):
            continue
        if "image" in e and not any(i in src for i in _cases(e["image"])):
            continue
        if ("measured_from" in e or "measured_to" in e) and date is None:
            continue
        if "measured_from" in e and date < e["measured_from"]:
            continue
        if "measured_to" in e and date > e["measured_to"]:
            continue
        return e
    return None


@dataclass
class Server:
    """A row's launch settings: the KV format (None: the framework's default) and the
    scheduler fields to replace (``Scheduler.model_copy(update=...)``)."""

    name: str
    kv_dtype: str | None = None
    update: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def server(raw: dict[str, str], framework: str, names: dict[str, float]) -> Server | None:
    """The launch settings of a row, with ``names`` (``isl``, ``osl``, ``conc``, ``tp``, ``dp``,
    ``gpus``) for the cases' conditions and expressions; None when no entry matches."""
    e = entry(raw)
    if e is None:
        return None
    out = Server(e["name"])
    c = _pick(_cases(e["kv_dtype"]), names) if "kv_dtype" in e else None
    if c is not None:
        out.kv_dtype, out.sources["kv_dtype"] = c["value"], c["source"]
    for key, (_, unit, fields) in SETTINGS.items():
        c = _pick(_cases(e[key]), names) if key in e else None
        if c is None:
            continue
        v = float(evaluate(c["expr"], names)) if "expr" in c else float(c["value"])
        q = Quantity(value=v, unit=unit, source=f"InferenceMAX launch ({e['name']}): {c['source']}",
                     confidence=c["confidence"])
        out.update[fields[0]] = q
        for f in fields[1:]:
            out.update[f] = None  # the stated value holds whatever the chip's HBM
        out.sources[key] = c["source"]
    if "kv_mem_fraction" in out.update:
        out.update["kv_mem_fraction_of"] = MEM_FRACTION_OF.get(framework, "free")
    return out


def check(cat: dict[str, Any] | None = None) -> list[str]:
    """What is wrong with the catalog's entries (empty if nothing): missing match keys, a setting
    case without source, confidence or value, a unit that is not the setting's."""
    cat = catalog() if cat is None else cat
    bad = []
    for e in cat.get("server", []):
        name = e.get("name", "?")
        bad += [f"{name}: no {k}" for k in KEYS + ("name",) if k not in e]
        for key in ("kv_dtype", *SETTINGS):
            for c in _cases(e.get(key, [])):
                if not c.get("source") or c.get("confidence") not in ("A", "B", "C", "U"):
                    bad.append(f"{name}.{key}: no source or confidence")
                if c.get("skip"):
                    continue
                if "value" not in c and "expr" not in c:
                    bad.append(f"{name}.{key}: no value or expr")
                if key == "kv_dtype" and c.get("value") not in KV_DTYPES:
                    bad.append(f"{name}.kv_dtype: {c.get('value')!r} is not one of {KV_DTYPES}")
                if key in SETTINGS and c.get("unit") != SETTINGS[key][0]:
                    bad.append(f"{name}.{key}: unit {c.get('unit')!r}, not {SETTINGS[key][0]!r}")
    return bad
