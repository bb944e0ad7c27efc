"""Plans as structs of numpy arrays: one plan or a grid of millions, same type.

:class:`PlanGrid` is the base every workload's plan type shares: one array per setting,
all broadcasting against each other. :meth:`PlanGrid.grid` builds an open cartesian
product of candidate values, :meth:`PlanGrid.one` a single plan (arrays of length 1),
:meth:`PlanGrid.row` turns entry ``i`` back into a plain dict for display. Named settings
are stored as small integer codes so that cost functions stay branch-free with
``np.where``. :class:`TrainPlan` is the training plan; the serving plan subclasses the
same base (:mod:`superpod.serving.plan`).

Training codes:

* ``recompute``: 0 none, 1 selective (core attention), 2 full (layer input only), 3 ops
  (TorchTitan's op-level selective checkpointing: every second matmul and the elementwise ops
  are recomputed; priced only when pinned)
* ``schedule``: 0 gpipe, 1 1f1b, 2 interleaved, 3 zero-bubble (ZB-H1), 4 dualpipe
* ``fp8``: the training recipe: 0 BF16 GEMMs, 1 FP8 (per-tensor scaling), 2 MXFP8, 3 NVFP4
  (:data:`superpod.training.step.RECIPES`)
* ``etp``: expert tensor parallelism of MoE parallel folding (experts laid ETP, EP,
  expert-DP over the TP x CP x DP ranks)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

RECOMPUTE = ("none", "selective", "full", "ops")
NO_RECOMPUTE, SELECTIVE, FULL, OPS = range(len(RECOMPUTE))
SCHEDULES = ("gpipe", "1f1b", "interleaved", "zero-bubble", "dualpipe")
GPIPE, ONE_F_ONE_B, INTERLEAVED, ZERO_BUBBLE, DUALPIPE = range(len(SCHEDULES))


@dataclass(frozen=True)
class PlanGrid:
    """Base of the plan types: fields are arrays that broadcast; subclasses declare them.

    Class attributes say how values are coded: ``NAMES`` maps a field to the tuple of its
    named values (stored as the index), ``BOOLS`` lists 0/1 fields, ``INTS`` the fields
    :meth:`row` reports as ints, ``DTYPE`` the arrays' type.
    """

    NAMES: ClassVar[dict[str, tuple[str, ...]]] = {}
    BOOLS: ClassVar[tuple[str, ...]] = ()
    INTS: ClassVar[tuple[str, ...]] = ()
    DTYPE: ClassVar[type] = np.int64

    @staticmethod
    def defaults() -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def code(cls, key: str, value: Any):
        """The stored code of one value (a name's index, 0/1 for a flag, else the number)."""
        if key in cls.NAMES and isinstance(value, str):
            return cls.DTYPE(cls.NAMES[key].index(value))
        if key in cls.BOOLS:
            return cls.DTYPE(bool(value))
        return cls.DTYPE(value)

    @classmethod
    def one(cls, **values: Any):
        """A single plan; omitted (or None) fields take the defaults of :meth:`defaults`."""
        d = cls.defaults() | {k: v for k, v in values.items() if v is not None}
        return cls(**{k: np.atleast_1d(np.asarray(cls.code(k, v), dtype=cls.DTYPE)) for k, v in d.items()})

    @classmethod
    def grid(cls, joint: dict[tuple[str, ...], list[tuple]] | None = None, **candidates: Any):
        """Open cartesian product of candidate lists (scalars and None are fixed values).

        Each field with several values varies along its own axis (shape 1 elsewhere), so
        a cost that depends on a few fields is computed once per combination of those
        fields and broadcast, not once per plan. :meth:`flat` materialises it.
        ``joint`` puts several fields on one axis, e.g.
        ``{("schedule", "vpp"): [(1, 1), (2, 2), (2, 4)]}`` (only valid pairs).
        """
        joint = joint or {}
        in_joint = {k for keys in joint for k in keys}
        d = {k: v for k, v in (cls.defaults() | {k: v for k, v in candidates.items() if v is not None}).items()
             if k not in in_joint}
        columns = {k: np.asarray([cls.code(k, x) for x in np.atleast_1d(np.asarray(v, dtype=object))], dtype=cls.DTYPE)
                   for k, v in d.items()}
        axes: list[dict[str, np.ndarray]] = [{k: v} for k, v in columns.items() if v.size > 1]
        for keys, rows in joint.items():
            axes.append({k: np.asarray([cls.code(k, r[j]) for r in rows], dtype=cls.DTYPE) for j, k in enumerate(keys)})
        n = max(len(axes), 1)
        out = {k: v.reshape([1] * n) for k, v in columns.items() if v.size <= 1}
        for i, axis in enumerate(axes):
            for k, v in axis.items():
                shape = [1] * n
                shape[i] = v.size
                out[k] = v.reshape(shape)
        return cls(**out)

    def _arrays(self) -> list[np.ndarray]:
        return [getattr(self, f.name) for f in fields(self)]

    @property
    def shape(self) -> tuple[int, ...]:
        return np.broadcast(*self._arrays()).shape

    def __len__(self) -> int:
        return int(np.broadcast(*self._arrays()).size)

    def flat(self):
        """The same plans as 1-D arrays (one entry per plan)."""
        return self.take(slice(None))

    def take(self, index):
        """The plans selected by a boolean mask, an index array or a slice (over the flat order)."""
        shape = self.shape
        return type(self)(**{f.name: np.broadcast_to(getattr(self, f.name), shape).ravel()[index] for f in fields(self)})

    def row(self, i: int = 0) -> dict[str, Any]:
        """Plan ``i`` (flat order) as a plain dict with names instead of codes."""
        shape = self.shape
        where = np.unravel_index(i, shape)
        return self.named({f.name: np.broadcast_to(getattr(self, f.name), shape)[where].item() for f in fields(self)})

    @classmethod
    def named(cls, d: dict[str, Any]) -> dict[str, Any]:
        """A plan's field values (floats, codes) as a row: integers, booleans and names."""
        for k in cls.INTS:
            d[k] = int(d[k])
        for k in cls.BOOLS:
            d[k] = bool(d[k])
        for k, names in cls.NAMES.items():
            d[k] = names[int(d[k])]
        return d


@dataclass(frozen=True)
class TrainPlan(PlanGrid):
    """Training plans: TP, SP, PP (+schedule, virtual stages), DP with ZeRO, EP, CP, batch, recompute."""

    NAMES: ClassVar[dict[str, tuple[str, ...]]] = {"recompute": RECOMPUTE, "schedule": SCHEDULES}
    BOOLS: ClassVar[tuple[str, ...]] = ("sp",)
    INTS: ClassVar[tuple[str, ...]] = ("tp", "pp", "dp", "ep", "etp", "cp", "vpp", "micro_batch", "micro_batches", "zero",
                                       "fp8")

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
    etp: np.ndarray = None  # expert tensor parallelism (MoE parallel folding: experts laid ETP, EP, EDP over TP x CP x DP)

    def __post_init__(self):
        if self.etp is None:
            object.__setattr__(self, "etp", np.ones((1,) * np.ndim(self.tp), dtype=self.DTYPE))

    @staticmethod
    def defaults() -> dict[str, Any]:
        return dict(tp=1, pp=1, dp=1, ep=1, cp=1, sp=0, vpp=1, micro_batch=1, micro_batches=1,
                    zero=1, recompute=NO_RECOMPUTE, schedule=ONE_F_ONE_B, fp8=0, etp=1)

    @property
    def chips(self) -> np.ndarray:
        """Chips one plan occupies: TP x PP x DP x CP (EP folds into DP x CP x TP)."""
        return self.tp * self.pp * self.dp * self.cp



# ---- plan-space rules shared by the training search and the job-size grid of scaling ----
#: largest TP, PP and CP degrees a training plan considers (TP within one scale-up node's
#: heads split, PP up to 128 stages, CP a power of two up to 32)
TP_MAX, PP_MAX, CP_MAX = 64, 128, 32


def tp_splits_heads(heads: int, kv_heads: int, tp) -> np.ndarray:
    """TP divides the attention heads and, under GQA, divides the KV heads or is a multiple of them."""
    tp = np.asarray(tp)
    return (heads % tp == 0) & ((kv_heads % tp == 0) | (tp % kv_heads == 0))


def cp_splits_sequence(seq_len: int, cp) -> np.ndarray:
    """CP splits the sequence into 2 x CP chunks (load-balanced causal attention), or is 1."""
    cp = np.asarray(cp)
    return (seq_len % (2 * cp) == 0) | (cp == 1)


def powers_of_two(cap: int) -> list[int]:
    """1, 2, 4, ... up to ``cap``."""
    return [1 << i for i in range(cap.bit_length()) if 1 << i <= cap]
