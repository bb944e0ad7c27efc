"""TPOT/TTFT residuals of ``superpod validate silicon`` by partition, optionally with framework factors overridden.

    python benchmarks/silicon/serving_residuals.py [--set sglang.layer_floor_s=0 ...] [--by framework,gpu]

Prints, per partition, rows, TPOT MAPE and the median of predicted / measured (bias), so a residual
that follows a physical variable (model, GPU, TP, batch) shows before any factor is fitted.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from superpod.planners import validation_silicon as V
from superpod.serving import framework as F
from superpod.spec.quantity import Quantity


def override(sets: list[str]) -> None:
    """Replace framework factors (``name.field=value`` in SI) in the loaded serving file."""
    f = F._file()
    fws = []
    for fw in f.frameworks:
        upd = {}
        for s in sets:
            key, _, val = s.partition("=")
            name, _, field = key.partition(".")
            if name == fw.name:
                upd[field] = None if float(val) == 0 else Quantity(value=float(val), unit="s", source="override",
                                                                  confidence="U")
        fws.append(fw.model_copy(update=upd))
    new = f.model_copy(update={"frameworks": fws})
    F._file.cache_clear()
    F._file = lambda: new  # noqa: the loaded file, replaced for this run


def records(sets=()) -> list[dict]:
    if sets:
        override(list(sets))
    out = V.validate_silicon()
    raw = {r.id: r.raw for r in V.read_rows(V.default_file())}
    for r in out["rows"]:
        x = raw[r["id"]]
        r["tp"] = x.get("tp_size") or x.get("decode_tp_size")
        r["batch"] = x.get("batch_size") or x.get("decode_batch_size")
        r["isl_osl"] = f"{x['isl']}x{x['osl']}"
    return out["rows"]


def table(rows, by: list[str]) -> None:
    groups = defaultdict(list)
    for r in rows:
        if r["status"] == "ok":
            groups[tuple(str(r.get(k)) for k in by)].append(r)
    allr = [r for g in groups.values() for r in g]
    for key, g in sorted(groups.items()):
        ratio = np.array([r["predicted_tpot_ms"] / r["measured_tpot_ms"] for r in g])
        tt = np.array([r["predicted_ttft_ms"] / r["measured_ttft_ms"] for r in g])
        print(f"{' '.join(key):70s} n={len(g):4d} tpot MAPE {100 * np.mean(abs(ratio - 1)):6.1f}% "
              f"bias {np.median(ratio):5.2f}  ttft MAPE {100 * np.mean(abs(tt - 1)):7.1f}%")
    ratio = np.array([r["predicted_tpot_ms"] / r["measured_tpot_ms"] for r in allr])
    tt = np.array([r["predicted_ttft_ms"] / r["measured_ttft_ms"] for r in allr])
    print(f"{'ALL':70s} n={len(allr):4d} tpot MAPE {100 * np.mean(abs(ratio - 1)):6.1f}% bias {np.median(ratio):5.2f}"
          f"  ttft MAPE {100 * np.mean(abs(tt - 1)):7.1f}%")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--by", default="framework,gpu")
    a = ap.parse_args()
    table(records(a.set), a.by.split(","))
