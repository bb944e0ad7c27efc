"""Fabric tier spec: one level of a system's network, described explicitly.

A system lists its tiers innermost first (e.g. NVLink inside the rack, then
InfiniBand). A tier says which topology it is, how many chips one domain of it joins
(``domain_chips``; absent for a scale-out fabric that grows leaf/spine/core to any
size), the bandwidth each chip injects per direction, latency and oversubscription.
Topologies stay what they are: a full mesh is not silently turned into a ring, and an
nD full mesh (UB-Mesh) keeps its dimensions.
"""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.spec.chip import NAME_PATTERN
from superpod.spec.quantity import Bandwidth, Count, Ratio, Time

Topology = Literal[
    "clos",  # switched, non-blocking or oversubscribed (fat-tree, leaf/spine/core)
    "rail-optimized",  # switched, one rail per local GPU index
    "full-mesh",  # every chip linked directly to every other (HCCS boards, xGMI)
    "nd-full-mesh",  # full mesh along each of several dimensions (UB-Mesh)
    "torus",  # 2D/3D torus (TPU ICI)
    "all-to-all-optical",  # switched all-to-all over optics (CloudMatrix UB plane)
]

SWITCHED = {"clos", "rail-optimized", "all-to-all-optical"}


class FabricTier(BaseModel):
    """One network tier: topology, domain size, per-chip bandwidth, latency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    technology: str = Field(description="e.g. NVLink 5, UB, InfiniBand NDR, RoCE")
    topology: Topology
    description: str = ""
    domain_chips: Count | None = Field(
        default=None, description="chips one domain of this tier joins; absent = grows to any size"
    )
    bw_per_chip_Bps: Bandwidth = Field(description="injection bandwidth per chip, per direction")
    link_Bps: Bandwidth | None = None
    links_per_chip: int | None = Field(default=None, ge=1)
    latency_s: Time
    oversubscription: Ratio | None = None
    dims: list[int] | None = Field(default=None, description="chips per dimension (nd-full-mesh, torus)")
    in_network_reduction: bool = False
    optics_per_chip: Count | None = None
    switch_radix: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _dims_fit(self) -> "FabricTier":
        if self.topology in ("nd-full-mesh", "torus") and not self.dims:
            raise ValueError(f"topology {self.topology!r} needs dims (chips per dimension)")
        if self.dims is not None:
            if any(d < 1 for d in self.dims):
                raise ValueError("dims must be positive")
            if self.domain_chips is not None and prod(self.dims) != round(self.domain_chips.si):
                raise ValueError(
                    f"dims {self.dims} hold {prod(self.dims)} chips but domain_chips is {self.domain_chips.si:g}"
                )
        if self.oversubscription is not None and self.oversubscription.si < 1:
            raise ValueError("oversubscription must be >= 1 (1 = non-blocking)")
        return self

    @property
    def domain(self) -> float:
        """Chips per domain; ``inf`` for a tier that grows to any size."""
        return float("inf") if self.domain_chips is None else self.domain_chips.si

    @property
    def effective_bw_per_chip_Bps(self) -> float:
        """Per-chip bandwidth after oversubscription (what all chips get at once)."""
        over = self.oversubscription.si if self.oversubscription else 1.0
        return self.bw_per_chip_Bps.si / over
