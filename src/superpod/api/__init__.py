"""The Python API: every ``superpod`` command as a function returning a typed, frozen result.

>>> import superpod as sp
>>> r = sp.compare(["cloudmatrix384", "gb200-nvl72"])
>>> [s["name"] for s in r]
['cloudmatrix384', 'gb200-nvl72']

Keyword options are those of the command (:mod:`superpod.api.options`, SI units:
``tpot_slo_s`` where the CLI has ``--tpot-slo-ms``) and are validated by the same class
the CLI is built from. Each result has typed attributes (``sp.train(...).mfu``),
``.to_dict()`` (the CLI's ``--json`` object), ``.to_frame()`` (pandas) and ``.explain()``.
A list of systems gives a collection with one frame row per system. The work is imported
lazily, so ``import superpod`` stays light.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from superpod.api.options import (CalibrationOptions, CompareOptions, Options, ScaleOptions, ScalingOptions, ScenarioOptions,
                                  ServeOptions, SimulateOptions, TrainOptions, ValidateOptions)
from superpod.api.base import Result, Results
from superpod.api.results import (ClaimsResult, CompareResult, ModelSpec, Row, ScaleResult, ScalingResult,
                                  ScenarioResult, ServeFailure, ServePlan, ServeResult, ServeResults, SimulateResult,
                                  SiliconResult, SystemSpec, TrainPlan, TrainResult, TrainResults, ValidateResult)
from superpod.errors import SuperpodError

__all__ = ["chips", "systems", "models", "show", "system", "model", "compare", "claims", "train", "serve",
           "simulate", "scale", "scenario", "scaling_curves", "validate", "validate_silicon", "calibration",
           # the result types, for isinstance checks and documentation
           "Result", "Results", "Row", "SystemSpec", "ModelSpec", "TrainResult", "TrainResults", "ServeResult",
           "ServeFailure", "ServeResults", "SimulateResult", "ScaleResult", "ScenarioResult", "ScalingResult",
           "CompareResult", "ClaimsResult", "ValidateResult", "SiliconResult", "TrainPlan", "ServePlan"]


def _documented(options: type[Options]) -> Callable:
    """Append the options' names, units, defaults and meanings to the function's docstring."""

    def deco(f: Callable) -> Callable:
        lines = []
        for name, field in options.model_fields.items():
            if name in options.positional:
                continue
            extra = field.json_schema_extra or {}
            unit = f", {extra['unit']}" if extra.get("unit") else ""
            default = "required" if field.is_required() else f"default {field.default!r}"
            lines.append(f"    ``{name}`` ({default}{unit}): {field.description or name.replace('_', ' ')}")
        f.__doc__ = (f.__doc__ or "") + "\n\n    Options:\n\n" + "\n".join(lines) + "\n"
        return f

    return deco


# ---------------------------------------------------------------------------- catalog

def chips() -> Results[Row]:
    """One row per catalog chip (SI units; absent formats are None)."""
    from superpod.api import catalog

    return Results([Row(r) for r in catalog.chips()], key="chips")


def systems() -> Results[Row]:
    """One row per catalog system at its reference size."""
    from superpod.api import catalog

    return Results([Row(r) for r in catalog.systems()], key="systems")


def models() -> Results[Row]:
    """One summary per catalog model: name, params, active_params, layers, hidden, attention, experts, source."""
    from superpod.api import catalog

    return Results([Row(r) for r in catalog.models()], key="models")


def show(ref: str) -> dict[str, Any]:
    """Everything about one chip, fabric, system or model (name, ``name@N`` or path): ``superpod show --json``."""
    from superpod.api import catalog
    from superpod.api.base import clean

    return clean(catalog.show(ref))


def system(ref: str) -> SystemSpec:
    """A system (``"gb200-nvl72@72"`` sizes it): ``.spec`` is the pydantic System, ``.to_dict()`` is ``show``'s JSON."""
    from superpod.api import catalog

    spec, rec = catalog.describe(ref, "systems")
    return SystemSpec(spec, rec)


def model(ref: str) -> ModelSpec:
    """A model (catalog name or path): ``.spec`` is the pydantic Model, ``.to_dict()`` is ``show``'s JSON."""
    from superpod.api import catalog

    spec, rec = catalog.describe(ref, "models")
    return ModelSpec(spec, rec)


@_documented(CompareOptions)
def compare(systems: str | Sequence[str], chips: int | None = None) -> CompareResult:
    """System totals side by side (``superpod compare``), with ``ratio_to_first`` and each total's basis."""
    from superpod.planners.compare import compare as run

    o = CompareOptions.parse(systems=systems, chips=chips)
    return CompareResult([Row(r) for r in run(o.systems, o.chips)])


def claims() -> ClaimsResult:
    """Every published claim recomputed from the catalog and judged (``superpod claims``)."""
    from superpod.planners.claims import claims as run, strict_failures

    rows = run()
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("reproduced", "explained", "disputed")}
    return ClaimsResult([Row(r) for r in rows], key="claims",
                        extra={"counts": counts, "strict_failures": [r["id"] for r in strict_failures(rows)]})


@_documented(ValidateOptions)
def validate(groups: str | Sequence[str] | None = None) -> ValidateResult:
    """Predictions vs published measurements, per group, with MAPE (``superpod validate``);
    ``validate("silicon")`` is :func:`validate_silicon` on the public file."""
    from superpod.planners.validate import validate as run

    chosen = ValidateOptions.parse(groups=groups).groups
    if chosen == ["silicon"]:
        return validate_silicon()
    return ValidateResult(run(chosen))


def validate_silicon(file: str | None = None) -> SiliconResult:
    """Measured serving runs (``superpod validate silicon [FILE.csv]``): each row priced with its own
    deployment; TTFT/TPOT error per row and MAPE per partition, against the accuracy gate."""
    from superpod.planners.validation_silicon import validate_silicon as run

    return SiliconResult(run(ValidateOptions.parse(file=file).file))


@_documented(CalibrationOptions)
def calibration(**options: Any) -> Results[Row]:
    """The microbenchmarks behind every efficiency factor, re-predicted, and the measured kernel tables
    priced by the fitted kernel models (``superpod calibration``): ``anchors`` rows, and in the record
    ``tables`` (per table: rows, MAPE, p90, worst shapes, leave-one-GPU-out errors) and, with
    ``holdout=GPU``, ``holdout`` (that GPU's errors with parameters fitted without it)."""
    from superpod.planners.calibration import anchor_rows, kernel_tables

    o = CalibrationOptions.parse(**options)
    return Results([Row(r) for r in anchor_rows()], key="anchors", extra=kernel_tables(o.holdout, o.worst, o.refit))


# ---------------------------------------------------------------------------- workloads

@_documented(TrainOptions)
def train(model: str, system: str | Sequence[str], **options: Any) -> TrainResult | TrainResults:
    """Best training plan of ``model`` on ``system`` (``name@N`` sizes it): ``superpod train``.

    Plan settings left out (tp, sp, pp, vpp, schedule, dp, zero, ep, cp, micro_batch,
    recompute) are searched. A list of systems returns a :class:`TrainResults`.
    """
    from superpod.planners.train_estimate import train as run

    o = TrainOptions.parse(model=model, systems=system, **options)
    kw = o.kwargs("systems")
    fixed = {k: kw.pop(k) for k in ("tp", "sp", "pp", "vpp", "schedule", "dp", "zero", "ep", "etp", "cp", "micro_batch",
                                    "recompute")}
    timeline = kw.pop("trace") is not None  # the face writes the file; the record carries what it needs
    results = [TrainResult(run(o.model, s, **kw, **fixed, timeline=timeline)) for s in o.systems]
    return results[0] if isinstance(system, str) else TrainResults(results)


@_documented(ServeOptions)
def serve(model: str, system: str | Sequence[str], **options: Any) -> ServeResult | ServeResults:
    """Serving estimate of ``model`` on ``system``: ``superpod serve`` (SI units).

    A list of systems returns a :class:`ServeResults`; a system that cannot serve the model
    is a :class:`ServeFailure` row unless every one fails.
    """
    from superpod.planners.serve_estimate import serve as run

    o = ServeOptions.parse(model=model, systems=system, **options)
    kw = o.kwargs("save_deployment")
    if isinstance(system, str):
        res = ServeResult(run(o.model, system, **kw))
        if o.save_deployment is not None:
            from superpod.planners.serve_deployment_file import write_deployment

            write_deployment(o.save_deployment, res.record)
        return res
    out: list[ServeResult | ServeFailure] = []
    for s in o.systems:
        try:
            out.append(ServeResult(run(o.model, s, **kw)))
        except SuperpodError as e:
            out.append(ServeFailure({"system": s, "error": str(e)}))
    if all(isinstance(r, ServeFailure) for r in out):
        raise SuperpodError("; ".join(f"{r.system}: {r.error}" for r in out))
    return ServeResults(out)


@_documented(SimulateOptions)
def simulate(model: str, system: str, *, progress: Callable[[int, int], Any] | None = None,
             **options: Any) -> SimulateResult:
    """Request-level simulation of a deployment of ``model`` on ``system``: ``superpod simulate``.

    ``progress(done, total)`` is called as requests complete.
    """
    from superpod.planners.serve_deployment import simulate as run

    o = SimulateOptions.parse(model=model, system=system, **options)
    kw = o.kwargs("trace")
    return SimulateResult(run(o.model, o.system, progress=progress, timeline=o.trace is not None, **kw))


@_documented(ScaleOptions)
def scale(model: str, system: str, **options: Any) -> ScaleResult:
    """Effective compute, goodput, power, energy and cost of training ``model`` on ``system``: ``superpod scale``."""
    from superpod.planners.scale_estimate import scale as run

    o = ScaleOptions.parse(model=model, system=system, **options)
    return ScaleResult(run(o.model, o.system, o.chips, o.planner(), o.serve_tokens_per_s_per_chip, o.serve_tpot_s))


@_documented(ScenarioOptions)
def scenario(name: str = "huaweiopolis", **options: Any) -> ScenarioResult:
    """The same paper FLOPs built several ways, training the same model: ``superpod scenario``."""
    from superpod.planners.scenario import run

    o = ScenarioOptions.parse(name=name, **options)
    out = run(o.name, o.model, o.planner(), {"nvl72": o.nvidia} if o.nvidia else None)
    return ScenarioResult([ScaleResult(b) for b in out["builds"]], key="builds", extra=out)


@_documented(ScalingOptions)
def scaling_curves(model: str, systems: str | Sequence[str], **options: Any) -> ScalingResult:
    """Effective compute, MFU and goodput vs chip count per system (``superpod plot scaling`` draws it)."""
    from superpod.planners.scale_estimate import ScaleOptions as Planner
    from superpod.planners.scale_sweep import sizes_for, sweep

    o = ScalingOptions.parse(model=model, systems=systems, **options)
    opts = Planner(precision=o.precision, fast=not o.full_search)
    sizes = sizes_for(o.model, opts, o.points, o.min_chips, o.max_chips)
    return ScalingResult(sweep(o.model, o.systems, sizes, opts, o.workers))
