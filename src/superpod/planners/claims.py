"""Published system-level claims, recomputed from the catalog.

Each claim in ``catalog/claims.toml`` says what was claimed (value, unit, who said it)
and how superpod recomputes it (a system total, a chip figure, or a ratio of two). The
verdict is

* ``reproduced``: the catalog gives the claimed value within 2%, or the same value when
  rounded to the claim's stated significant figures;
* ``explained``: it does not, but the claim's *alternate basis* (e.g. SemiAnalysis'
  780 TF per 910C instead of Huawei's 752 TF, or binary TiB for "TB") does, and the
  reason is stated;
* ``disputed``: neither.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from superpod import units
from superpod.errors import SpecError
from superpod.spec.catalog import build, catalog_root, load_chip, load_system, read_toml
from superpod.spec.chip import Chip
from superpod.spec.quantity import Quantity
from superpod.spec.system import System

TOLERANCE = 0.02


class Compute(BaseModel):
    """How to recompute a claim: a system total or chip figure, or a ratio of two."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    system: str | None = None
    chip: str | None = None
    over: str | None = Field(default=None, description="divide by the same metric of this system/chip")
    form: Literal["value", "inverse", "lower_by"] = "value"


class Alternate(BaseModel):
    """Another basis the claimant used: overrides of catalog figures, or another unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: str
    overrides: dict[str, Quantity] = {}
    unit: str | None = None


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    text: str
    source: str = Field(min_length=3)
    value: float
    unit: str = "ratio"
    op: Literal["approx", "gt"] = "approx"
    sig_figs: int | None = Field(default=None, ge=1)
    compute: Compute
    basis: str
    alternate: Alternate | None = None
    explanation: str | None = None


class ClaimFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    claims: list[Claim]


@lru_cache(maxsize=1)
def load_claims() -> tuple[Claim, ...]:
    path = catalog_root() / "claims.toml"
    return tuple(build(ClaimFile, read_toml(path), "claims.toml").claims)


def _chip_metric(chip: Chip, metric: str) -> float:
    if metric == "scaleup_bidi_Bps":
        return 2 * chip.scaleup_Bps.si
    q = getattr(chip, metric, None)
    if q is None:
        raise SpecError(f"claims: {chip.name} has no {metric}")
    return q.si


def _system_metric(system: System, metric: str) -> float:
    if metric == "scaleup_bidi_Bps":
        return 2 * system.at().totals()["scaleup_Bps"]
    return system.at().totals()[metric]


def _with_overrides(obj, overrides: dict[str, Quantity]):
    """A chip or system with some of its chips' figures replaced (``chipname.field``)."""
    chip = obj if isinstance(obj, Chip) else obj.chip
    update = {k.split(".", 1)[1]: q for k, q in overrides.items() if k.split(".", 1)[0] == chip.name}
    if not update:
        return obj
    new_chip = chip.model_copy(update=update)
    return new_chip if isinstance(obj, Chip) else obj.model_copy(update={"chip": new_chip})


def recompute(c: Compute, overrides: dict[str, Quantity] | None = None) -> float:
    """The claimed quantity from the catalog (SI), optionally on an alternate basis."""
    overrides = overrides or {}
    if c.system is not None:
        load, metric = load_system, _system_metric
        ref = c.system
    elif c.chip is not None:
        load, metric = load_chip, _chip_metric
        ref = c.chip
    else:
        raise SpecError("claims: compute needs a system or a chip")
    value = metric(_with_overrides(load(ref), overrides), c.metric)
    if c.over is not None:
        value /= metric(_with_overrides(load(c.over), overrides), c.metric)
    if c.form == "inverse":
        value = 1 / value
    elif c.form == "lower_by":
        value = 1 - value
    return value


def round_sig(x: float, n: int) -> float:
    if x == 0:
        return 0.0
    return round(x, n - 1 - math.floor(math.log10(abs(x))))


def matches(computed: float, claim: Claim, claimed: float) -> bool:
    """Does ``computed`` support the claimed value (both in the claim's unit)?"""
    if claim.op == "gt":
        return computed > claimed
    if abs(computed / claimed - 1) <= TOLERANCE:
        return True
    return claim.sig_figs is not None and math.isclose(round_sig(computed, claim.sig_figs), claimed)


def check(claim: Claim) -> dict[str, Any]:
    """One claim's row: claimed, computed, ratio, basis and verdict."""
    computed = units.from_si(recompute(claim.compute), claim.unit)
    row: dict[str, Any] = {
        "id": claim.id,
        "claim": claim.text,
        "source": claim.source,
        "claimed": claim.value,
        "unit": claim.unit,
        "op": claim.op,
        "computed": computed,
        "ratio": computed / claim.value,
        "basis": claim.basis,
        "explanation": claim.explanation,
        "alternate": None,
    }
    if matches(computed, claim, claim.value):
        row["verdict"] = "reproduced"
        return row
    row["verdict"] = "disputed"
    alt = claim.alternate
    if alt is not None:
        unit = alt.unit or claim.unit
        alt_value = units.from_si(recompute(claim.compute, alt.overrides), unit)
        row["alternate"] = {"basis": alt.basis, "computed": alt_value, "unit": unit}
        if matches(alt_value, claim, claim.value):
            row["verdict"] = "explained"
    return row


def claims() -> list[dict[str, Any]]:
    """Every published claim, recomputed and judged."""
    return [check(c) for c in load_claims()]


def strict_failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that ``--strict`` rejects: disputed, or off by more than 2% with no explanation."""
    return [
        r
        for r in rows
        if r["verdict"] == "disputed"
        or (r["op"] == "approx" and abs(r["ratio"] - 1) > TOLERANCE and not r["explanation"])
    ]
