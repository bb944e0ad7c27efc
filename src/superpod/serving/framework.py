"""Serving-framework factors that only an end-to-end run shows, from
``catalog/calibration/frameworks/serving.toml``.

Kernel and communication efficiencies come from microbenchmarks (the cost layer's
calibration). What is left is per framework: a fixed time per layer per micro-batch
(the small kernels, launch gaps and synchronisation a kernel benchmark does not see),
a fixed time per decode step (scheduling, sampling), the least time one layer's kernels
take at any batch (launch-bound under CUDA graphs: a floor, not an addition), the share of compute units the
normal-mode all-to-all takes while it overlaps compute, and how much memory the engine
keeps back, and the KV-cache format it picks when not told (``[frameworks.kv_cache]``).
The residual expert-load imbalance under EPLB is a property of the routing
and the balancer, stored once in ``[eplb]``. Each factor names what it was fitted on;
an end-to-end case used for fitting is marked ``calibration`` in ``superpod validate``.
"""

from __future__ import annotations

from functools import lru_cache

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from superpod.errors import UnknownNameError
from superpod.spec.calibration import calibration_file, pick
from superpod.spec.catalog import build
from superpod.spec.quantity import Bytes, Confidence, Count, Ratio, Time


class KvCacheDefault(BaseModel):
    """The KV-cache format a framework uses when the user does not set one: FP8 for the GEMM
    formats in ``fp8_for``, otherwise the model's activation dtype (BF16; ``auto``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fp8_for: list[str] = Field(default_factory=list, description="GEMM formats (--quant) that get an FP8 KV cache")
    source: str = Field(min_length=3)
    confidence: Confidence


class ServingFramework(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    chips: list[str] = Field(default_factory=list, description="chips this framework is the default for ('*': any)")
    fitted_on: str | None = None
    layer_overhead_s: Time | None = None
    step_overhead_s: Time | None = None
    layer_floor_s: Time | None = Field(None, description="least time of one layer's kernels at any batch (CUDA graphs)")
    overlap_efficiency: Ratio | None = None
    runtime_reserve_bytes: Bytes
    kv_mem_fraction: Ratio
    prefill_chunk_tokens: Count = Field(description="chunked-prefill budget per chip per iteration (co-located serving)")
    kv_cache: KvCacheDefault | None = None
    kernels: dict[str, Any] | None = Field(
        None, description="the measured kernels this framework runs per kernel family ([frameworks.kernels]); "
                          "absent: the generic roofline prices its layers")

    def default_kv_dtype(self, quant: str) -> str:
        """The KV-cache format this framework runs by default with GEMMs in ``quant``."""
        return "fp8" if self.kv_cache is not None and quant in self.kv_cache.fp8_for else "bf16"

    def si(self, key: str) -> float:
        q = getattr(self, key)
        return 0.0 if q is None else q.si


class Eplb(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fitted_on: str
    balanced_imbalance: Ratio
    none_imbalance: Ratio
    redundant_fraction: Ratio


class Mtp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_accept: Ratio = Field(description="per-token draft acceptance used when only the draft count is given")


class ServingFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    eplb: Eplb
    mtp: Mtp
    frameworks: list[ServingFramework]


@lru_cache(maxsize=1)
def _file() -> ServingFile:
    return build(ServingFile, *calibration_file("frameworks", "serving"))


def frameworks() -> dict[str, ServingFramework]:
    return {f.name: f for f in _file().frameworks}


def eplb() -> Eplb:
    return _file().eplb


def mtp() -> Mtp:
    return _file().mtp


def framework(name: str | None, chip: str) -> ServingFramework:
    """The named framework, or the default one for ``chip``."""
    fws = frameworks()
    if name is not None:
        try:
            return fws[name]
        except KeyError:
            raise UnknownNameError(f"unknown serving framework {name!r}; known: {', '.join(fws)}") from None
    f = pick(fws.values(), chip, "chips")
    if f is None:
        raise UnknownNameError(f"no serving framework for chip {chip!r}")
    return f
