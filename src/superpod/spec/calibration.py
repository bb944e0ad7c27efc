"""Calibration data: efficiency factors fitted to microbenchmarks, loaded from the catalog.

Kernel profiles (``catalog/calibration/<profile>.toml``) hold GEMM and attention
efficiencies per chip family; ``comm.toml`` holds collective and all-to-all
efficiencies per fabric tier. Every factor is a sourced quantity naming the
microbenchmark it was fitted to; ``anchors.toml`` lists those measurements, and the test
suite reproduces them through the cost functions. Validation cases never feed these.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.errors import SpecError
from superpod.spec.catalog import build, catalog_root, read_toml
from superpod.spec.quantity import Confidence, Count, Ratio, Time


class GemmProfile(BaseModel):
    """Roofline-with-quantisation GEMM model parameters (see :func:`superpod.cost.gemm.gemm_s`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cores: Count
    tile_m_small: Count
    tile_m_large: Count
    large_m: Count
    tile_n_choices: list[int] = Field(min_length=1, description="block widths the kernel library picks from")
    tile_n_source: str = Field(min_length=3)
    reuse_n: Count
    reuse_m: Count
    eta_peak: Ratio
    k_half: Count
    eta_mem: Ratio
    launch_s: Time
    smooth: Count
    masked_factor: Ratio
    contiguous_factor: Ratio


class AttentionProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    decode_eta_c: Ratio
    decode_eta_m: Ratio
    prefill_eta_c: Ratio


class KernelProfile(BaseModel):
    """Kernel efficiencies of one chip family."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    chips: list[str]
    devices_per_chip: Count
    gemm: GemmProfile
    attention: AttentionProfile


class Curve(BaseModel):
    """Efficiency vs EP degree, interpolated in log2(ep) and held flat outside the points."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ep: list[float] = Field(min_length=1)
    eta: list[float] = Field(min_length=1)
    source: str = Field(min_length=3)
    confidence: Confidence

    @model_validator(mode="after")
    def _shape(self) -> "Curve":
        if len(self.ep) != len(self.eta):
            raise ValueError("ep and eta must have the same length")
        if any(e <= 0 or e > 1 for e in self.eta):
            raise ValueError("eta must be in (0, 1]")
        if sorted(self.ep) != self.ep or self.ep[0] < 1:
            raise ValueError("ep must be increasing and >= 1")
        return self

    def __call__(self, ep):
        return np.interp(np.log2(np.maximum(ep, 1)), np.log2(self.ep), self.eta)


class CommProfile(BaseModel):
    """Collective efficiencies of one family of fabric tiers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    fabrics: list[str]
    eta_busbw: Ratio
    eta_inr: Ratio
    a2a_normal_dispatch: Curve
    a2a_normal_combine: Curve
    a2a_ll_dispatch: Curve
    a2a_ll_combine: Curve


class CommFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    profiles: list[CommProfile]


@lru_cache(maxsize=None)
def kernel_profiles() -> tuple[KernelProfile, ...]:
    root = catalog_root() / "calibration"
    out = []
    for p in sorted(root.glob("*.toml")):
        data = read_toml(p)
        if "chips" in data:  # a kernel profile names the chips it applies to; other files hold other data
            out.append(build(KernelProfile, data, f"calibration/{p.name}"))
    return tuple(out)


@lru_cache(maxsize=None)
def comm_profiles() -> tuple[CommProfile, ...]:
    return tuple(build(CommFile, read_toml(catalog_root() / "calibration" / "comm.toml"), "calibration/comm.toml").profiles)


def _pick(profiles, name: str, attr: str):
    for p in profiles:
        if name in getattr(p, attr):
            return p
    for p in profiles:
        if "*" in getattr(p, attr):
            return p
    raise SpecError(f"calibration: no profile for {name!r} and no default")


def kernel_profile(chip_name: str) -> KernelProfile:
    """The kernel profile of a chip (its own family's, else the default, marked U)."""
    return _pick(kernel_profiles(), chip_name, "chips")


def comm_profile(fabric_name: str) -> CommProfile:
    """The communication profile of a fabric tier (its family's, else the default)."""
    return _pick(comm_profiles(), fabric_name, "fabrics")
