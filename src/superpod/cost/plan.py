"""Plans as structs of numpy arrays: one plan or a grid of millions, same type.

A :class:`TrainPlan` holds one array per parallel setting; all fields broadcast against
each other. :meth:`TrainPlan.grid` builds the cartesian product of candidate values,
:meth:`TrainPlan.one` a single plan (arrays of length 1), and :meth:`TrainPlan.row`
turns entry ``i`` back into a plain dict for display.

Codes (small ints so that cost functions stay branch-free with ``np.where``):

* ``recompute``: 0 none, 1 selective (core attention), 2 full (layer input only)
* ``schedule``: 0 gpipe, 1 1f1b, 2 interleaved, 3 zero-bubble (ZB-H1), 4 dualpipe
* ``fp8``: 0 BF16 GEMMs, 1 FP8 GEMMs
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

RECOMPUTE = ("none", "selective", "full")
SCHEDULES = ("gpipe", "1f1b", "interleaved", "zero-bubble", "dualpipe")


@dataclass(frozen=True)
class TrainPlan:
    """Training plans: TP, SP, PP (+schedule, virtual stages), DP with ZeRO, EP, CP, batch, recompute."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    ep: np.ndarray
    cp: np.ndarray
    sp: np.ndarray  # 0/1: Megatron sequence parallelism inside the TP group
    vpp: np.ndarray  # virtual pipeline chunks per rank (1 = not interleaved)
    micro_batch: np.ndarray  # sequences per micro-batch (b)
    micro_batches: np.ndarray  # micro-batches per step per pipeline (m)
    zero: np.ndarray  # ZeRO stage 0..3 over DP (distributed optimizer = 1)
    recompute: np.ndarray
    schedule: np.ndarray
    fp8: np.ndarray

    @classmethod
    def one(cls, **values: Any) -> "TrainPlan":
        """A single plan; omitted fields take the defaults of :meth:`defaults`."""
        d = cls.defaults() | values
        return cls(**{k: np.atleast_1d(np.asarray(_code(k, v))) for k, v in d.items()})

    @classmethod
    def grid(cls, joint: dict[tuple[str, ...], list[tuple]] | None = None, **candidates: Any) -> "TrainPlan":
        """Cartesian product of candidate lists (scalars are fixed values).

        The grid is *open*: each field varies along its own axis (shape 1 elsewhere), so
        a cost that depends on a few fields is computed once per combination of those
        fields and broadcast, not once per plan. :meth:`flat` materialises it.
        ``joint`` puts several fields on one axis, e.g.
        ``{("schedule", "vpp"): [(1, 1), (2, 2), (2, 4)]}`` (only valid pairs).
        """
        joint = joint or {}
        in_joint = {k for keys in joint for k in keys}
        d = {k: v for k, v in (cls.defaults() | candidates).items() if k not in in_joint}
        axes: list[dict[str, np.ndarray]] = [
            {k: np.atleast_1d(np.asarray([_code(k, x) for x in np.atleast_1d(np.asarray(v, dtype=object))]))} for k, v in d.items()
        ]
        for keys, rows in joint.items():
            axes.append({k: np.asarray([_code(k, r[j]) for r in rows]) for j, k in enumerate(keys)})
        out = {}
        for i, axis in enumerate(axes):
            shape = [1] * len(axes)
            for k, v in axis.items():
                shape[i] = len(v)
                out[k] = v.astype(np.int64).reshape(shape)
        return cls(**out)

    @property
    def shape(self) -> tuple[int, ...]:
        return np.broadcast(*[getattr(self, f.name) for f in fields(self)]).shape

    def flat(self) -> "TrainPlan":
        """The same plans as 1-D arrays (one entry per plan)."""
        shape = self.shape
        return TrainPlan(**{f.name: np.broadcast_to(getattr(self, f.name), shape).ravel() for f in fields(self)})

    @staticmethod
    def defaults() -> dict[str, Any]:
        return dict(tp=1, pp=1, dp=1, ep=1, cp=1, sp=0, vpp=1, micro_batch=1, micro_batches=1,
                    zero=1, recompute=0, schedule=1, fp8=0)

    def __len__(self) -> int:
        return int(np.broadcast(*[getattr(self, f.name) for f in fields(self)]).size)

    @property
    def chips(self) -> np.ndarray:
        """Chips one plan occupies: TP x PP x DP x CP (EP folds into DP x CP x TP)."""
        return self.tp * self.pp * self.dp * self.cp

    def take(self, index) -> "TrainPlan":
        """The plans selected by a boolean mask or an index array (over the flat order)."""
        shape = self.shape
        return TrainPlan(**{f.name: np.broadcast_to(getattr(self, f.name), shape).ravel()[index] for f in fields(self)})

    def row(self, i: int = 0) -> dict[str, Any]:
        """Plan ``i`` (flat order) as a plain dict with names instead of codes."""
        shape = self.shape
        where = np.unravel_index(i, shape)
        d = {f.name: int(np.broadcast_to(getattr(self, f.name), shape)[where]) for f in fields(self)}
        d["sp"] = bool(d["sp"])
        d["fp8"] = bool(d["fp8"])
        d["recompute"] = RECOMPUTE[d["recompute"]]
        d["schedule"] = SCHEDULES[d["schedule"]]
        return d


def _code(key: str, value: Any) -> int:
    if key == "recompute" and isinstance(value, str):
        return RECOMPUTE.index(value)
    if key == "schedule" and isinstance(value, str):
        return SCHEDULES.index(value)
    return int(value)


def product(**candidates) -> list[dict[str, Any]]:
    """Plain cartesian product of candidate lists (for tests and small loops)."""
    keys = list(candidates)
    return [dict(zip(keys, combo)) for combo in itertools.product(*candidates.values())]
