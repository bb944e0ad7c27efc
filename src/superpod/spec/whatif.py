"""What-if hardware: catalog-field overrides that the catalog loaders apply after reading TOML.

A sweep axis such as ``chip.hbm_Bps = [3.2e12, 4.8e12]`` or ``fabric.scaleup.bw_per_chip_Bps``
asks "what if this catalog number were different?" without writing a new file. The
overrides live in a context variable set by :func:`overriding`; :mod:`superpod.spec.catalog`
(chips, fabric tiers of a system, systems, models) and :mod:`superpod.scaling.params`
(``reliability``, ``energy``, ``cost``, ``training``) apply them to the TOML data before
validation, so a bad value is the usual one-line :class:`~superpod.errors.SpecError`. Their
caches are keyed by the overrides in force, so no override leaks out of its context.

Paths are ``ROOT.field[.subfield...]``: ``chip.hbm_Bps``, ``system.chips``,
``model.moe.top_k``, ``reliability.components.optical_module.interruptions``,
``energy.pue``. Fabric paths name a tier of the system first: ``fabric.scaleup.FIELD`` (its
scale-up tiers), ``fabric.scaleout.FIELD`` (the others), ``fabric.NAME.FIELD`` or
``fabric.N.FIELD`` (tier index, innermost 0). Values are SI (B/s, bytes, s, W, counts);
a string ``"x1.5"`` multiplies the catalog value instead. An overridden number becomes a
quantity with source ``what-if (sweep)`` and confidence ``U``.

>>> from superpod.spec.catalog import load_chip
>>> with overriding({"chip.hbm_Bps": "x2"}):
...     load_chip("ascend-910c").hbm_Bps.confidence
'U'
"""

from __future__ import annotations

import copy
import difflib
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Mapping, get_args, get_origin

from pydantic import BaseModel

from superpod import units
from superpod.errors import SpecError

SOURCE = "what-if (sweep)"
ROOTS = ("chip", "fabric", "system", "model", "reliability", "energy", "cost", "training")
#: the SI unit a field absent from the TOML gets, by the suffix of its name
SUFFIX_UNITS = (("_Bps", "B/s"), ("_bytes", "B"), ("_flops", "FLOPS"), ("_w", "W"), ("_s", "s"))

Overrides = tuple[tuple[str, Any], ...]
_ACTIVE: ContextVar[Overrides] = ContextVar("superpod_whatif", default=())


def normalise(overrides: Mapping[str, Any]) -> Overrides:
    """Sorted, hashable ``((path, value), ...)``; checks each path's root."""
    out = []
    for path, value in overrides.items():
        root = path.split(".", 1)[0]
        if "." not in path or root not in ROOTS:
            close = difflib.get_close_matches(root, ROOTS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SpecError(f"what-if path {path!r} must start with one of {', '.join(ROOTS)} and name a field{hint}")
        if isinstance(value, list):
            value = tuple(value)
        out.append((path, value))
    return tuple(sorted(out, key=lambda kv: kv[0]))


@contextmanager
def overriding(overrides: Mapping[str, Any]) -> Iterator[Overrides]:
    """Apply catalog-field overrides to every catalog load inside the ``with`` block."""
    token = _ACTIVE.set(normalise(overrides) if overrides else ())
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


def current() -> Overrides:
    return _ACTIVE.get()


def active(root: str) -> Overrides:
    """The overrides under ``root`` with the root stripped (``hbm_Bps`` for ``chip.hbm_Bps``)."""
    over = _ACTIVE.get()
    if not over:
        return ()
    return tuple((p.split(".", 1)[1], v) for p, v in over if p.split(".", 1)[0] == root)


def _unit_for(key: str) -> str:
    return next((u for suffix, u in SUFFIX_UNITS if key.endswith(suffix)), "count")


def _leaf(old: Any, key: str, value: Any, where: str) -> Any:
    relative = isinstance(value, str) and value.startswith("x")
    if relative:
        try:
            factor = float(value[1:])
        except ValueError:
            raise SpecError(f"{where}: what-if value {value!r} for {key} is neither a number nor xFACTOR") from None
    if isinstance(old, dict) and "value" in old:  # a sourced quantity: keep its unit
        unit = old.get("unit", "count")
        v = old["value"] * factor if relative else units.from_si(float(value), unit)
        return {"value": v, "unit": unit, "source": SOURCE, "confidence": "U"}
    if relative:
        if isinstance(old, bool) or not isinstance(old, (int, float)):
            raise SpecError(f"{where}: {key} has no catalog number to multiply by {value}")
        return type(old)(old * factor) if isinstance(old, int) and float(old * factor).is_integer() else old * factor
    if old is None and isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith(
            tuple(s for s, _ in SUFFIX_UNITS)):
        unit = _unit_for(key)
        return {"value": units.from_si(float(value), unit), "unit": unit, "source": SOURCE, "confidence": "U"}
    return list(value) if isinstance(value, tuple) else value


def _fields(model: Any, data: dict) -> list[str]:
    names = set(data)
    if isinstance(model, type) and issubclass(model, BaseModel):
        names |= set(model.model_fields)
    return sorted(names)


def _submodel(model: Any, key: str) -> Any:
    """The schema one level down: a pydantic model, ``("map", value model)`` for a
    ``dict[str, Model]`` field, or None (unknown: only the TOML's own keys are checked)."""
    if isinstance(model, tuple):  # inside a mapping: every key holds the value model
        return model[1]
    if model is None or key not in model.model_fields:
        return None
    ann = model.model_fields[key].annotation
    if get_origin(ann) is dict:
        return ("map", _submodel_of(get_args(ann)[1]))
    return _submodel_of(ann)


def _submodel_of(ann: Any) -> Any:
    for t in (ann, *get_args(ann)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def apply(data: dict, overrides: Overrides, model: Any, where: str) -> dict:
    """A copy of the TOML ``data`` with each ``(dotted.path, value)`` set (see the module docstring).

    An unknown field is a :class:`SpecError` naming ``where`` and the closest field names.
    """
    if not overrides:
        return data
    data = copy.deepcopy(data)
    for path, value in overrides:
        node, m = data, model
        keys = path.split(".")
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            known = _fields(m, node)
            if key not in known:
                close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; fields: {', '.join(known)}"
                raise SpecError(f"{where}: what-if field {path!r}: no field {key!r}{hint}")
            if last:
                node[key] = _leaf(node.get(key), path, value, where)
            else:
                sub = node.get(key)
                if sub is None:
                    sub = node[key] = {}
                if not isinstance(sub, dict) or ("value" in sub and "unit" in sub):
                    raise SpecError(f"{where}: what-if field {path!r}: {key!r} is a value, not a table")
                node, m = sub, _submodel(m, key)
    return data
