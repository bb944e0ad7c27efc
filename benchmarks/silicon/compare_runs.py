"""TTFT/TPOT MAPE of two ``superpod validate silicon --json`` outputs (or the snapshot), overall and
per framework, harness and mode, over the rows both answered.

    python benchmarks/silicon/compare_runs.py BEFORE.json AFTER.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

from superpod.planners.silicon_rows import default_file, harness, read_rows


def load(path: str) -> dict[str, dict]:
    d = json.load(open(path))
    return {r["id"]: r for r in d["rows"] if r["status"] == "ok"}


def main() -> None:
    a, b = load(sys.argv[1]), load(sys.argv[2])
    hs = {r.id: ("inferencemax" if harness(r.raw)[1] < 1 else "default") for r in read_rows(default_file())}
    groups = defaultdict(list)
    for i in sorted(set(a) & set(b)):
        r0, r1 = a[i], b[i]
        e = [abs(r[k + "_predicted"] if False else r["predicted_" + k + "_ms"] / r["measured_" + k + "_ms"] - 1)
             for r in (r0, r1) for k in ("ttft", "tpot")]
        for key in ("all", r1["framework"], hs.get(i, "?"), r1["mode"], f"{r1['framework']}/{hs.get(i, '?')}"):
            groups[key].append(e)
    print(f"{'partition':24} {'rows':>5} | TTFT before  after | TPOT before  after")
    for k, g in groups.items():
        m = np.mean(np.array(g), axis=0)
        print(f"{k:24} {len(g):5d} | {m[0]:11.1%} {m[2]:6.1%} | {m[1]:11.1%} {m[3]:6.1%}")
    print(f"answered: {len(a)} before, {len(b)} after")


if __name__ == "__main__":
    main()
