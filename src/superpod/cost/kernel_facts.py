"""The hardware facts the kernel fits price with: the chip catalog's (:func:`chip_facts`), and for a GPU
with measured tables the facts its fits were made with (:func:`fitted_facts`)."""

from __future__ import annotations

from typing import Any

from superpod.spec.calibration import silicon_params


def _node(tree: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(tree, dict) or str(k) not in tree:
            return None
        tree = tree[str(k)]
    return tree


def chip_facts(chip) -> dict:
    """The hardware facts of the kernel models, from the chip catalog (SI)."""
    fp8 = chip.fp8_flops.si if chip.fp8_flops is not None else chip.bf16_flops.si
    fp4 = chip.fp4_flops.si if chip.fp4_flops is not None else fp8
    return {"peak_flops": {"bf16": chip.bf16_flops.si, "fp8": fp8, "fp4": fp4},
            "bf16_flops": chip.bf16_flops.si, "fp8_flops": fp8, "fp4_flops": fp4,
            "hbm_Bps": chip.hbm_Bps.si, "sm_count": chip.sm_count.si, "exp_per_s": chip.exp_per_s.si,
            # the catalog's "GB/s bidi" quantities are per direction in SI (bidi / 2)
            "scaleup_uni_Bps": chip.scaleup_Bps.si if chip.scaleup_Bps is not None else 0.0}


def fitted_facts(gpu: str, facts: dict) -> dict:
    """The facts the GEMM and attention fits of a measured GPU were made with (``[hardware.<gpu>]`` of
    calibration/silicon/gemm.toml: AIConfigurator's system.yaml peaks and HBM bandwidth, the SM count;
    attention.toml: the SFU rate) over the catalog's ``facts``: the fitted efficiencies are fractions of
    those, so pricing with them reproduces the tables (B200 HBM 7.7 vs the catalog's 8.0 TB/s, B300 7.75
    vs 8.0 TB/s and FP4 14 vs 13.1 PFLOP/s). The MoE and collective fits used the catalog's facts."""
    h = _node(silicon_params("gemm"), "hardware", gpu)
    if not isinstance(h, dict):
        return facts
    out = dict(facts, peak_flops=dict(facts["peak_flops"]))
    for cls in ("bf16", "fp8", "fp4"):
        v = float(h.get(f"{cls}_flops") or 0.0)
        if v > 0:  # Hopper's tables state no FP4 peak: keep the catalog's stand-in
            out["peak_flops"][cls] = out[f"{cls}_flops"] = v
    for key in ("hbm_Bps", "sm_count"):
        if h.get(key):
            out[key] = float(h[key])
    x = _node(silicon_params("attention"), "hardware", gpu, "exp_per_s")
    if x:
        out["exp_per_s"] = float(x)
    return out
