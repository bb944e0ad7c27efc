"""Power-capped compute: the tensor-core rate a chip sustains under a board power limit.

A board power limit (``nvidia-smi --power-limit``) is enforced by lowering the clock, so
compute-bound kernels run at a fraction of the catalog's dense peaks; the HBM bandwidth is
left as it is (no source says the cap lowers the memory clock). The fraction comes from the
chip's ``power_curve`` (``[watts, fraction]`` points with their source, catalog/chips/*.toml),
read between its points as a power law ``fraction ~ watts^a`` (the DVFS law: dynamic power
``P ~ f V^2`` with ``V ~ f`` gives ``f ~ P^(1/3)``; H100's two datasheet points give a = 0.30).

The limit defaults to the chip's ``tdp_w`` (its default power limit: 700 W for H100 SXM5,
500 W for the TorchTitan H100s, training.md sec. 7.3). A limit outside the curve's published
points is refused, never extrapolated; a chip without a curve runs at its peaks and refuses
an explicit limit below its TDP.

>>> from superpod.spec.catalog import load_chip
>>> round(compute_fraction(load_chip("h100"), 500), 3)
0.903
"""

from __future__ import annotations

import math

from superpod.errors import InvalidOptionError
from superpod.spec.chip import Chip


def compute_fraction(chip: Chip, power_limit_w: float | None = None) -> float:
    """Share of the dense peaks ``chip`` sustains at ``power_limit_w`` (default: its ``tdp_w``)."""
    tdp = chip.tdp_w.si if chip.tdp_w is not None else None
    limit = tdp if power_limit_w is None else float(power_limit_w)
    if power_limit_w is not None and not (math.isfinite(limit) and limit > 0):
        raise InvalidOptionError(f"--power-limit-w must be a positive number of watts, got {power_limit_w!r}")
    curve = chip.power_curve
    if curve is None:
        if power_limit_w is None or (tdp is not None and limit >= tdp):
            return 1.0
        raise InvalidOptionError(f"{chip.name} has no power-vs-clock curve in its catalog entry (power_curve), so "
                                 f"--power-limit-w {limit:g} below its {tdp or 0:g} W cannot be priced")
    pts = curve.points
    lo, hi = pts[0][0], pts[-1][0]
    if limit is None:
        return 1.0
    if not lo <= limit <= hi:
        raise InvalidOptionError(f"--power-limit-w {limit:g}: {chip.name}'s power curve has published points from "
                                 f"{lo:g} W to {hi:g} W only ({curve.source.split(':')[0]})")
    for (w0, f0), (w1, f1) in zip(pts, pts[1:]):
        if w0 <= limit <= w1:
            a = math.log(f1 / f0) / math.log(w1 / w0)
            return f0 * (limit / w0) ** a
    return pts[-1][1]  # pragma: no cover (the range check above covers every limit)


def power_limit_w(chip: Chip, power_limit_w: float | None = None) -> float | None:
    """The limit the run uses: the one given, else the chip's default (``tdp_w``)."""
    if power_limit_w is not None:
        return float(power_limit_w)
    return chip.tdp_w.si if chip.tdp_w is not None else None
