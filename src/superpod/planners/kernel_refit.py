"""Leave one GPU out, refitted on the shipped samples (``superpod calibration --holdout GPU --refit``).

The fits (``benchmarks/silicon/fit_*.py``: scipy least squares over pandas frames) are not part of the
package: this runs ``benchmarks/silicon/refit_samples.py GPU --out DIR`` from a source checkout with the
``fit`` extra installed (pandas, pyarrow, scipy; about 60 s on 2 cores), which fits every parameter
file on the samples without that GPU's rows, then prices that GPU's sample rows with the refitted
parameters through :func:`superpod.planners.kernel_tables.price_table` (its own multipliers absent: 1;
MoE and collectives fall back to the family set, as for a GPU nobody measured).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from superpod.errors import SuperpodError
from superpod.planners import kernel_tables as kt
from superpod.spec.calibration import silicon_params
from superpod.spec.catalog import catalog_root

FIT_FILES = ("gemm", "mla_bmm", "attention", "moe_perf", "comm_perf")


def refit_script() -> Path:
    """``benchmarks/silicon/refit_samples.py`` of the source checkout this package runs from."""
    return catalog_root().parents[2] / "benchmarks" / "silicon" / "refit_samples.py"


def refit_holdout(gpu: str) -> dict[str, Any]:
    """Per table: MAPE / p90 of ``gpu``'s sample rows priced with parameters fitted on the samples without it."""
    script = refit_script()
    if not script.exists():
        raise SuperpodError(f"--refit needs a source checkout of superpod ({script} not found); the recorded "
                            "leave-one-GPU-out errors are shown without --refit")
    missing = [m for m in ("pandas", "pyarrow", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        raise SuperpodError(f"--refit needs the fit extra (pip install -e '.[fit]'): {', '.join(missing)} missing")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(script), gpu, "--out", out], capture_output=True, text=True)
        if r.returncode:
            raise SuperpodError(f"refit without {gpu} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
        seconds = time.perf_counter() - t0
        refitted = {}
        for name in FIT_FILES:
            with open(Path(out) / f"{name}.toml", "rb") as f:
                refitted[name] = tomllib.load(f)
            if "hardware" in silicon_params(name):  # the held-out GPU's facts are not in the refitted file
                refitted[name]["hardware"] = silicon_params(name)["hardware"]

    def params(name: str) -> dict:
        return refitted.get(name) or silicon_params(name)

    tables = []
    for table in kt.TABLES:
        meas, pred, rows = kt.price_table(table, params)
        mine = np.array([row["system"] == gpu for row in rows], dtype=bool)
        ok = mine & ~np.isnan(pred)
        err = np.abs(pred[ok] - meas[ok]) / meas[ok]
        tables.append({"table": table, "unpriced_rows": int((mine & np.isnan(pred)).sum()), **kt._stats(err)})
    return {"seconds": seconds, "log": r.stdout.strip().splitlines(), "tables": tables}
