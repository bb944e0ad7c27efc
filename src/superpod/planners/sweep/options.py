"""The option names a sweep spec accepts, per question, and how each maps to a planner keyword.

Names are the CLI's option names with underscores (``tpot_slo_ms`` for ``--tpot-slo-ms``);
values are in the CLI's units and converted here once (``tpot_slo_ms`` -> ``tpot_slo_s``
= ms / 1e3). :func:`call` turns one point's options into the planner call the CLI makes
and returns its JSON record.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from superpod.errors import InfeasiblePlanError

QUESTIONS = ("serve", "train", "scale", "scenario")

_MS = 1e-3


def _same(x):
    return x


#: question -> option -> (planner keyword, converter); the positional arguments too
OPTIONS: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "serve": {
        "model": ("model", str), "system": ("system", str), "chips": ("chips", int), "phase": ("phase", str),
        "input_len": ("input_len", float), "output_len": ("output_len", float), "kv_len": ("kv_len", float),
        "cache_hit": ("cache_hit", float), "batch_per_chip": ("batch_per_chip", float),
        "concurrency": ("concurrency", float), "tpot_slo_ms": ("tpot_slo_s", lambda v: float(v) * _MS),
        "ttft_slo_ms": ("ttft_slo_s", lambda v: float(v) * _MS), "quant": ("quant", str),
        "kv_dtype": ("kv_dtype", str), "tp": ("tp", int), "ep": ("ep", int), "dp_attention": ("dp", int),
        "mtp": ("mtp", int), "mtp_accept": ("mtp_accept", float), "eplb": ("eplb", str),
        "overlap": ("overlap", bool), "framework": ("framework", str), "rate": ("rate", float),
    },
    "train": {
        "model": ("model", str), "system": ("system", str), "chips": ("chips", int), "seq_len": ("seq_len", int),
        "global_batch_tokens": ("global_batch_tokens", int), "global_batch": ("global_batch", int),
        "tp": ("tp", int), "sp": ("sp", bool), "pp": ("pp", int), "vpp": ("vpp", int), "schedule": ("schedule", str),
        "dp": ("dp", int), "zero": ("zero", int), "ep": ("ep", int), "cp": ("cp", int),
        "micro_batch": ("micro_batch", int), "recompute": ("recompute", str), "precision": ("precision", str),
        "framework": ("framework", str),
    },
    "scale": {
        "model": ("model", str), "system": ("system", str), "chips": ("chips", int), "days": ("days", float),
        "tokens": ("tokens", float), "precision": ("precision", str), "seq_len": ("seq_len", int),
        "global_batch": ("global_batch", int), "framework": ("framework", str), "pue": ("pue", float),
        "electricity": ("electricity", _same), "amortisation_years": ("amortisation_years", float),
        "capex_per_chip": ("capex_per_chip_usd", float), "failure_scale": ("failure_scale", float),
        "restart_s": ("restart_s", float), "in_memory_ckpt": ("in_memory_checkpoint", bool),
        "spares": ("spares", bool), "young": ("young", bool), "fast": ("fast", bool),
        "serve_tokens_per_s_per_chip": ("serve_tokens_per_s_per_chip", float),
        "serve_tpot_ms": ("serve_tpot_s", lambda v: float(v) * _MS),
    },
    "scenario": {
        "name": ("name", str), "model": ("model", str), "nvidia": ("nvidia", str), "tokens": ("tokens", float),
        "precision": ("precision", str), "seq_len": ("seq_len", int), "global_batch": ("global_batch", int),
        "pue": ("pue", float), "electricity": ("electricity", _same), "failure_scale": ("failure_scale", float),
        "restart_s": ("restart_s", float), "in_memory_ckpt": ("in_memory_checkpoint", bool), "fast": ("fast", bool),
    },
}

#: options a question cannot run without
REQUIRED = {"serve": ("model", "system"), "train": ("model", "system"), "scale": ("model", "system"), "scenario": ()}

_RECOVERY = ("failure_scale", "in_memory_checkpoint", "spares", "restart_s")


def convert(question: str, name: str, value: Any) -> Any:
    """One option value in the planner's units (raises ValueError/TypeError on a bad value)."""
    _, conv = OPTIONS[question][name]
    if conv is bool and not isinstance(value, bool):
        raise TypeError(f"{name} takes true or false, not {value!r}")
    if conv in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise TypeError(f"{name} takes a number, not {value!r}")
    if conv is int and float(value) != int(value):
        raise TypeError(f"{name} takes a whole number, not {value!r}")
    if conv is str and not isinstance(value, str):
        raise TypeError(f"{name} takes a string, not {value!r}")
    return conv(value)


def _scale_options(kw: dict[str, Any]):
    from superpod.planners.scale_estimate import ScaleOptions
    from superpod.scaling.recovery import RecoveryOptions

    for name in ("days", "tokens", "failure_scale", "restart_s", "capex_per_chip_usd"):
        if kw.get(name) is not None and kw[name] <= 0:
            raise InfeasiblePlanError(f"{name} must be > 0, got {kw[name]:g}")
    rec = RecoveryOptions(**{k: kw.pop(k) for k in _RECOVERY if k in kw})
    if kw.pop("young", False):
        rec = replace(rec, interval="young")
    fields = ("precision", "seq_len", "global_batch", "tokens", "days", "framework", "pue", "electricity",
              "amortisation_years", "capex_per_chip_usd", "fast")
    return ScaleOptions(recovery=rec, **{k: kw.pop(k) for k in fields if k in kw})


def call(question: str, options: dict[str, Any]) -> dict[str, Any]:
    """The planner's JSON record for one point (``options``: spec names, CLI units)."""
    kw = {OPTIONS[question][k][0]: convert(question, k, v) for k, v in options.items()}
    if question == "serve":
        from superpod.planners.serve_estimate import serve

        return serve(kw.pop("model"), kw.pop("system"), **kw)
    if question == "train":
        from superpod.planners.train_estimate import train

        if kw.get("precision", "bf16") not in ("bf16", "fp8"):
            raise InfeasiblePlanError(f"precision must be bf16 or fp8, got {kw['precision']!r}")
        return train(kw.pop("model"), kw.pop("system"), **kw)
    if question == "scale":
        from superpod.planners.scale_estimate import scale

        model, system, chips = kw.pop("model"), kw.pop("system"), kw.pop("chips", None)
        serve_rate, serve_tpot = kw.pop("serve_tokens_per_s_per_chip", None), kw.pop("serve_tpot_s", None)
        return scale(model, system, chips, _scale_options(kw), serve_rate, serve_tpot)
    from superpod.planners.scenario import run

    name, model, nvidia = kw.pop("name", "huaweiopolis"), kw.pop("model", None), kw.pop("nvidia", None)
    return run(name, model, _scale_options(kw), {"nvl72": nvidia} if nvidia else None)
