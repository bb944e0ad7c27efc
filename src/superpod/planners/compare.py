"""System-vs-system totals: what each system has, side by side, with its basis.

``compare(["cloudmatrix384", "gb200-nvl72"])`` sizes each system (its reference size,
``--chips N`` for all, or ``name@N`` for one), adds up its parts and returns one record
per system: chips, dense peaks, HBM, scale-up/out bandwidth (bits/s, per direction),
power and per-watt figures, each with the per-chip basis it was computed from and the
ratio to the first system.
"""

from __future__ import annotations

import math
from typing import Any

from superpod.errors import InvalidOptionError, UnknownNameError
from superpod.spec.catalog import load_system
from superpod.spec.system import SizedSystem

#: JSON key of each system total -> the per-chip catalog field behind it (None: not a per-chip figure)
METRICS: dict[str, str | None] = {
    "chips": None, "nodes": None, "racks": None,
    "bf16_flops": "bf16_flops", "fp8_flops": "fp8_flops", "int8_flops": "int8_flops", "fp4_flops": "fp4_flops",
    "hbm_bytes": "hbm_bytes", "hbm_Bps": "hbm_Bps", "scaleup_bits_per_s": "scaleup_Bps", "scaleout_bits_per_s": None,
    "power_w": None, "bf16_flops_per_w": None, "fp8_flops_per_w": None, "fp4_flops_per_w": None,
    "hbm_bytes_per_w": None,
}
#: totals given in bits/s (network convention) -> the bytes/s total they are computed from
BITS: dict[str, str] = {"scaleup_bits_per_s": "scaleup_Bps", "scaleout_bits_per_s": "scaleout_Bps"}
#: older key names kept as aliases (same values): ``*_bps`` told bits from bytes by case only
ALIASES: dict[str, str] = {"scaleup_bps": "scaleup_bits_per_s", "scaleout_bps": "scaleout_bits_per_s"}


def split_sized(ref: str, chips: int | None = None) -> tuple[str, int | None]:
    """``name@N`` -> (``name``, N); ``name`` -> (``name``, ``chips``). Both ``@N`` and a different
    ``chips`` is a contradiction, refused rather than one of them silently winning."""
    if "@" not in ref:
        return ref, chips
    name, _, n = ref.rpartition("@")
    try:
        count = int(n)
    except ValueError:
        raise UnknownNameError(f"{ref!r}: the part after '@' must be a chip count") from None
    if chips is not None and chips != count:
        raise InvalidOptionError(f"{ref!r} says {count} chips but --chips says {chips}: give one")
    return name, count


def parse_sized(ref: str, chips: int | None = None) -> SizedSystem:
    """``name`` or ``name@N`` (or a path) -> the system sized to N chips."""
    name, chips = split_sized(ref, chips)
    return load_system(name).at(chips)


def record(sized: SizedSystem) -> dict[str, Any]:
    """One system's totals with JSON keys (SI; ``*_bits_per_s`` in bits/s, ``*_Bps`` in bytes/s)."""
    t = sized.totals()
    s = sized.system
    out: dict[str, Any] = {"name": s.name, "title": s.title, "kind": s.kind}
    for key in METRICS:
        v = t[BITS[key]] * 8 if key in BITS else t[key]
        out[key] = None if math.isnan(v) else v
    _alias(out)
    out["scaleup_domain_chips"] = sized.scaleup_domain_chips()
    out["power_parts_w"] = sized.power_parts_w()
    out["basis"] = basis(sized)
    return out


def basis(sized: SizedSystem) -> dict[str, str]:
    """How each total was computed: count x per-chip value (source) [confidence]."""
    s, n = sized.system, sized.n_chips
    chip = s.chip
    out = {}
    for key, field in METRICS.items():
        if field is None:
            continue
        q = getattr(chip, field, None)
        if q is None and field == "scaleup_Bps":
            q = s.tiers[0].bw_per_chip_Bps
        if q is None:
            out[key] = f"{chip.name} has no {field.split('_')[0].upper()} units"
            continue
        text = f"{n:,} x {q.value:g} {q.unit} ({q.source}) [{q.confidence}]"
        out[key] = text + (f"; note: {q.note}" if q.note else "")
    if s.power.total_w is not None:
        p = s.power.total_w
        out["power_w"] = f"{p.value:g} {p.unit} x {sized.share:.4g} ({p.source}) [{p.confidence}]"
    else:
        out["power_w"] = f"sum of {len(s.power.parts)} parts x {sized.share:.4g} (see power_parts_w)"
    tier = s.scaleout_tier
    if tier is not None:
        q = tier.bw_per_chip_Bps
        out["scaleout_bits_per_s"] = f"{n:,} x {q.value:g} {q.unit} ({tier.name}: {q.source}) [{q.confidence}]"
    return _alias(out)


def compare(refs: list[str], chips: int | None = None) -> list[dict[str, Any]]:
    """Records for each system, with ``ratio_to_first`` = this system's value / the first's."""
    records = [record(parse_sized(r, chips)) for r in refs]
    first = records[0]
    for r in records:
        r["ratio_to_first"] = {
            k: (r[k] / first[k] if r[k] is not None and first[k] not in (None, 0) else None)
            for k in METRICS
        }
        _alias(r["ratio_to_first"])
    return records


def _alias(d: dict[str, Any]) -> dict[str, Any]:
    """Add the older key names (:data:`ALIASES`) beside the new ones, with the same values."""
    for old, new in ALIASES.items():
        if new in d:
            d[old] = d[new]
    return d
