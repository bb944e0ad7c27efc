"""Scenarios: the same paper FLOPs built several ways (``catalog/scale/<name>.toml``).

``huaweiopolis`` is the critic's counter-scenario: the Atlas 950 SuperCluster, GB300
NVL72 racks on InfiniBand, and the SuperCluster's own 950DT chips in 8-NPU servers on
fragmented Ethernet, each sized to the reference build's dense peak FLOP/s (in the run's
precision), each training the same model. The builds differ only in what the catalog
says about them; every number comes back through :func:`superpod.planners.scale_estimate.scale`,
so the builds follow its conventions (docs/conventions.md: ranks, facility/IT power, peak bases,
the shared default batch).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from superpod.errors import InvalidOptionError, UnknownNameError
from superpod.spec.catalog import build, catalog_root, load_model, load_system, read_toml
from superpod.planners.conventions import peak_basis
from superpod.planners.scale_estimate import ScaleOptions, evaluate, scale
from superpod.scaling.recovery import RecoveryOptions

#: the what-if shown beside every build: in-memory checkpoints and a one-minute restart
FAST_RECOVERY = RecoveryOptions(in_memory_checkpoint=True, restart_s=60.0)


class Build(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str
    system: str
    label: str


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    title: str
    description: str
    model: str
    reference: str
    builds: list[Build] = Field(min_length=2)


def names() -> list[str]:
    root = catalog_root() / "scale"
    return sorted(p.stem for p in root.glob("*.toml") if "builds" in read_toml(p))


@lru_cache(maxsize=None)
def load(name: str) -> Scenario:
    if name not in names():
        raise UnknownNameError(f"unknown scenario {name!r}; known: {', '.join(names())}")
    return build(Scenario, read_toml(catalog_root() / "scale" / f"{name}.toml"), f"scale/{name}.toml")


def equal_paper_chips(systems: list[str], reference: str, precision: str) -> dict[str, int]:
    """Chips of each system whose dense peak (``precision``) equals the reference system's, to a chip."""
    ref = load_system(reference)
    target = ref.size * ref.chip.peak_flops(precision, fallback=True)
    return {s: max(1, round(target / load_system(s).chip.peak_flops(precision, fallback=True))) for s in systems}


def run(name: str = "huaweiopolis", model: str | None = None, opts: ScaleOptions = ScaleOptions(),
        swap: dict[str, str] | None = None) -> dict[str, Any]:
    """Every build of scenario ``name`` trained on the same model; ``swap`` replaces a build's system."""
    sc = load(name)
    unknown = sorted(set(swap or {}) - {b.key for b in sc.builds})
    if unknown:
        raise InvalidOptionError(f"scenario {sc.name} has no build {', '.join(unknown)}; builds: "
                                 f"{', '.join(b.key for b in sc.builds)}")
    builds = [b.model_copy(update={"system": (swap or {}).get(b.key, b.system)}) for b in sc.builds]
    chips = equal_paper_chips([b.system for b in builds], sc.reference, opts.precision)
    model = model or sc.model
    rows = []
    for b in builds:
        r = scale(model, b.system, chips[b.system], opts)
        fast = what_if(r, replace(opts, recovery=replace(FAST_RECOVERY, failure_scale=opts.recovery.failure_scale)))
        rows.append({"key": b.key, "label": b.label, **r, "fast_recovery": fast})
    ref = rows[0]
    for r in rows:
        r["ratio_to_first"] = {k: r[k] / ref[k] for k in ("effective_flops", "paper_flops", "time_to_train_s",
                                                         "power_w", "power_facility_w", "power_it_w", "goodput",
                                                         "mfu", "energy_j_per_token", "energy_facility_j_per_token",
                                                         "energy_it_j_per_token", "cost_per_mtok")}
    ref_fmt = load_system(sc.reference).chip.peak(opts.precision, fallback=True)[0]
    return {"scenario": sc.name, "title": sc.title, "description": sc.description, "model": model,
            "precision": opts.precision, "reference": sc.reference,
            "sizing_basis": f"equal paper FLOP/s: {peak_basis(ref_fmt)} peak of {sc.reference}, each build in its "
                            f"own chip's {opts.precision} dense peak (documented fallback if it lacks the format)",
            "builds": rows,
            "fast_recovery_assumption": "in-memory checkpoints and a 60 s restart (detection, swap, reload)"}


def what_if(record: dict[str, Any], opts: ScaleOptions) -> dict[str, float]:
    """Goodput, effective compute and time to train of a scale record's plan under other options."""
    m, s = load_model(record["model"]), load_system(record["system"])
    busy = 1.0 - record["breakdown"].get("bubble_s", 0.0) / record["step_s"]
    ev = evaluate(m, s, record["chips"], record["job_chips"], record["tokens_per_s"], record["mfu"], busy,
                  record["step_s"], opts, record["tokens"])
    rec = ev["recovery"]
    return {"goodput": float(ev["goodput"]), "effective_flops": float(ev["effective_flops"]),
            "time_to_train_s": float(ev["time_to_train_s"]), "checkpoint_interval_s": float(rec["checkpoint_interval_s"]),
            "checkpoint_s": float(rec["checkpoint_s"]), "restart_s": float(rec["restart_s"])}
