"""Service-level objectives: the largest decode batch per chip that meets a TPOT target
(formulas.md 8.4: the batch is the smaller of the KV bound and the SLO bound), and a
clear error with the best TPOT reachable when no batch meets it."""

from __future__ import annotations

from typing import Any

import numpy as np

from superpod.errors import SloUnreachableError
from superpod.serving.decode import decode
from superpod.serving.forward import Ctx
from superpod.serving.plan import ServePlan
from superpod.planners.serve_search import refine_batch


def largest_batch(c: Ctx, row: dict[str, Any], context: float, tpot_slo_s: float | None,
                  top: float = 4096) -> tuple[int, dict[str, np.ndarray]]:
    """Largest batch per chip of plan ``row`` that fits in memory and meets the TPOT target.

    Returns ``(batch, results at that batch)``; raises :class:`InfeasiblePlanError` with the
    best TPOT the plan reaches (batch 1) when even that misses the target.
    """
    limits = {} if tpot_slo_s is None else {"tpot_s": tpot_slo_s}
    out = refine_batch(lambda g: decode(c, g, context), row, top, limits, "tokens_per_s_per_chip")
    if out is None:
        one = decode(c, ServePlan.one(**(row | {"batch": 1})), context)
        raise SloUnreachableError(
            f"no batch meets TPOT <= {tpot_slo_s * 1e3:,.1f} ms: the best reachable is "
            f"{float(one['tpot_s'][0]) * 1e3:,.1f} ms at batch 1 per chip (TP {row['tp']}, EP {row['ep']})")
    i, g, flat = out
    return int(g.batch[i]), {k: v[i] for k, v in flat.items()}
