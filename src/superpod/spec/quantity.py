"""A sourced quantity: a number, its unit, where it came from and how sure we are.

Every number in the catalog is a :class:`Quantity`. The value is kept as the source
states it (``value`` in ``unit``); :attr:`Quantity.si` gives it in SI. Confidence marks
follow ``shared/reference/hardware.md``:

* **A** vendor document, official cloud doc, or the paper itself;
* **B** two independent secondary sources agree, or a reputable analyst / derived check;
* **C** one secondary source, or derived from other numbers;
* **U** unverified: an estimate or a conflicting rumour.

Fields typed :data:`Flops`, :data:`Bytes`, :data:`Bandwidth`, :data:`Power`,
:data:`Time`, :data:`Count` or :data:`Ratio` also check that the unit has the right
dimension, so ``hbm_Bps = {value = 3.2, unit = "TB"}`` is an error, not a silent mix-up.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from superpod import units

Confidence = Literal["A", "B", "C", "U"]


MAX_SI = 1e25  # no catalog number (FLOP/s, bytes, bytes/s, W, s, count) comes near: 1e30 FLOP/s is a typo
MIN_SI = 1e-15


class Quantity(BaseModel):
    """One sourced number. ``value`` is in ``unit``; ``si`` is the SI value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float = Field(gt=0, allow_inf_nan=False, strict=True)  # strict: ``value = true`` is not 1
    unit: str = "count"
    source: str = Field(min_length=3)
    confidence: Confidence
    note: str | None = None

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if units.dimension(unit) is None:
            raise ValueError(f"unknown unit {unit!r}")
        return unit

    @model_validator(mode="after")
    def _sane_si(self) -> "Quantity":
        if not MIN_SI <= units.to_si(self.value, self.unit) <= MAX_SI:
            raise ValueError(f"{self.value:g} {self.unit} is outside [{MIN_SI:g}, {MAX_SI:g}] in SI units: a typo?")
        return self

    @property
    def si(self) -> float:
        """The value in SI units (FLOP/s, bytes, bytes/s per direction, W, s)."""
        return units.to_si(self.value, self.unit)

    @property
    def dimension(self) -> str:
        return units.dimension(self.unit) or "?"

    def cite(self) -> str:
        """``source [confidence]``, for tables."""
        return f"{self.source} [{self.confidence}]"


def _of(dim: str):
    def check(q: Quantity) -> Quantity:
        if q.dimension != dim:
            allowed = ", ".join(units.units_of(dim)[:8])
            raise ValueError(
                f"unit {q.unit!r} is not a {units.DIMENSION_NAMES[dim]} unit (e.g. {allowed})"
            )
        if dim == "count" and q.si != round(q.si):
            raise ValueError(f"a count must be a whole number, got {q.value:g} {q.unit}")
        return q

    return AfterValidator(check)


Flops = Annotated[Quantity, _of("flops")]
Bytes = Annotated[Quantity, _of("bytes")]
Bandwidth = Annotated[Quantity, _of("Bps")]
Power = Annotated[Quantity, _of("power")]
Time = Annotated[Quantity, _of("time")]
Count = Annotated[Quantity, _of("count")]
Ratio = Annotated[Quantity, _of("ratio")]
Money = Annotated[Quantity, _of("money")]


def derived(value_si: float, unit: str, source: str, confidence: Confidence = "C") -> Quantity:
    """A quantity computed by superpod from catalog numbers (default confidence C)."""
    return Quantity(value=units.from_si(value_si, unit), unit=unit, source=source, confidence=confidence)
