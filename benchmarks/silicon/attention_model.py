"""Shim: the model lives in the package (superpod.cost.kernels.attention); the fit scripts import it by this name."""

from superpod.cost.kernels.attention import *  # noqa: F401,F403
from superpod.cost.kernels.attention import __doc__  # noqa: F401
