"""Scale: SuperPoDs to million-chip SuperClusters, goodput under failures, power, energy and cost.

``superpod.scale.scale("deepseek-v3", "atlas950-supercluster")`` returns the record of
``superpod scale`` (SI units); :mod:`.scenario` builds the Huaweiopolis counter-scenario and
:mod:`.sweep` the scaling curves behind ``superpod plot scaling``. Defaults (failure rates,
checkpoint and restart costs, PUE, prices, capex) live in ``catalog/scale/*.toml``.
"""

from __future__ import annotations

from .estimate import ScaleOptions, scale
from .recovery import RecoveryOptions

__all__ = ["RecoveryOptions", "ScaleOptions", "scale"]
