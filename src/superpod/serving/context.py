"""What one serving evaluation holds fixed (model, sized system, framework, formats), and
the checks that turn an impossible request into one actionable line."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from superpod.cost.comm import combine_token_bytes, dispatch_token_bytes
from superpod.cost.hardware import Hardware
from superpod.cost.kernel_costs import Kernels, resolve
from superpod.errors import DoesNotFitError, InvalidOptionError
from superpod.spec.catalog import load_model, load_system
from superpod.spec.model import Model
from superpod.serving.framework import ServingFramework, eplb, framework
from superpod.serving.plan import KV_DTYPES, QUANTS, WEIGHT_BYTES, kv_element_bytes


@dataclass(frozen=True)
class Ctx:
    """What one evaluation holds fixed: model, hardware, framework and number formats."""

    model: Model
    hw: Hardware
    fw: ServingFramework
    quant: str  # GEMM format (activations and the peak used)
    kv_el: float  # bytes per cached element
    kv_dtype: str = "bf16"
    #: storage format of the routed experts' weights when it differs from ``quant``
    #: (weight-only: FP4/INT4 weights dequantised into ``quant`` GEMMs); None = ``quant``
    expert_weights: str | None = None
    #: FP8 GEMMs with 128x128 block scales (a block-scaled FP8 checkpoint: DeepSeek-V3/R1, Qwen3-FP8);
    #: a framework whose kernels name ``fp8_block_gemm`` runs its block-scale GEMM for them
    fp8_blocks: bool = False
    #: the measured-kernel fits of this chip under this framework (None: the generic roofline);
    #: resolved once per evaluation by :func:`make_ctx`
    kernels: Kernels | None = field(default=None, repr=False, compare=False)

    @property
    def expert_weight_bytes(self) -> float | None:
        """Bytes per stored routed-expert weight (None: the GEMM format's)."""
        return None if self.expert_weights is None else WEIGHT_BYTES[self.expert_weights]

    @property
    def dev(self) -> float:
        return float(self.hw.ranks_per_chip)

    def dispatch_bytes(self) -> float:
        """One dispatched token copy: quantised unless the GEMMs run in BF16."""
        return float(dispatch_token_bytes(self.model.hidden, self.quant != "bf16"))

    def combine_bytes(self) -> float:
        return combine_token_bytes(self.model.hidden)


#: preference when --quant is left out: the fewest bits the chip has units for
QUANT_ORDER = ("fp4", "fp8", "int8", "bf16")


def default_quant(hw: Hardware) -> str:
    """The lowest-precision GEMM format the chip supports (FP4 > FP8 > INT8 > BF16)."""
    for q in QUANT_ORDER:
        if q in hw.peak_flops:
            return q
    return "bf16"


def make_ctx(model: str | Model, system: str, chips: int | None = None, quant: str | None = None,
             kv_dtype: str | None = None, framework_name: str | None = None,
             expert_weights: str | None = None, fp8_blocks: bool = False) -> Ctx:
    """The evaluation context. ``kv_dtype`` None: the framework's default for ``quant``
    (``[frameworks.kv_cache]``: TensorRT-LLM FP8 KV with FP8/FP4 checkpoints, SGLang and
    vLLM ``auto`` = BF16). ``expert_weights``: a weight-only storage format of the routed
    experts (``fp4``, ``int4``) run in ``quant`` GEMMs."""
    m = load_model(model) if isinstance(model, str) else model
    sized = load_system(system).at(chips)
    hw = Hardware.of(sized)
    q = quant or default_quant(hw)
    if q not in QUANTS:
        raise InvalidOptionError(f"--quant must be one of {', '.join(QUANTS)}, not {q!r}")
    hw.peak(q, fix=f"use --quant {' or '.join(x for x in QUANTS if x in hw.peak_flops)}")
    fw = framework(framework_name, hw.chip)
    kv = kv_dtype if kv_dtype is not None else fw.default_kv_dtype(q)
    if kv not in KV_DTYPES:
        raise InvalidOptionError(f"--kv-dtype must be one of {', '.join(KV_DTYPES)}, not {kv!r}")
    if kv == "fp8" and "fp8" not in hw.peak_flops:
        ok = [x for x in KV_DTYPES if x != "fp8" and (x == "bf16" or x in hw.peak_flops)]
        raise InvalidOptionError(
            f"{hw.chip} has no fp8 units, so it cannot run an fp8 KV cache; use --kv-dtype {' or '.join(ok)}")
    if expert_weights is not None and expert_weights not in WEIGHT_BYTES:
        raise InvalidOptionError(f"expert weight format must be one of {', '.join(WEIGHT_BYTES)}, not {expert_weights!r}")
    ew = None if expert_weights in (None, q) else expert_weights
    kern = resolve(hw.chip, fw.kernels) if hw.ranks_per_chip == 1 else None
    return Ctx(m, hw, fw, q, kv_element_bytes(m, kv), kv, ew, q == "fp8" and fp8_blocks, kern)


def max_ep(model: Model) -> int:
    """Largest EP degree in ranks: routed + redundant experts, plus as many ranks again
    for shared-expert replicas (CloudMatrix-Infer's EP320 = 256 + 32 + 32)."""
    if model.moe is None:
        return 1
    r = int(round(model.moe.experts * eplb().redundant_fraction.si))
    return model.moe.experts + r + (r if model.moe.shared_experts else 0)


def check_tp(model: Model, tp) -> None:
    for t in np.unique(np.atleast_1d(tp)).astype(int):
        if t < 1 or model.heads % t:
            ok = [d for d in (1, 2, 4, 8, 16, 32, 64) if model.heads % d == 0]
            raise InvalidOptionError(
                f"--tp {t} does not divide the {model.heads} attention heads of {model.name}; use one of {ok}")


def check_ep(c: Ctx, ep, pool_ranks: float | None = None) -> None:
    m = c.model
    top = max_ep(m)
    for e in np.unique(np.atleast_1d(ep)).astype(int):
        if e < 1:
            raise InvalidOptionError(f"--ep must be >= 1, got {e}")
        if m.moe is None and e > 1:
            raise InvalidOptionError(f"{m.name} has no experts: --ep must be 1")
        if e > top:
            raise InvalidOptionError(
                f"--ep {e} exceeds the {top} expert slots of {m.name} ({m.moe.experts} routed + "
                f"{top - m.moe.experts} redundant/shared replicas); use --ep <= {top}")
        if pool_ranks is not None and e > pool_ranks:
            raise InvalidOptionError(
                f"--ep {e} needs {int(np.ceil(e / c.dev))} chips but the pool has {int(pool_ranks / c.dev)}; "
                f"raise --chips or lower --ep")


def memory_error(c: Ctx, need_bytes: float, usable_bytes: float, what: str) -> DoesNotFitError:
    """The 'does not fit' error: how much is missing and which options would help."""
    missing = need_bytes - usable_bytes
    hints = []
    if c.model.moe is not None:
        hints.append("a larger --ep (spreads the experts)")
    hints.append("a larger --tp")
    if c.quant in ("bf16", "fp8", "int8"):
        lower = [q for q in ("fp8", "int8", "fp4") if q in c.hw.peak_flops and q != c.quant and
                 (q == "fp4" or c.quant == "bf16")]
        if lower:
            hints.append(f"--quant {lower[0]}")
    hints.append("--kv-dtype fp8 or a shorter --kv-len / smaller batch")
    return DoesNotFitError(
        f"{c.model.name} does not fit on {c.hw.chip}: {what} need {need_bytes / 1e9:,.1f} GB per chip but "
        f"{usable_bytes / 1e9:,.1f} GB are usable ({c.hw.hbm_bytes / 1e9:,.1f} GB HBM less the runtime reserve); "
        f"{missing / 1e9:,.1f} GB missing; try {', '.join(hints)}")
