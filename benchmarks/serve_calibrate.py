"""Re-fit the end-to-end serving factors of ``catalog/calibration/frameworks/serving.toml``.

Each factor is fitted on ONE source, named in the TOML:

* ``[eplb] balanced_imbalance``: the CloudMatrix-Infer default-EPLB prefill case
  (``cm384-prefill-default-eplb``, role calibration), taken relative to its perfect-EPLB
  twin in the same table (5,655 / 6,688 = 0.846: the cost of real routing), so the factor
  carries the routing imbalance and not the estimator's absolute error on that system;
* ``sglang.overlap_efficiency``: ``sglang-h100-prefill-4k-perfect-eplb`` (calibration);
* ``deepseek.overlap_efficiency``: ``deepseek-h800-profile-prefill`` (calibration);
* ``cloudmatrix-infer.layer_overhead_s``: the CloudMatrix384 per-layer decode latency
  microbenchmark (874 us without MTP, 1,260 us with one draft token; inference.md 1.4),
  not an end-to-end case.

Run: ``python benchmarks/serve_calibrate.py`` (prints the values; edit the TOML by hand).
"""

from __future__ import annotations

import dataclasses

import superpod.serving.framework as F
from superpod.planners.validate import cases
from superpod.serving.decode import decode
from superpod.serving.plan import ServePlan
from superpod.planners.validation_serving import case_ctx, evaluate
from superpod.spec.quantity import Quantity


def q(value: float, unit: str) -> Quantity:
    return Quantity(value=value, unit=unit, source="fit in progress", confidence="C")


def with_fw(c, **values):
    upd = {k: q(v, "us" if k.endswith("_s") else "ratio") for k, v in values.items()}
    return dataclasses.replace(c, fw=c.fw.model_copy(update=upd))


def set_gamma(g: float) -> None:
    f = F._file()
    new = f.model_copy(update={"eplb": f.eplb.model_copy(update={"balanced_imbalance": q(g, "ratio")})})
    F._file = lambda: new  # noqa: E731  (scratch fit only)


def bisect(fn, lo, hi, target, iters=50):
    """x in [lo, hi] with fn(x) = target (fn monotone)."""
    flo = fn(lo) - target
    for _ in range(iters):
        mid = (lo + hi) / 2
        fm = fn(mid) - target
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


def case(cid):
    return next(x for x in cases("serving") if x["id"] == cid)


def main() -> None:
    cm_d = case("cm384-prefill-default-eplb")
    cm_p = case("cm384-prefill-perfect-eplb")
    cm_dec = case("cm384-decode-tpot50")
    overhead_us = 0.0
    for _ in range(4):  # the CloudMatrix factors touch each other a little
        c = with_fw(case_ctx(cm_d), layer_overhead_s=max(overhead_us, 1e-6))

        cp = with_fw(case_ctx(cm_p), layer_overhead_s=max(overhead_us, 1e-6))

        def ratio(g):
            set_gamma(g)
            return evaluate(c, cm_d)[0] / evaluate(cp, cm_p)[0]

        gamma = bisect(ratio, 1.0, 3.0, cm_d["measured"] / cm_p["measured"])
        set_gamma(gamma)
        c = case_ctx(cm_dec)
        per_layer = []
        for k in (0, 1):
            plan = ServePlan.one(tp=1, ep=320, batch=96, mtp_k=k, mtp_accept=0.7, eplb="balanced", overlap=True)
            r = decode(with_fw(c, layer_overhead_s=1e-6), plan, 4096)
            main_layers = float(r["step_s"][0] - r["head_s"][0] - r["mtp_draft_s"][0]) / c.model.layers
            per_layer.append(main_layers)
        measured = (874e-6, 1260e-6)
        # two micro-batches per layer: overhead per layer per micro-batch, least squares over both points
        overhead_us = sum((m - p) / 2 for m, p in zip(measured, per_layer)) / 2 * 1e6
        print(f"gamma {gamma:.4f}  model per-layer {[round(x * 1e6, 1) for x in per_layer]} us  overhead {overhead_us:.1f} us")
    for cid in ("sglang-h100-prefill-4k-perfect-eplb", "deepseek-h800-profile-prefill"):
        cs = case(cid)
        c = case_ctx(cs)
        eta = bisect(lambda e: evaluate(with_fw(c, overlap_efficiency=e), cs)[0], 1e-6, 1.0, cs["measured"])
        print(f"{cid}: overlap_efficiency {eta:.4f}")


if __name__ == "__main__":
    main()
