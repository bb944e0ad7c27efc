"""Training-framework factors (memory reserve, overheads, attention kernel, overlaps) from
``catalog/calibration/frameworks/training.toml``."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from superpod.errors import UnknownNameError
from superpod.spec.calibration import calibration_file
from superpod.spec.catalog import build
from superpod.spec.quantity import Bytes, Quantity, Ratio, Time


class HostOps(BaseModel):
    """Eager operations the host launches per layer per micro-batch (:mod:`superpod.training.host`):
    ``[forward, backward]`` counts; ``dispatcher``: ``[before the synchronisation, after it, backward]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op_s: Time | None = Field(default=None, description="host time of one eager call into a CUDA extension (Transformer "
                              "Engine's GEMM, quantise and swizzle calls; None: the chip's eager-op cost, kernel tables)")
    op_tables_ratio: Ratio | None = Field(default=None, description="with op_s None: one extension call in units of "
                                          "the chip's eager-op cost from the kernel tables (None: 1)")
    aten_op_s: Time | None = Field(default=None, description="host time of one plain eager PyTorch (ATen) operation: the "
                                   "router's kernels, buffer allocations, the layer's other kernels, the dispatcher's "
                                   "preprocess and permutes (None: op_s)")
    linear: tuple[float, float]
    quantised_linear: tuple[float, float]
    quantised_aten: tuple[float, float] = Field(default=(0.0, 0.0), description="plain operations per quantised "
                                                 "linear: its tensors' buffer allocations and scale swizzles (at the ATen cost)")
    router: tuple[float, float]
    layer: tuple[float, float]
    dispatcher: dict[str, tuple[float, float, float]]
    graph_scope: tuple[Literal["attn", "mlp", "moe_router", "moe_preprocess", "shared_experts"], ...] = Field(
        default=(), description="parts captured in CUDA graphs (Megatron-Core --cuda-graph-scope; shared_experts: with "
        "the router's graph), replayed by one launch per pass (superpod.training.host)")
    source: str
    confidence: Literal["A", "B", "C", "U"]


class Framework(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    attention: Literal["flash", "materialized"]
    reserve_bytes: Bytes
    overhead_per_microbatch_layer_s: Time
    overhead_per_step_s: Time
    cp_overlap: bool = Field(description="context-parallel K/V exchange overlapped with attention (ring) or exposed (all-gather first)")
    dp_overlap: bool = Field(default=True, description="gradient reduction overlapped with the last backward pass")
    tp_bwd_overlap: bool = Field(default=True, description="backward TP collectives overlapped with weight-gradient GEMMs (Megatron async TP)")
    fitted_on: str | None = None
    schedules: list[str] | None = Field(default=None, description="pipeline schedules the stack implements (None: all)")
    zero_stages: list[int] | None = Field(default=None, description="ZeRO / FSDP stages it implements (None: 0-3)")
    context_parallel: bool = Field(default=True, description="whether it implements context parallelism")
    sequence_parallel: bool = Field(default=True, description="whether it implements Megatron sequence parallelism")
    grad_reduce_dtype: Literal["fp32", "bf16"] = Field(default="fp32", description="format gradients are reduced in")
    elementwise_passes: tuple[float, float] | None = Field(default=None, description="(hidden, ffn) elementwise passes per token and layer of an unfused (eager) stack; None: the fused count")
    attention_utilisation: dict[str, Ratio] | None = Field(default=None, description="per kernel profile (hopper, ...): share of the dense peak the stack's attention kernel reaches, when it runs an older kernel than the profile's calibrated one (absent: the profile's)")
    kernels: dict | None = Field(default=None, description="measured-kernel fits the stack runs per kernel family (superpod.training.kernels); None: the roofline")
    dispatcher: Literal["deepep", "alltoall", "hybridep"] = Field(default="deepep", description="MoE token dispatcher when --dispatcher is not given (superpod.training.dispatch)")
    pp_layout: bool = Field(default=False, description="layers placed per pipeline stage freely (Megatron-Core --pipeline-model-parallel-layout): the LM head's stage holds fewer layers")
    expert_flops: dict[str, dict[str, Quantity]] | None = Field(default=None, description="per recipe and chip: the best FLOP/s the stack's grouped GEMM of the routed experts reaches (a measurement); None: the roofline")
    fp8_dispatch: bool = Field(default=True, description="under an FP8 recipe the MoE dispatch sends FP8 rows (False: BF16)")
    host_ops: HostOps | None = Field(default=None, description="eager launches per layer (no CUDA graphs): the host-bound regime (superpod.training.host); None: not priced")

    def allowed(self) -> dict[str, list]:
        """Candidate restrictions of the plan search: what the stack cannot run is never proposed."""
        out: dict[str, list] = {}
        if self.schedules is not None:
            out["schedule"] = list(self.schedules)
        if self.zero_stages is not None:
            out["zero"] = list(self.zero_stages)
        if not self.context_parallel:
            out["cp"] = [1]
        if not self.sequence_parallel:
            out["sp"] = [0]
        return out


class FrameworkFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    frameworks: list[Framework]


@lru_cache(maxsize=None)
def frameworks() -> dict[str, Framework]:
    return {f.name: f for f in build(FrameworkFile, *calibration_file("frameworks", "training")).frameworks}


def framework(name: str = "megatron") -> Framework:
    try:
        return frameworks()[name]
    except KeyError:
        raise UnknownNameError(f"unknown framework {name!r}; known: {', '.join(frameworks())}") from None
