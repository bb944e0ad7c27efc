"""The Python API: the same calls the CLI makes, returning plain dicts (SI units).

>>> import superpod
>>> [s["name"] for s in superpod.compare(["cloudmatrix384", "gb200-nvl72"])]
['cloudmatrix384', 'gb200-nvl72']
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from superpod import units
from superpod.errors import UnknownNameError
from superpod.planners.claims import claims
from superpod.planners.compare import compare
from superpod.spec import catalog
from superpod.spec.quantity import Quantity

__all__ = ["chips", "systems", "models", "show", "compare", "claims", "train", "serve", "validate"]


def _si(q: Quantity | None) -> float | None:
    return None if q is None else q.si


def chips() -> list[dict[str, Any]]:
    """One record per catalog chip (SI units; absent formats are None)."""
    out = []
    for c in catalog.all_chips():
        rec: dict[str, Any] = {"name": c.name, "vendor": c.vendor, "released": c.released, "dies": c.dies}
        for p in ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"):
            rec[f"{p}_flops"] = _si(getattr(c, f"{p}_flops"))
        for f in ("hbm_bytes", "hbm_Bps", "scaleup_Bps", "scaleout_Bps", "tdp_w"):
            rec[f] = _si(getattr(c, f))
        out.append(rec)
    return out


def models() -> list[dict[str, Any]]:
    """One summary per catalog model: name, params, active_params, layers, hidden, attention, experts, source."""
    return [m.summary() for m in catalog.all_models()]


def systems() -> list[dict[str, Any]]:
    """One record per catalog system at its reference size."""
    out = []
    for s in catalog.all_systems():
        t = s.at().totals()
        dom = s.scaleup_domain
        out.append(
            {
                "name": s.name,
                "title": s.title,
                "kind": s.kind,
                "chip": s.chip.name,
                "chips": s.size,
                "scaleup_domain_chips": None if dom == float("inf") else int(dom),
                "tiers": [t_.name for t_ in s.tiers],
                "bf16_flops": t["bf16_flops"],
                "hbm_bytes": t["hbm_bytes"],
                "power_w": t["power_w"],
            }
        )
    return out


def _describe(obj: BaseModel, kind: str) -> dict[str, Any]:
    """Split a spec into plain attributes and sourced quantities (with SI values)."""
    info: dict[str, Any] = {"kind": kind, "name": getattr(obj, "name", "?"), "attributes": {}, "quantities": {}}
    for field in type(obj).model_fields:
        v = getattr(obj, field)
        if field in ("name", "description", "title"):
            info[field] = v
        elif isinstance(v, Quantity):
            info["quantities"][field] = _quantity(v)
        elif v is not None and not isinstance(v, (BaseModel, list, dict)):
            info["attributes"][field] = v
    return info


def _quantity(q: Quantity) -> dict[str, Any]:
    d = q.model_dump()
    d["si"] = q.si
    d["display"] = units.human(q.si, q.dimension)
    return d


def _describe_system(s) -> dict[str, Any]:
    info = _describe(s, "system")
    info["attributes"]["chip"] = s.chip.name
    info["attributes"]["scaleup_domain_chips"] = s.scaleup_domain
    info["chip"] = _describe(s.chip, "chip")
    info["tiers"] = [_describe(t, "fabric") for t in s.tiers]
    if s.power.total_w is not None:
        info["quantities"]["power.total_w"] = _quantity(s.power.total_w)
    for k, q in s.power.parts.items():
        info["quantities"][f"power.parts.{k}"] = _quantity(q)
    info["totals"] = s.at().totals()
    return info


def _kind_of_path(ref: str) -> str:
    if ref.endswith(".json") or not ref.endswith(".toml"):
        return "models"
    data = catalog.read_toml(catalog.locate(ref, "chips"))
    for key, kind in (("tiers", "systems"), ("topology", "fabrics"), ("layers", "models"), ("hbm_Bps", "chips")):
        if key in data:
            return kind
    return "chips"


def show(ref: str) -> dict[str, Any]:
    """Everything about one chip, fabric, system or model (name or path)."""
    if catalog.is_path(ref):
        kind = _kind_of_path(ref)
    else:
        kind = next((k for k in ("systems", "chips", "fabrics", "models") if ref in catalog.names(k)), None)
        if kind is None:
            pool = [n for k in ("systems", "chips", "fabrics", "models") for n in catalog.names(k)]
            close = difflib.get_close_matches(ref, pool, n=4, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `superpod systems`, `superpod chips`, `superpod models`"
            raise UnknownNameError(f"unknown name {ref!r}{hint}")
    if kind == "systems":
        return _describe_system(catalog.load_system(ref))
    if kind == "chips":
        return _describe(catalog.load_chip(ref), "chip")
    if kind == "fabrics":
        return _describe(catalog.load_fabric(ref), "fabric")
    return _describe_model(ref)


def _describe_model(ref: str) -> dict[str, Any]:
    from superpod.spec.catalog import load_model

    m = load_model(ref)
    info = _describe(m, "model")
    info.update(m.summary())
    info["kind"] = "model"
    return info


def train(model: str, system: str, chips: int | None = None, seq_len: int = 4096, global_batch: int | None = None,
          global_batch_tokens: int | None = None, precision: str = "bf16", framework: str = "megatron",
          top: int = 1, **fixed) -> dict[str, Any]:
    """Best training plan(s) for ``model`` on ``system`` (``name@N`` sizes it); see
    :func:`superpod.planners.train_estimate.train`."""
    from superpod.planners.train_estimate import train as run

    return run(model, system, chips=chips, seq_len=seq_len, global_batch=global_batch,
               global_batch_tokens=global_batch_tokens, precision=precision, framework=framework, top=top, **fixed)


def validate(groups: list[str] | None = None) -> dict[str, Any]:
    """Predictions vs published measurements, per group, with MAPE (``superpod validate``)."""
    from superpod.planners.validate import validate as run

    return run(groups)


def serve(model: str, system: str, **options) -> dict[str, Any]:
    """Serving estimate of ``model`` on ``system`` (the ``superpod serve`` record; SI units).

    Options as the command's flags: ``chips, phase, input_len, output_len, kv_len,
    cache_hit, batch_per_chip, concurrency, tpot_slo_s, ttft_slo_s, quant, kv_dtype, tp, ep,
    dp, mtp, mtp_accept, eplb, overlap, framework, rate``.
    """
    from superpod.planners.serve_estimate import serve as estimate

    return estimate(model, system, **options)
