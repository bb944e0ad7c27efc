"""superpod: how much useful work does a whole AI compute system deliver?

The Python API mirrors the command line; results are plain dicts in SI units::

    import superpod
    superpod.compare(["cloudmatrix384", "gb200-nvl72"])
    superpod.claims()
    superpod.train("deepseek-v3", "cloudmatrix384")
    superpod.serve("deepseek-r1", "cloudmatrix384", phase="decode", tpot_slo_s=0.05)
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {"chips", "systems", "models", "show", "compare", "claims", "train", "serve", "validate"}


def __getattr__(name: str):
    if name in _API:
        from superpod import api

        return getattr(api, name)
    raise AttributeError(f"module 'superpod' has no attribute {name!r}")
