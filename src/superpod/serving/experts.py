"""The routed experts of a serving step on one chip: the expert slots EPLB adds, the load of the
busiest expert-parallel chip, the messages a token sends in one dispatch, and the measured MoE
kernel that prices a layer's expert compute (formulas.md sec. 3.3-3.4; used by
:mod:`superpod.serving.forward` and :mod:`superpod.serving.memory`)."""

from __future__ import annotations

import numpy as np

from superpod.serving.context import Ctx
from superpod.serving.framework import eplb
from superpod.serving.plan import ServePlan
from superpod.spec.model import Model


def redundant_experts(model: Model, plan: ServePlan) -> np.ndarray:
    """Redundant expert slots: DeepSeek's 32 of 256 (E/8) under EPLB with EP > 1, else 0."""
    if model.moe is None:
        return np.zeros(plan.shape)
    r = np.round(model.moe.experts * eplb().redundant_fraction.si)
    return np.where((plan.eplb < 2) & (plan.ep > 1), r, 0.0)


def imbalance(model: Model, plan: ServePlan, rows_per_chip, ep_c) -> np.ndarray:
    """Load of the busiest EP chip over the mean (formulas.md 3.3).

    Random routing leaves ``1 + sqrt(2 ln ep / mu)`` (balls into bins, mu rows per chip);
    real routing adds hot experts that EPLB only partly spreads: the measured residual
    (``balanced``) or, without redundant experts, the larger ``none`` factor
    (``calibration/frameworks/serving.toml [eplb]``).
    """
    e = eplb()
    mu = np.maximum(np.asarray(rows_per_chip, dtype=float), 1.0)
    stat = 1.0 + np.sqrt(2.0 * np.log(np.maximum(ep_c, 1.0)) / mu)
    hot = np.select([plan.eplb == 0, plan.eplb == 1], [1.0, e.balanced_imbalance.si], e.none_imbalance.si)
    return np.where(ep_c > 1, stat * hot, 1.0)


def _distinct(n, k) -> np.ndarray:
    """Expected distinct destinations of k picks among n equal bins, excluding one's own."""
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    return n * (1.0 - (1.0 - 1.0 / n) ** k) * (n - 1.0) / n


def a2a_copies(c: Ctx, ep_c, mode: str) -> np.ndarray:
    """Messages per token for one dispatch (and one combine) over the EP group."""
    k = c.model.moe.top_k
    if mode == "ll":
        return np.full(np.shape(ep_c), float(k))
    dom = max(c.hw.scaleup_domain, 1.0)
    inside = _distinct(np.asarray(ep_c) * c.dev, k)  # distinct remote ranks
    across = _distinct(np.asarray(ep_c) / dom, k)  # distinct remote scale-up domains (nodes)
    return np.where(ep_c > dom, across, inside)


def moe_format(c: Ctx) -> str | None:
    """The MoE table format of the routed experts (GEMM format, and the stored weights' when
    weight-only), from the framework's ``moe_formats``; None without one."""
    if c.kernels is None:
        return None
    key = c.quant if c.expert_weights is None else f"{c.quant}+{c.expert_weights}"
    return c.kernels.choice.get("moe_formats", {}).get(key)


def kernel_experts_s(c: Ctx, group_tokens, moe_tp, ep_c, slots):
    """One MoE layer's expert compute from the framework's measured MoE kernel (``moe_perf`` fit:
    routing, permutation, grouped GEMMs) for ``group_tokens`` tokens entering the expert group,
    or None (no fit for the format: the grouped-GEMM roofline prices it)."""
    fmt = moe_format(c)
    if fmt is None:
        return None
    m = c.model
    # an all-to-all dispatch (EP) hands each GPU only its routed rows to permute and reduce
    fin = np.where(np.asarray(ep_c) > 1, np.asarray(group_tokens) / np.asarray(ep_c), group_tokens)
    return c.kernels.moe_s(group_tokens, m.hidden, m.moe.expert_ffn, m.moe.top_k, slots, moe_tp, ep_c, fmt,
                           gated=m.activation == "swiglu", fin_tokens=fin)
