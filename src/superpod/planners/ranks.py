"""Ranks vs chips at the training planners' boundary (docs/conventions.md, "Ranks and chips").

Parallel degrees count **ranks**, the devices a framework addresses, as Megatron, MindSpeed
and JAX do; a chip package may hold several (:attr:`superpod.spec.chip.Chip.ranks`: 2 on
an Ascend 910C, whose dies each run one process, arXiv 2506.12708, and on a TPU7x). The
training search prices *chip-level* plans; on a chip with ``r`` ranks the rank-level plan
is the chip-level plan with TP multiplied by ``r`` (the ``r`` ranks of a package form the
innermost TP group, joined by its die-to-die link), every other degree unchanged, so
``TP x PP x CP x DP = ranks = chips x r``. The physics (step time, MFU, memory per chip)
does not change; only the plan's ``tp`` is counted in ranks (``tp_chips``: in packages).

>>> rank_plan({"tp": 2, "pp": 6, "dp": 16}, 2)
{'tp': 4, 'pp': 6, 'dp': 16, 'tp_chips': 2}
"""

from __future__ import annotations

from typing import Any

from superpod.errors import InvalidOptionError


def _packages(n: float) -> str:
    if n == 0.5:
        return "half a package"
    return f"{n:g} of a package" if n < 1 else f"{n:g} packages"


def chip_fixed(fixed: dict[str, Any], chip: str, r: int) -> dict[str, Any]:
    """The user's pinned plan settings (``tp`` in ranks) as the chip-level search takes them.

    A ``tp`` that is not a whole number of packages is refused with what to type instead.
    """
    tp = fixed.get("tp")
    if r == 1 or tp is None:
        return dict(fixed)
    if isinstance(tp, bool) or int(tp) != tp or tp < 1:
        raise InvalidOptionError(f"--tp must be a whole number >= 1, got {tp}")
    tp = int(tp)
    if tp % r:
        k = max(1, round(tp / r))
        old = "one package, the old --tp 1" if k == 1 else f"{k} packages, the old --tp {k}"
        raise InvalidOptionError(
            f"on {chip} a package holds {r} ranks and --tp counts ranks: --tp {tp} is {_packages(tp / r)}; "
            f"give --tp {k * r} ({old}) or a multiple of {r}")
    return dict(fixed) | {"tp": tp // r}


def rank_plan(plan: dict[str, Any], r: int) -> dict[str, Any]:
    """A chip-level plan counted in ranks: ``tp`` x ``r``, plus ``tp_chips`` (TP in packages)."""
    return plan | {"tp": int(plan["tp"]) * r, "tp_chips": int(plan["tp"])}


def rank_record(rec: dict[str, Any], r: int) -> dict[str, Any]:
    """A training search record (``plan`` + figures) with its plan counted in ranks."""
    return rec | {"plan": rank_plan(rec["plan"], r)}
