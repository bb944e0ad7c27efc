"""superpod: how much useful work does a whole AI compute system deliver?

The Python API mirrors the command line; each call returns a typed, frozen result
(``.to_dict()`` is the command's ``--json``, ``.to_frame()`` a pandas DataFrame,
``.explain()`` where the numbers come from), in SI units::

    import superpod as sp
    sp.compare(["cloudmatrix384", "gb200-nvl72"]).to_frame()
    sp.train("deepseek-v3", "cloudmatrix384").mfu
    sp.serve("deepseek-r1", "cloudmatrix384", phase="decode", tpot_slo_s=0.05).tokens_per_s_per_chip
    sp.system("gb200-nvl72@72").totals

The functions are those of :mod:`superpod.api` (which imports the models lazily, so
``import superpod`` stays light).
"""


__version__ = "0.1.0"

from superpod.api import (calibration, chips, claims, compare, model, models, scale, scaling_curves, scenario, serve,
                          show, simulate, system, systems, train, validate, validate_silicon)

__all__ = ["calibration", "chips", "claims", "compare", "model", "models", "scale", "scaling_curves", "scenario", "serve",
           "show", "simulate", "system", "systems", "train", "validate", "validate_silicon", "__version__"]
