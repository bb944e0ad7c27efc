"""Calibration data: efficiency factors fitted to microbenchmarks, loaded from the catalog.

``catalog/calibration/`` is grouped by kind, and each folder is loaded as that kind:

* ``kernels/``: one kernel profile per chip family (GEMM and attention efficiencies);
* ``comm/``: ``fabrics.toml``, collective and all-to-all efficiencies per family of
  fabric tiers, and ``messages.toml``, the bytes of one MoE dispatch/combine message;
* ``algorithms/``: bytes and passes of the training algorithms (optimizer traffic,
  ZeRO-3 gathers, attention backward factors), the same on every chip;
* ``frameworks/``: end-to-end factors per training and serving framework (schemas in
  :mod:`superpod.training.framework` and :mod:`superpod.serving.framework`);
* ``anchors/``: the microbenchmark measurements the factors were fitted to; the test
  suite reproduces them through the cost functions.

Every factor is a sourced quantity naming the microbenchmark it was fitted to.
Validation cases never feed these.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.errors import SpecError
from superpod.spec.catalog import build, catalog_root, read_toml
from superpod.spec.quantity import Bytes, Confidence, Count, Quantity, Ratio, Time


class GemmProfile(BaseModel):
    """Roofline-with-quantisation GEMM model parameters (see :func:`superpod.cost.compute.gemm_s`)."""

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


class Dispatch(BaseModel):
    """One token copy of a quantised MoE dispatch: a byte per element, scales, a header."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale_group: Count
    scale_bytes: Bytes
    header_bytes: Bytes
    quantised_dtype: str
    plain_dtype: str


class Combine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dtype: str


class MessageLayout(BaseModel):
    """The MoE dispatch and combine messages on the wire (``comm/messages.toml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dispatch: Dispatch
    combine: Combine


class Optimizer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    adam_traffic_bytes_per_param: Bytes
    zero3_gathers_per_microbatch: Count


class AttentionAlgorithm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    backward_factor: Ratio
    score_pass_bytes: Bytes | None = Field(default=None, description="HBM bytes per score element (unfused kernels only)")


class TrainingAlgorithms(BaseModel):
    """Optimizer traffic and attention factors of training (``algorithms/training.toml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    optimizer: Optimizer
    attention: dict[str, AttentionAlgorithm]
    mechanisms: dict[str, Quantity] = Field(default_factory=dict, description="training mechanisms: DP bucket, EP kernel SMs, straggler cv")


def calibration_file(kind: str, name: str) -> tuple[dict, str]:
    """The data of ``catalog/calibration/<kind>/<name>.toml`` and its catalog-relative label."""
    label = f"calibration/{kind}/{name}.toml"
    return read_toml(catalog_root() / "calibration" / kind / f"{name}.toml"), label


def calibration_folder(kind: str) -> list[tuple[dict, str]]:
    """Every file of ``catalog/calibration/<kind>/`` (sorted), with its label."""
    return [calibration_file(kind, p.stem) for p in sorted((catalog_root() / "calibration" / kind).glob("*.toml"))]


@lru_cache(maxsize=None)
def kernel_profiles() -> tuple[KernelProfile, ...]:
    return tuple(build(KernelProfile, data, label) for data, label in calibration_folder("kernels"))


@lru_cache(maxsize=None)
def comm_profiles() -> tuple[CommProfile, ...]:
    return tuple(build(CommFile, *calibration_file("comm", "fabrics")).profiles)


@lru_cache(maxsize=None)
def message_layout() -> MessageLayout:
    return build(MessageLayout, *calibration_file("comm", "messages"))


@lru_cache(maxsize=None)
def training_algorithms() -> TrainingAlgorithms:
    return build(TrainingAlgorithms, *calibration_file("algorithms", "training"))


def pick(entries, name: str, attr: str):
    """The first entry whose ``attr`` list names ``name``, else the first that lists ``"*"``
    (the default), else None."""
    for e in entries:
        if name in getattr(e, attr):
            return e
    for e in entries:
        if "*" in getattr(e, attr):
            return e
    return None


def _profile(entries, name: str, attr: str, what: str):
    p = pick(entries, name, attr)
    if p is None:
        raise SpecError(f"calibration: no {what} profile for {name!r} and no default")
    return p


def kernel_profile(chip_name: str) -> KernelProfile:
    """The kernel profile of a chip (its own family's, else the default, marked U)."""
    return _profile(kernel_profiles(), chip_name, "chips", "kernel")


def comm_profile(fabric_name: str) -> CommProfile:
    """The communication profile of a fabric tier (its family's, else the default)."""
    return _profile(comm_profiles(), fabric_name, "fabrics", "comm")


# ---------------------------------------------------------------------------- fitted kernel tables

#: ``catalog/calibration/silicon/<name>.toml``: parameters of the kernel models of
#: :mod:`superpod.cost.kernels`, fitted by ``benchmarks/silicon/fit_*.py`` to AIConfigurator's tables.
SILICON_FILES = ("gemm", "mla_bmm", "attention", "moe_perf", "comm_perf", "holdout", "samples")
_MULTIPLIERS = ("gpu_eta_c", "gpu_t0", "gpu_eta_m")


def silicon_entries(tree: dict, path: tuple[str, ...] = ()):
    """Every parameter entry of a silicon file (a table holding values, not only sub-tables) with its path;
    the per-GPU multiplier tables belong to their entry."""
    if path and path[-1] in _MULTIPLIERS:
        return
    if path and any(not isinstance(v, dict) for v in tree.values()):
        yield path, tree
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from silicon_entries(v, path + (k,))


@lru_cache(maxsize=None)
def silicon_params(name: str) -> dict:
    """The fitted parameters of one kernel table family, validated: every entry names its ``source``
    (table, framework, version) and a ``confidence`` (A/B/C/U)."""
    if name not in SILICON_FILES:
        raise SpecError(f"calibration: no silicon parameter file {name!r} (have {', '.join(SILICON_FILES)})")
    data, label = calibration_file("silicon", name)
    for path, entry in silicon_entries(data):
        where = f"{label} [{'.'.join(path)}]"
        if not isinstance(entry.get("source"), str) or len(entry["source"]) < 3:
            raise SpecError(f"{where}: no source")
        if entry.get("confidence") not in ("A", "B", "C", "U"):
            raise SpecError(f"{where}: confidence must be A, B, C or U, not {entry.get('confidence')!r}")
    return data
