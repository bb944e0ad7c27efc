"""Fit each serving framework's ``layer_floor_s`` (catalog/calibration/frameworks/serving.toml)
on the public silicon file: ``python benchmarks/serve_silicon_floor.py``.

The floor is the least time one layer's kernels take at any batch (a forward of ``L`` layers
takes ``max(priced parts, L x floor)``). It shows only end to end, so it is fitted on the
measured runs where it binds: aggregated rows with ``batch_size <= 8`` and ``isl <= osl``
(small decode batches; co-located prefill stalls are small there). The rows are priced with
the floor off, then the floor minimising TPOT MAPE over a 0.5 us grid is picked (the head,
drafting and step overhead are outside the floor; the fit treats the whole TPOT as layers,
which the exact run printed at the end checks).
"""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np

from superpod.planners import silicon_rows
from superpod.planners import validation_silicon as vs
from superpod.serving.framework import ServingFramework
from superpod.spec.catalog import load_model

FRAMEWORKS = {"trtllm": "tensorrt-llm", "sglang": "sglang", "vllm": "vllm"}


def selected(raw: dict[str, str]) -> bool:
    return raw["mode"] == "agg" and float(raw["batch_size"] or 0) <= 8 and float(raw["isl"]) <= float(raw["osl"])


def rows_without_floor() -> list[dict]:
    si = ServingFramework.si
    ServingFramework.si = lambda self, key: 0.0 if key == "layer_floor_s" else si(self, key)
    try:
        out = vs.validate_silicon()
    finally:
        ServingFramework.si = si
    return out["rows"]


def main() -> None:
    raw = {r["id"]: r for r in csv.DictReader(vs.default_file().read_text().splitlines())}
    _, _, models = silicon_rows.mappings()
    by_fw: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for r in rows_without_floor():
        if r["status"] == "ok" and selected(raw[r["id"]]):
            layers = load_model(models[r["model"]]["model"]).layers
            by_fw[r["framework"]].append((r["measured_tpot_ms"], r["predicted_tpot_ms"], layers))
    grid_us = np.arange(0.0, 300.0, 0.5)
    for fw, rows in sorted(by_fw.items()):
        m, p, L = (np.array(x, dtype=float) for x in zip(*rows))
        mape = [float(np.mean(np.abs(np.maximum(p, f * 1e-3 * L) - m) / m)) for f in grid_us]
        i = int(np.argmin(mape))
        print(f"{FRAMEWORKS[fw]:13} rows {len(rows):4}  layer_floor_s {grid_us[i]:6.1f} us  "
              f"TPOT MAPE {mape[0]:.1%} -> {mape[i]:.1%}")
    exact = defaultdict(list)
    for r in vs.validate_silicon()["rows"]:
        if r["status"] == "ok" and selected(raw[r["id"]]):
            exact[r["framework"]].append(abs(r["predicted_tpot_ms"] / r["measured_tpot_ms"] - 1))
    for fw, e in sorted(exact.items()):
        print(f"{FRAMEWORKS[fw]:13} exact TPOT MAPE with the catalog's floor: {np.mean(e):.1%}")


if __name__ == "__main__":
    main()
