"""Shim: the model lives in the package (superpod.cost.kernels.gemm); the fit scripts import it by this name."""

from superpod.cost.kernels.gemm import *  # noqa: F401,F403
from superpod.cost.kernels.gemm import __doc__  # noqa: F401
