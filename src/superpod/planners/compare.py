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

from superpod import units
from superpod.errors import UnknownNameError
from superpod.spec.catalog import load_system
from superpod.spec.system import SizedSystem

#: (JSON key, label, dimension for display, per-chip catalog field behind it or None)
METRICS: list[tuple[str, str, str, str | None]] = [
    ("chips", "chips", "count", None),
    ("nodes", "nodes", "count", None),
    ("racks", "racks", "count", None),
    ("bf16_flops", "dense BF16 (FLOP/s)", "flops", "bf16_flops"),
    ("fp8_flops", "dense FP8 (FLOP/s)", "flops", "fp8_flops"),
    ("int8_flops", "dense INT8 (OP/s)", "flops", "int8_flops"),
    ("fp4_flops", "dense FP4 (FLOP/s)", "flops", "fp4_flops"),
    ("hbm_bytes", "HBM capacity", "bytes", "hbm_bytes"),
    ("hbm_Bps", "HBM bandwidth", "Bps", "hbm_Bps"),
    ("scaleup_bps", "scale-up, per direction", "bits", "scaleup_Bps"),
    ("scaleout_bps", "scale-out, per direction", "bits", None),
    ("power_w", "power (all-in)", "power", None),
    ("bf16_flops_per_w", "BF16 FLOP/s per W", "ratio", None),
    ("fp8_flops_per_w", "FP8 FLOP/s per W", "ratio", None),
    ("fp4_flops_per_w", "FP4 FLOP/s per W", "ratio", None),
    ("hbm_bytes_per_w", "HBM bytes per W", "ratio", None),
]


def parse_sized(ref: str, chips: int | None = None) -> SizedSystem:
    """``name`` or ``name@N`` (or a path) -> the system sized to N chips."""
    name, _, n = ref.rpartition("@") if "@" in ref else (ref, "", "")
    if n:
        try:
            chips = int(n)
        except ValueError:
            raise UnknownNameError(f"{ref!r}: the part after '@' must be a chip count") from None
    return load_system(name).at(chips)


def record(sized: SizedSystem) -> dict[str, Any]:
    """One system's totals with JSON keys (SI; bandwidth keys ``*_bps`` are bits/s)."""
    t = sized.totals()
    s = sized.system
    out: dict[str, Any] = {"name": s.name, "title": s.title, "kind": s.kind}
    for key, _, _, _ in METRICS:
        v = t[key.replace("_bps", "_Bps")] * 8 if key.endswith("_bps") else t[key]
        out[key] = None if math.isnan(v) else v
    out["scaleup_domain_chips"] = sized.scaleup_domain_chips()
    out["power_parts_w"] = sized.power_parts_w()
    out["basis"] = basis(sized)
    return out


def basis(sized: SizedSystem) -> dict[str, str]:
    """How each total was computed: count x per-chip value (source) [confidence]."""
    s, n = sized.system, sized.n_chips
    chip = s.chip
    out = {}
    for key, _, dim, field in METRICS:
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
        out["scaleout_bps"] = f"{n:,} x {q.value:g} {q.unit} ({tier.name}: {q.source}) [{q.confidence}]"
    return out


def compare(refs: list[str], chips: int | None = None) -> list[dict[str, Any]]:
    """Records for each system, with ``ratio_to_first`` = this system's value / the first's."""
    records = [record(parse_sized(r, chips)) for r in refs]
    first = records[0]
    for r in records:
        r["ratio_to_first"] = {
            k: (r[k] / first[k] if r[k] is not None and first[k] not in (None, 0) else None)
            for k, _, _, _ in METRICS
        }
    return records


def display(value: float | None, dim: str) -> str:
    """A value for a table cell."""
    if value is None:
        return "-"
    if dim == "bits":
        return f"{value / 1e9:,.0f} Gb/s"
    if dim == "count":
        return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    if dim == "ratio":
        return units.human(value, "flops").replace("FLOP/s", "").strip() if value > 1e3 else f"{value:.3g}"
    return units.human(value, dim)
