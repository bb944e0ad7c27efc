"""Shim: the model lives in the package (superpod.cost.kernels.collectives); the fit scripts import it by this name."""

from superpod.cost.kernels.collectives import *  # noqa: F401,F403
from superpod.cost.kernels.collectives import __doc__  # noqa: F401
