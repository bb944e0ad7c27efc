"""Serving plans as structs of numpy arrays, and the serving workload.

A :class:`ServePlan` prices one pool (prefill or decode) of a deployment. It is a
:class:`~superpod.cost.plan.PlanGrid`: every field is an array and all fields broadcast,
so one call prices one plan or a grid of thousands (``grid`` builds an open grid, ``row``
turns entry ``i`` into a plain dict). Parallel degrees count **ranks** (devices) as papers state them: a GPU is
one rank, an Ascend 910C package is two (so CloudMatrix-Infer's EP320 is 160 NPUs); the
cost functions convert to chips with the chip's ``ranks_per_chip``.

* ``tp``: tensor parallelism of attention and dense layers (1 = DP attention);
* ``ep``: expert parallelism (ranks the routed experts spread over; the measured rows' ``moe_ep``);
* ``moe_tp``: expert tensor parallelism (ranks each routed expert is split over, its
  intermediate width divided; ``moe_tp x ep`` ranks hold one copy of the experts, and in
  the frameworks ``moe_tp x moe_ep = tp x dp``);
* ``dp``: attention data-parallel ranks (``tp * dp`` ranks form one instance);
* ``batch``: decode: sequences in flight per chip; prefill: prompt tokens per chip per step;
* ``mtp_k``, ``mtp_accept``: draft tokens per step and per-token acceptance (formulas 8.5);
* ``eplb``: 0 perfect (idealised balance), 1 balanced (real routing with EPLB redundant
  experts, the measured residual imbalance), 2 none (no redundant experts);
* ``overlap``: 1 two-micro-batch overlap of MoE communication with compute (TBO), 0 none.

Number formats (``quant`` for weights and GEMM activations, ``kv`` for the cache) are
scalars of one evaluation: the chip's peak depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from superpod.cost.hardware import BYTES
from superpod.cost.plan import PlanGrid

EPLB = ("perfect", "balanced", "none")
QUANTS = ("bf16", "fp8", "int8", "fp4")
KV_DTYPES = ("bf16", "fp8", "int8")
#: bytes per stored weight of the formats a checkpoint may keep (int4: weight-only, W4A16)
WEIGHT_BYTES = BYTES | {"int4": 0.5}
#: FlashMLA's FP8 KV cache keeps one FP32 scale per group of latent elements
FP8_KV_SCALE_GROUP = 128


@dataclass(frozen=True)
class Workload:
    """What the requests look like (tokens)."""

    input_len: float = 4096.0
    output_len: float = 1024.0
    kv_len: float | None = None  # mean context per decode step; default input + output / 2
    cache_hit: float = 0.0  # share of prompt tokens served from a prefix cache

    @property
    def decode_context(self) -> float:
        return self.kv_len if self.kv_len is not None else self.input_len + self.output_len / 2.0


@dataclass(frozen=True)
class ServePlan(PlanGrid):
    """One pool's plans (arrays, broadcasting); see the module docstring."""

    NAMES: ClassVar[dict[str, tuple[str, ...]]] = {"eplb": EPLB}
    BOOLS: ClassVar[tuple[str, ...]] = ("overlap",)
    INTS: ClassVar[tuple[str, ...]] = ("tp", "ep", "dp", "mtp_k", "moe_tp")
    DTYPE: ClassVar[type] = np.float64

    tp: np.ndarray
    ep: np.ndarray
    dp: np.ndarray
    batch: np.ndarray
    mtp_k: np.ndarray
    mtp_accept: np.ndarray
    eplb: np.ndarray
    overlap: np.ndarray
    moe_tp: np.ndarray

    @staticmethod
    def defaults() -> dict[str, Any]:
        return dict(tp=1, ep=1, dp=1, batch=1, mtp_k=0, mtp_accept=0.0, eplb=1, overlap=1, moe_tp=1)


def tokens_per_step(k, a) -> np.ndarray:
    """Expected tokens a sequence advances per decode step with ``k`` draft tokens of
    per-token acceptance ``a`` (formulas.md 8.5; Leviathan et al. arXiv 2211.17192):
    ``sum_{i=0..k} a^i`` (= 1 without MTP, 1 + a with one draft token)."""
    k = np.asarray(k, dtype=float)
    a = np.clip(np.asarray(a, dtype=float), 0.0, 1.0)
    geometric = (1.0 - a ** (k + 1)) / np.maximum(1.0 - a, 1e-12)
    return np.where(a >= 1.0 - 1e-12, k + 1.0, geometric)


def kv_element_bytes(model, kv_dtype: str) -> float:
    """Bytes per cached element. MLA in FP8 (FlashMLA's layout, formulas.md 2.4) stores the
    latent in FP8 with FP32 scales per 128 elements and the RoPE part in BF16: 656 B for
    DeepSeek-V3's 512 + 64 elements."""
    if kv_dtype == "fp8" and model.mla is not None:
        r, d = model.mla.kv_lora_rank, model.mla.qk_rope_head_dim
        return (r * BYTES["fp8"] + r / FP8_KV_SCALE_GROUP * BYTES["fp32"] + d * BYTES["bf16"]) / (r + d)
    return BYTES[kv_dtype]
