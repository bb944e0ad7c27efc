"""Scale: SuperPoDs to million-chip SuperClusters, goodput under failures, power, energy and cost.

``superpod.planners.scale_estimate.scale("deepseek-v3", "atlas950-supercluster")`` returns the record of
``superpod scale`` (SI units); :mod:`.scenario` builds the Huaweiopolis counter-scenario and
:mod:`.sweep` the scaling curves behind ``superpod plot scaling``. Defaults (failure rates,
checkpoint and restart costs, PUE, prices, capex) live in ``catalog/scale/*.toml``.
"""

from __future__ import annotations

from superpod.planners.scale_estimate import ScaleOptions, scale
from superpod.scaling.recovery import RecoveryOptions

__all__ = ["RecoveryOptions", "ScaleOptions", "scale"]
