"""The one array coercion every cost function starts with: plan fields and scalars to float arrays."""

from __future__ import annotations

import numpy as np


def floats(x) -> np.ndarray:
    """``x`` (scalar, list or array) as a float64 array, without copying a float array."""
    return np.asarray(x, dtype=np.float64)
