"""Published measurements vs superpod's predictions, per group, with the error stated.

Cases live in ``catalog/validation/<group>.toml`` (``[[cases]]`` tables). Each names its
source, the measured value and metric, its inputs, and a ``role``: ``validation`` (counted
in the group's mean absolute percentage error) or ``calibration`` (the at most one case
per framework an end-to-end-only factor was fitted on; shown, never counted). Each group
has a predictor, ``predict(case) -> (value, details)``, registered in :data:`PREDICTORS`
by import path so that only the groups asked for are imported.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Callable

from superpod.errors import UnknownNameError
from superpod.spec.catalog import catalog_root, read_toml

#: group -> "module:function" of its predictor
PREDICTORS: dict[str, str] = {
    "training": "superpod.planners.validation_training:predict",
    "serving": "superpod.planners.validation_serving:predict",
}
#: the accuracy each group promises (issue targets): MAPE bound and the worst single case
TARGETS: dict[str, dict[str, float]] = {
    "training": {"mape": 0.10},
    "serving": {"mape": 0.10, "max": 0.20},
}


def groups() -> list[str]:
    root = catalog_root() / "validation"
    return sorted(p.stem for p in root.glob("*.toml") if p.stem in PREDICTORS)


@lru_cache(maxsize=None)
def cases(group: str) -> tuple[dict[str, Any], ...]:
    path = catalog_root() / "validation" / f"{group}.toml"
    if not path.is_file():
        raise UnknownNameError(f"unknown validation group {group!r}; known: {', '.join(groups())}")
    return tuple(read_toml(path)["cases"])


def predictor(group: str) -> Callable[[dict[str, Any]], tuple[float, dict[str, Any]]]:
    module, func = PREDICTORS[group].split(":")
    return getattr(importlib.import_module(module), func)


def run_group(group: str) -> dict[str, Any]:
    """Every case of ``group`` with prediction and error, and the group's MAPE."""
    predict = predictor(group)
    rows = []
    for case in cases(group):
        value, details = predict(case)
        measured = case["measured"]
        rows.append(
            {
                "id": case["id"],
                "group": group,
                "description": case.get("description", ""),
                "metric": case["metric"],
                "measured": measured,
                "predicted": value,
                "error": value / measured - 1,
                "role": case.get("role", "validation"),
                "subgroup": case.get("subgroup", group),
                "source": case["source"],
                "details": details,
            }
        )
    counted = [abs(r["error"]) for r in rows if r["role"] == "validation"]
    mape = sum(counted) / len(counted) if counted else float("nan")
    worst = max(counted) if counted else float("nan")
    target = TARGETS.get(group, {})
    out = {
        "group": group,
        "cases": rows,
        "mape": mape,
        "max_abs_error": worst,
        "target_mape": target.get("mape"),
        "target_max": target.get("max"),
        "within_target": bool(counted) and mape <= target.get("mape", 1) and worst <= (target.get("max") or float("inf")),
    }
    subs = sorted({r["subgroup"] for r in rows}, key=[r["subgroup"] for r in rows].index)
    if len(subs) > 1:
        out["groups"] = [subgroup_summary(s, [r for r in rows if r["subgroup"] == s], target) for s in subs]
        out["within_target"] = out["within_target"] and all(g["within_target"] for g in out["groups"])
    return out


def subgroup_summary(name: str, rows: list[dict[str, Any]], target: dict[str, float]) -> dict[str, Any]:
    """MAPE and worst validation case of one subgroup (training: dense, moe, fsdp, ascend)."""
    counted = [r for r in rows if r["role"] == "validation"]
    errs = [abs(r["error"]) for r in counted]
    mape = sum(errs) / len(errs) if errs else float("nan")
    worst = max(counted, key=lambda r: abs(r["error"])) if counted else None
    return {
        "group": name,
        "validation_cases": len(counted),
        "calibration_cases": len(rows) - len(counted),
        "mape": mape,
        "max_abs_error": abs(worst["error"]) if worst else float("nan"),
        "worst_case": worst["id"] if worst else None,
        "within_target": bool(errs) and mape <= target.get("mape", 1) and max(errs) <= (target.get("max") or float("inf")),
    }


def validate(selected: list[str] | None = None) -> dict[str, Any]:
    """All (or the selected) groups."""
    names = selected or groups()
    for g in names:
        if g == "silicon":
            raise UnknownNameError("the silicon group has its own report: superpod validate silicon [FILE.csv]")
        if g not in PREDICTORS:
            raise UnknownNameError(f"unknown validation group {g!r}; known: {', '.join(PREDICTORS)}, silicon")
    return {"groups": [run_group(g) for g in names]}
