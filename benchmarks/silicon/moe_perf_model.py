"""Shim: the model lives in the package (superpod.cost.kernels.moe); the fit scripts import it by this name."""

from superpod.cost.kernels.moe import *  # noqa: F401,F403
from superpod.cost.kernels.moe import __doc__  # noqa: F401
