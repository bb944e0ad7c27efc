"""``superpod train``: the best training plan(s) of a model on a sized system, with the job's
throughput, MFU, memory per chip, power and the search's statistics (SI units)."""

from __future__ import annotations

from typing import Any

from superpod.cost.hardware import Hardware
from superpod.errors import InfeasiblePlanError
from superpod.planners.compare import parse_sized
from superpod.planners.train_search import search
from superpod.spec.catalog import load_model

DEFAULT_BATCH_TOKENS = 4 * 1024 * 1024


def train(model: str, system: str, chips: int | None = None, seq_len: int = 4096, global_batch: int | None = None,
          global_batch_tokens: int | None = None, precision: str = "bf16", framework: str = "megatron",
          top: int = 1, **fixed) -> dict[str, Any]:
    """Best training plan(s) for ``model`` on ``system`` (``name@N`` sizes it): the ``superpod train`` record.

    ``fixed`` pins plan settings (tp, sp, pp, vpp, schedule, dp, zero, ep, cp,
    micro_batch, recompute); the rest are searched. Returns the issue-5 JSON record.
    """
    m = load_model(model)
    sized = parse_sized(system, chips)
    hw = Hardware.of(sized)
    if seq_len < 1:
        raise InfeasiblePlanError(f"--seq-len must be >= 1, got {seq_len}")
    if global_batch is None:
        tokens = DEFAULT_BATCH_TOKENS if global_batch_tokens is None else global_batch_tokens
        if tokens % seq_len:
            raise InfeasiblePlanError(f"--global-batch-tokens {tokens:,} is not a whole number of {seq_len:,}-token sequences")
        global_batch = tokens // seq_len
    if global_batch < 1:
        raise InfeasiblePlanError(f"the global batch must hold at least one sequence, got {global_batch}")
    res = search(m, hw, seq_len, global_batch, fixed, top=max(top, 1), fp8=precision == "fp8", framework=framework)
    best = res.plans[0]
    power_w = sum(sized.power_parts_w().values())
    out = {
        "model": m.name,
        "system": sized.system.name,
        "chips": sized.n_chips,
        "seq_len": seq_len,
        "global_batch": global_batch,
        "global_batch_tokens": global_batch * seq_len,
        "precision": precision,
        "framework": framework,
        **best,
        "hbm_bytes": hw.hbm_bytes,
        "power_w": power_w,
        "tokens_per_s_per_kw": best["tokens_per_s"] / (power_w / 1e3),
        "search": {"evaluated": res.evaluated, "feasible": res.feasible, "seconds": res.seconds,
                   "plans_per_s": res.evaluated / max(res.seconds, 1e-9)},
    }
    if top > 1:
        out["top"] = res.plans
    return out
