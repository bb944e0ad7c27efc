"""Pipeline bubbles per schedule (formulas.md sec. 5), vectorized over plans.

Schedules are the codes of :data:`superpod.cost.plan.SCHEDULES`.

With ``t_f``, ``t_b`` the forward and full backward time of one micro-batch on one stage
(``t_w = t_b / 2`` its weight-gradient half):

* GPipe, 1F1B: ``(p - 1)(t_f + t_b)`` (Huang et al.; PipeDream / Narayanan et al.)
* interleaved with v chunks: ``(p - 1)(t_f + t_b) / v`` (Narayanan et al. 2021)
* zero-bubble ZB-H1: ``(p - 1)(t_f + t_b/2 - t_w) = (p - 1) t_f`` (Qi et al. 2024)
* DualPipe: ``(p/2 - 1)(t_fb + t_b - 3 t_w)`` with ``t_fb = t_f + t_b`` (DeepSeek-V3 sec. 3.2.1)
"""

from __future__ import annotations

import numpy as np

from superpod.cost.plan import DUALPIPE, INTERLEAVED, ZERO_BUBBLE


def bubble_s(schedule, pp, vpp, t_f, t_b) -> np.ndarray:
    """Idle time of one step's pipeline (seconds) for each plan."""
    p = np.asarray(pp, dtype=float)
    v = np.maximum(np.asarray(vpp, dtype=float), 1.0)
    t_w = t_b / 2.0
    sched = np.asarray(schedule)
    plain = (p - 1) * (t_f + t_b)
    return np.select(
        [sched == INTERLEAVED, sched == ZERO_BUBBLE, sched == DUALPIPE],
        [plain / v, (p - 1) * (t_f + t_b / 2 - t_w), np.maximum(p / 2 - 1, 0) * (t_f + t_b + t_b - 3 * t_w)],
        default=plain,
    )
