"""Plans priced per second by the vectorized cost core (one CPU core).

Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/plan_rate.py``. Prices an open
grid of training plans (TP x PP x DP x EP x CP x SP x VPP x micro-batch x recompute x
schedule x ZeRO x FP8) for a 70B dense and a 671B MoE model, best of 5 runs.
"""

from __future__ import annotations

import os
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")

from superpod.cost.hardware import Hardware  # noqa: E402
from superpod.cost.plan import TrainPlan  # noqa: E402
from superpod.spec import load_system  # noqa: E402
from superpod.spec.catalog import load_model  # noqa: E402
from superpod.training.step import step  # noqa: E402

CASES = [
    ("llama3-70b", "dgx-h100-superpod", 1024, [1]),
    ("deepseek-v3", "h800-cluster", 2048, [1, 8, 16, 32, 64]),
]


def grid(eps):
    return TrainPlan.grid(
        tp=[1, 2, 4, 8], pp=[1, 2, 4, 8, 16], dp=[1, 2, 4, 8, 16, 32, 64, 128], ep=eps, cp=[1, 2],
        sp=[0, 1], vpp=[1, 2], micro_batch=[1, 2], recompute=[0, 1, 2], schedule=[1, 2, 3, 4],
        zero=[1, 3], fp8=[0, 1],
    )


def best_of(fn, runs=5):
    """Best wall time of ``runs`` runs (stdlib timeit)."""
    return min(timeit.repeat(fn, number=1, repeat=runs))


def main() -> None:
    print(f"{'case':34s} {'plans':>10s} {'seconds':>9s} {'plans/s':>12s}")
    for model_name, system, chips, eps in CASES:
        model = load_model(model_name)
        hw = Hardware.of(load_system(system).at(chips))
        g = grid(eps)
        t = best_of(lambda: step(model, hw, g, 4096, 1024))
        n = len(g)
        print(f"{'train step ' + model_name + ' on ' + system:34s} {n:>10,d} {t:>9.4f} {n / t:>12,.0f}")


if __name__ == "__main__":
    main()
