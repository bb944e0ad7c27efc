"""Catalog listings and descriptions (``superpod chips/systems/models/show``) as plain records (SI units)."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from superpod import units
from superpod.errors import UnknownNameError
from superpod.spec import catalog
from superpod.spec.quantity import Quantity



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


def _describe_system(s, sized=None) -> dict[str, Any]:
    info = _describe(s, "system")
    info["attributes"]["chip"] = s.chip.name
    info["attributes"]["scaleup_domain_chips"] = s.scaleup_domain
    info["chip"] = _describe(s.chip, "chip")
    info["tiers"] = [_describe(t, "fabric") for t in s.tiers]
    if s.power.total_w is not None:
        info["quantities"]["power.total_w"] = _quantity(s.power.total_w)
    for k, q in s.power.parts.items():
        info["quantities"][f"power.parts.{k}"] = _quantity(q)
    info["totals"] = (sized or s.at()).totals()
    return info


def _kind_of_path(ref: str) -> str:
    if ref.endswith(".json") or not ref.endswith(".toml"):
        return "models"
    data = catalog.read_toml(catalog.locate(ref, "chips"))
    for key, kind in (("tiers", "systems"), ("topology", "fabrics"), ("layers", "models"), ("hbm_Bps", "chips")):
        if key in data:
            return kind
    return "chips"


def kind_of(ref: str) -> str:
    """``systems``, ``chips``, ``fabrics`` or ``models``: what a name (``name@N`` sizes a system) or path is."""
    if catalog.is_path(ref):
        return _kind_of_path(ref)
    name = ref.rpartition("@")[0] if "@" in ref else ref
    kind = next((k for k in ("systems", "chips", "fabrics", "models") if name in catalog.names(k)), None)
    if kind is None or (kind != "systems" and name != ref):
        pool = [n for k in ("systems", "chips", "fabrics", "models") for n in catalog.names(k)]
        close = difflib.get_close_matches(ref, pool, n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `superpod systems`, `superpod chips`, `superpod models`"
        raise UnknownNameError(f"unknown name {ref!r}{hint}")
    return kind


def describe(ref: str, kind: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The spec object of ``ref`` (a system sized by ``name@N``) and its ``superpod show`` record."""
    kind = kind or kind_of(ref)
    if kind == "systems":
        from superpod.planners.compare import parse_sized

        sized = parse_sized(ref)
        return sized.system, _describe_system(sized.system, sized)
    if kind == "chips":
        c = catalog.load_chip(ref)
        return c, _describe(c, "chip")
    if kind == "fabrics":
        f = catalog.load_fabric(ref)
        return f, _describe(f, "fabric")
    m = catalog.load_model(ref)
    info = _describe(m, "model")
    info.update(m.summary())
    info["kind"] = "model"
    return m, info


def show(ref: str) -> dict[str, Any]:
    """Everything about one chip, fabric, system or model (name or path)."""
    return describe(ref)[1]
