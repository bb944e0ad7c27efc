"""Chip spec: one accelerator package (a GPU, an NPU or a TPU chip).

All peaks are dense (no 2:4 sparsity) per package; bandwidths are per direction.
A number format the chip lacks is absent (``None``), never zero: asking for its peak
raises :class:`~superpod.errors.UnsupportedPrecisionError` naming what the chip has.

``ranks_per_chip`` is how many devices a framework addresses in one package, each one
rank of the parallel degrees (docs/conventions.md, "Ranks and chips"): 2 on an Ascend
910C (one process per die, CloudMatrix-Infer arXiv 2506.12708) and a TPU7x (two TPU
devices per chip); 1 on every GPU (a B200's two dies are one CUDA device) and by default.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.errors import UnsupportedPrecisionError
from superpod.spec.quantity import Bandwidth, Bytes, Confidence, Count, Flops, Power

Precision = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

#: the documented fallback order when a chip lacks a format and the user allows it
FALLBACK = {"fp4": "fp8", "fp8": "int8", "int8": "bf16", "fp16": "bf16", "tf32": "bf16", "bf16": "fp16"}

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class PowerCurve(BaseModel):
    """Sustained compute rate against the board power limit: ``value`` holds ``[watts, fraction]``
    pairs (``unit = "W, fraction"``), the fraction of the catalog's dense peaks the tensor cores
    sustain at that limit (clock scaling under the cap; HBM bandwidth is not affected). Read by
    :mod:`superpod.training.power`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: list[tuple[float, float]] = Field(min_length=2)
    unit: Literal["W, fraction"] = "W, fraction"
    source: str
    confidence: Confidence
    note: str | None = None

    @model_validator(mode="after")
    def _rising(self) -> "PowerCurve":
        w = [p[0] for p in self.value]
        f = [p[1] for p in self.value]
        if any(b <= a for a, b in zip(w, w[1:])) or any(b < a for a, b in zip(f, f[1:])) or min(f) <= 0 or max(f) > 1:
            raise ValueError("power_curve points must rise in watts, with fractions in (0, 1] that never fall")
        return self

    @property
    def points(self) -> list[tuple[float, float]]:
        """The ``[watts, fraction]`` pairs, rising in watts."""
        return list(self.value)


class Chip(BaseModel):
    """One accelerator package: dense peaks, HBM, interconnect bandwidth, power."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    vendor: str
    released: str = Field(description="release or availability date as the source gives it")
    description: str = ""
    dies: int = Field(default=1, ge=1)
    ranks_per_chip: Count | None = Field(default=None, description="devices (ranks) a framework addresses per package; 1 if absent")
    fp32_flops: Flops | None = None
    tf32_flops: Flops | None = None
    bf16_flops: Flops | None = None
    fp16_flops: Flops | None = None
    fp8_flops: Flops | None = None
    int8_flops: Flops | None = None
    fp4_flops: Flops | None = None
    hbm_bytes: Bytes
    hbm_Bps: Bandwidth
    scaleup_Bps: Bandwidth | None = None
    scaleout_Bps: Bandwidth | None = None
    tdp_w: Power | None = None
    power_curve: PowerCurve | None = Field(default=None, description="sustained compute fraction by power limit (training --power-limit-w)")
    sm_count: Count | None = Field(default=None, description="streaming multiprocessors (kernel tiles and waves)")
    exp_per_s: Flops | None = Field(default=None, description="SFU exponentials per second (softmax in attention)")
    kernel_family: str | None = Field(default=None, description="measured-kernel family its binaries belong to (sm90, sm100)")
    kernel_tables: str | None = Field(default=None, description="name of its own measured kernel tables, if any")

    @model_validator(mode="after")
    def _whole_ranks(self) -> "Chip":
        r = self.ranks_per_chip
        if r is not None and r.si != int(r.si):
            raise ValueError(f"ranks_per_chip must be a whole number, got {r.si:g}")
        return self

    @property
    def ranks(self) -> int:
        """Ranks (framework devices) per package: ``ranks_per_chip``, else 1."""
        return 1 if self.ranks_per_chip is None else int(self.ranks_per_chip.si)

    def precisions(self) -> list[str]:
        """Number formats this chip has units for."""
        return [p for p in PRECISIONS if getattr(self, f"{p}_flops") is not None]

    def peak_flops(self, precision: str, fallback: bool = False) -> float:
        """Dense peak FLOP/s in ``precision``.

        With ``fallback=True`` a missing format falls back along :data:`FALLBACK`
        (fp4 -> fp8 -> int8 -> bf16): the format the chip would really run it in.
        """
        return self.peak(precision, fallback)[1]

    def peak(self, precision: str, fallback: bool = False) -> tuple[str, float]:
        """``(format actually used, dense peak FLOP/s)``; see :meth:`peak_flops`."""
        if precision not in PRECISIONS:
            raise UnsupportedPrecisionError(
                f"unknown number format {precision!r}; known: {', '.join(PRECISIONS)}"
            )
        used, seen = precision, set()
        while getattr(self, f"{used}_flops") is None:
            if not fallback or used in seen or used not in FALLBACK:
                raise UnsupportedPrecisionError(
                    f"{self.name} has no {precision} units; it supports {', '.join(self.precisions())}"
                    + ("" if fallback else " (allow the documented fallback to run it in the next format)")
                )
            seen.add(used)
            used = FALLBACK[used]
        return used, getattr(self, f"{used}_flops").si
