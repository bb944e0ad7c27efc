"""System spec: chips + host CPUs + fabric tiers + racks + a power breakdown.

A *fixed* system (NVL72, CloudMatrix 384, Atlas SuperPoDs) holds up to its size and,
beyond it, becomes several copies joined by its scale-out tier. A *cluster* system
(DGX SuperPODs, 8-GPU clusters, TPU pods) is a building block plus a scale-out fabric
that grows (leaf/spine/core) to any size. :meth:`System.at` sizes either to N chips,
filling nodes first; the sized totals are the share of the hardware those chips occupy.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.errors import InvalidOptionError
from superpod.spec.chip import NAME_PATTERN, Chip
from superpod.spec.fabric import FabricTier
from superpod.spec.host_memory import HostMemory
from superpod.spec.quantity import Count, Money, Power

#: how far a published total may differ from the sum of its parts
POWER_SUM_TOLERANCE = 0.01


class PowerBreakdown(BaseModel):
    """Power of the whole (reference-size) system, by part; parts must add up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_w: Power | None = Field(default=None, description="published all-in total, if any")
    parts: dict[str, Power] = Field(min_length=1)

    @model_validator(mode="after")
    def _parts_add_up(self) -> "PowerBreakdown":
        if self.total_w is not None:
            s, t = self.sum_w, self.total_w.si
            if abs(s - t) > POWER_SUM_TOLERANCE * t:
                raise ValueError(f"power parts sum to {s:,.0f} W but total_w is {t:,.0f} W")
        return self

    @property
    def sum_w(self) -> float:
        return sum(p.si for p in self.parts.values())


class Resilience(BaseModel):
    """Optional fault-tolerance features of a system (read by :mod:`superpod.scaling`).

    ``spare_chips`` hot-spare chips stand by for every ``spare_group_chips`` working chips
    (UB-Mesh: one backup NPU per 64-NPU rack); spares are extra hardware, not counted in
    ``chips``. ``in_memory_checkpoint``: the system's stack keeps checkpoints in host/peer
    memory (Gemini-style), so saves block only for a snapshot and reloads skip storage.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    spare_chips: Count | None = None
    spare_group_chips: Count | None = None
    in_memory_checkpoint: bool = False

    @model_validator(mode="after")
    def _paired(self) -> "Resilience":
        if (self.spare_chips is None) != (self.spare_group_chips is None):
            raise ValueError("spare_chips and spare_group_chips go together")
        return self


class System(BaseModel):
    """A whole AI compute system; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    title: str
    vendor: str
    kind: Literal["fixed", "cluster"]
    released: str = ""
    description: str = ""
    chip: Chip
    chips: Count = Field(description="chips in the reference system (clusters: a typical deployment)")
    chips_per_node: int = Field(ge=1)
    cpu_model: str | None = None
    cpus_per_node: int = Field(default=0, ge=0)
    racks: Count
    tiers: list[FabricTier] = Field(min_length=1, description="fabric tiers, innermost first")
    scaleup_tiers: int = Field(default=1, ge=1, description="how many inner tiers form the scale-up domain")
    optical_modules: Count | None = None
    capex: Money | None = None
    power: PowerBreakdown
    resilience: Resilience | None = Field(default=None, description="hot spares, in-memory checkpoints (optional)")
    host_memory: HostMemory | None = Field(default=None, description="host DRAM and its path, for a caching tier (optional)")

    @model_validator(mode="after")
    def _consistent(self) -> "System":
        n = self.chips.si
        if n != int(n):
            raise ValueError("chips must be a whole number")
        if self.scaleup_tiers > len(self.tiers):
            raise ValueError(f"scaleup_tiers={self.scaleup_tiers} but only {len(self.tiers)} tiers given")
        domains = [t.domain for t in self.tiers]
        if domains != sorted(domains):
            raise ValueError("tiers must be listed innermost first (domain sizes non-decreasing)")
        if self.kind == "cluster" and self.tiers[-1].domain_chips is not None:
            raise ValueError("a cluster system's outermost tier must grow to any size (no domain_chips)")
        return self

    @property
    def size(self) -> int:
        """Chips in the reference system."""
        return int(self.chips.si)

    @property
    def scaleup_domain(self) -> float:
        """Chips joined by the scale-up fabric (capped at the system size for fixed systems)."""
        dom = self.tiers[self.scaleup_tiers - 1].domain
        return min(dom, self.size) if self.kind == "fixed" else dom

    @property
    def scaleup_per_chip_Bps(self) -> float:
        """A chip's scale-up bandwidth per direction: its ports, else its first tier."""
        if self.chip.scaleup_Bps is not None:
            return self.chip.scaleup_Bps.si
        return self.tiers[0].bw_per_chip_Bps.si

    @property
    def scaleout_tier(self) -> FabricTier | None:
        """The first tier beyond the scale-up domain, if the system has one."""
        return self.tiers[self.scaleup_tiers] if self.scaleup_tiers < len(self.tiers) else None

    def at(self, n_chips: int | None = None) -> "SizedSystem":
        """This system sized to ``n_chips`` (default: its reference size)."""
        n = self.size if n_chips is None else n_chips
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise InvalidOptionError(f"the chip count must be a whole number >= 1, got {n_chips}")
        n = int(n)
        if self.kind == "fixed" and n > self.size and self.scaleout_tier is None:
            raise InvalidOptionError(
                f"{self.name} holds {self.size} chips and has no scale-out tier to join copies; asked for {n}"
            )
        return SizedSystem(self, n)


@dataclass(frozen=True)
class SizedSystem:
    """A system sized to ``n_chips``; every total is the sum over its parts."""

    system: System
    n_chips: int

    @property
    def ranks_per_chip(self) -> int:
        """Ranks (framework devices) per chip package (docs/conventions.md)."""
        return self.system.chip.ranks

    @property
    def n_ranks(self) -> int:
        """Ranks of these chips: what parallel degrees multiply up to."""
        return self.n_chips * self.ranks_per_chip

    @property
    def share(self) -> float:
        """Fraction of the reference system's hardware these chips occupy (may exceed 1)."""
        return self.n_chips / self.system.size

    @property
    def nodes(self) -> int:
        return ceil(self.n_chips / self.system.chips_per_node)

    @property
    def copies(self) -> int:
        """Copies of a fixed system needed (1 for clusters: they grow instead)."""
        return ceil(self.n_chips / self.system.size) if self.system.kind == "fixed" else 1

    @property
    def racks(self) -> float:
        return self.system.racks.si * self.share

    def power_parts_w(self) -> dict[str, float]:
        """IT power by part (W, nameplate), pro-rata to the hardware these chips occupy.

        The catalog's parts are IT equipment (chips, hosts, switches, optics, fans and
        conversion); cooling and facility losses come on top as ``IT x (PUE - 1)``.
        """
        return {k: v.si * self.share for k, v in self.system.power.parts.items()}

    def per_chip(self) -> dict[str, float]:
        """The per-chip quantities that system totals are sums of (SI, NaN if absent)."""
        chip = self.system.chip
        nan = float("nan")

        def si(q):
            return q.si if q is not None else nan

        out = {f"{p}_flops": si(getattr(chip, f"{p}_flops")) for p in ("bf16", "fp8", "int8", "fp4")}
        out["hbm_bytes"] = chip.hbm_bytes.si
        out["hbm_Bps"] = chip.hbm_Bps.si
        out["scaleup_Bps"] = self.system.scaleup_per_chip_Bps
        tier = self.system.scaleout_tier
        out["scaleout_Bps"] = tier.bw_per_chip_Bps.si if tier is not None else nan
        return out

    def totals(self) -> dict[str, float]:
        """System totals in SI (bandwidths per direction), plus per-watt figures.

        Keys: ``chips, ranks, nodes, racks, copies, bf16_flops, fp8_flops, int8_flops,
        fp4_flops, hbm_bytes, hbm_Bps, scaleup_Bps, scaleout_Bps, power_w, power_it_w,
        bf16_flops_per_w, fp8_flops_per_w, fp4_flops_per_w, hbm_bytes_per_w``. Peaks are
        dense (``*_flops``: the format's dense peak); power is nameplate IT power
        (``power_w`` is the older name of ``power_it_w``; the per-W figures are per IT watt).
        """
        out: dict[str, float] = {
            "chips": float(self.n_chips),
            "ranks": float(self.n_ranks),
            "nodes": float(self.nodes),
            "racks": self.racks,
            "copies": float(self.copies),
        }
        out.update({k: v * self.n_chips for k, v in self.per_chip().items()})
        out["power_w"] = sum(self.power_parts_w().values())
        out["power_it_w"] = out["power_w"]
        for k in ("bf16_flops", "fp8_flops", "fp4_flops", "hbm_bytes"):
            out[f"{k}_per_w"] = out[k] / out["power_w"]
        return out

    def scaleup_domain_chips(self) -> int:
        return int(min(self.system.scaleup_domain, self.n_chips))
