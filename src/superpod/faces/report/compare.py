"""The ``superpod compare`` table: a label and a display dimension per system total."""

from __future__ import annotations

from superpod import units

#: JSON key -> (row label, dimension for display), in table order
LABELS: dict[str, tuple[str, str]] = {
    "chips": ("chips", "count"),
    "nodes": ("nodes", "count"),
    "racks": ("racks", "count"),
    "bf16_flops": ("dense BF16 (FLOP/s)", "flops"),
    "fp8_flops": ("dense FP8 (FLOP/s)", "flops"),
    "int8_flops": ("dense INT8 (OP/s)", "flops"),
    "fp4_flops": ("dense FP4 (FLOP/s)", "flops"),
    "hbm_bytes": ("HBM capacity", "bytes"),
    "hbm_Bps": ("HBM bandwidth", "Bps"),
    "scaleup_bits_per_s": ("scale-up, per direction", "bits"),
    "scaleout_bits_per_s": ("scale-out, per direction", "bits"),
    "power_w": ("power (IT, nameplate)", "power"),
    "bf16_flops_per_w": ("BF16 FLOP/s per W", "ratio"),
    "fp8_flops_per_w": ("FP8 FLOP/s per W", "ratio"),
    "fp4_flops_per_w": ("FP4 FLOP/s per W", "ratio"),
    "hbm_bytes_per_w": ("HBM bytes per W", "ratio"),
}


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


def rows(recs: list[dict]) -> list[list[str]]:
    """Table rows: label, each system's value, each system's ratio to the first (metrics all None left out)."""
    body = []
    for key, (label, dim) in LABELS.items():
        if all(r[key] is None for r in recs):
            continue
        ratios = [r["ratio_to_first"][key] for r in recs[1:]]
        body.append([label] + [display(r[key], dim) for r in recs] + ["-" if x is None else f"{x:.3g}x" for x in ratios])
    return body
