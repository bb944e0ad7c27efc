"""Efficiency surfaces: a kernel model's fitted residual by shape, on a grid in log2 of the shape.

What is modelled: the part of a kernel's efficiency that its roofline form does not follow (tile and
kernel-selection heuristics, regime switches inside a library) as a smooth multiplicative factor of the
shape. The factor is ``exp(s(x))`` where ``x = log2(shape variables)`` and ``s`` is piecewise multilinear
between knots (clamped at the grid's edges: outside the measured range the edge value holds, so no
extrapolation of a trend). One surface belongs to one kernel table (GPU family, framework, dtype, kernel
source) and is fitted to ``ln(measured / form)`` over that table's rows by smoothed least squares
(benchmarks/silicon/surface_fit.py); a chip without a fitted surface uses factor 1 (the form alone).

TOML form (beside the kernel's parameters in catalog/calibration/silicon/*.toml)::

    [kernels.NAME.surface]
    vars = ["m", "n", "k"]                 # shape variables, in the order of the grid axes
    knots_log2 = [[0.0, 2.0, ...], ...]     # increasing log2 knots per variable
    ln_factor = [...]                      # ln(factor) at the knots, C order (last variable fastest)

Everything is numpy broadcasting: the shape variables are arrays of any (common) shape.

>>> s = Surface(("m",), (np.array([0.0, 10.0]),), np.array([0.0, np.log(2.0)]))
>>> [round(float(v), 3) for v in s.factor(m=np.array([1.0, 32.0, 1024.0, 1e6]))]
[1.0, 1.414, 2.0, 2.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _locate(x: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell index and the fractional position inside it, clamped to the grid."""
    x = np.clip(x, knots[0], knots[-1])
    i = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, max(len(knots) - 2, 0))
    if len(knots) == 1:
        return i, np.zeros_like(x)
    return i, (x - knots[i]) / (knots[i + 1] - knots[i])


@dataclass(frozen=True)
class Surface:
    """A multiplicative efficiency factor on a log2 grid of named shape variables."""

    names: tuple[str, ...]
    knots: tuple[np.ndarray, ...]
    values: np.ndarray  # ln(factor) at the knots, shape (len(knots[0]), len(knots[1]), ...)

    def corners(self, **shape) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Flat grid indices and multilinear weights of the ``2^d`` cell corners around each point
        (the interpolation's design: a fit builds its sparse matrix from the same weights)."""
        idx, wts = self._corners(shape, prune=False)
        return idx, [np.broadcast_to(w, np.shape(i)) for i, w in zip(idx, wts)]

    def _corners(self, shape: dict, prune: bool) -> tuple[list, list]:
        """The corners variable by variable, in :func:`itertools.product` order: a corner's weight is the
        product of its per-variable weights, first variable first, extending the product of its first
        variables' corner (shared by the corners with that prefix); its flat index (C order) is the sum of
        its per-variable offsets, smallest arrays first (integers: any order gives the same index).
        ``prune``: leave out the corners whose weight is 0 everywhere (a variable on a knot, clamped at an
        edge, or with one knot), which add nothing, and a factor that is 1 everywhere."""
        missing = [n for n in self.names if n not in shape]
        if missing:
            raise KeyError(f"surface needs {missing}")
        strides = np.cumprod((1,) + tuple(len(k) for k in self.knots[:0:-1]))[::-1]
        terms: list[tuple] = [((), 1.0)]  # (index offsets, weight) of the corners of the variables so far
        for n, kn, stride in zip(self.names, self.knots, strides.tolist()):
            i, f = _locate(np.log2(np.maximum(np.asarray(shape[n], dtype=float), 1e-30)), kn)
            sides = [(i * stride, 1.0 - f), (np.minimum(i + 1, len(kn) - 1) * stride, f)]
            if prune:
                sides = [s for s, zero in zip(sides, (np.all(f == 1.0), np.all(f == 0.0))) if not zero]
            one = prune and len(sides) == 1 and bool(np.all(sides[0][1] == 1.0))
            terms = [(at + (o,), w if one else w * v) for at, w in terms for o, v in sides]
        def add(parts):  # left to right, smallest arrays first (the same sum as before, bit for bit)
            parts = sorted(parts, key=np.size)
            return sum(parts[1:], parts[0])
        return [add(at) for at, _ in terms], [w for _, w in terms]

    def ln_factor(self, **shape) -> np.ndarray:
        idx, wts = self._corners(shape, prune=True)
        flat = self.values.ravel()
        return sum(w * flat[i] for i, w in zip(idx, wts))

    def factor(self, **shape) -> np.ndarray:
        """``exp(s(log2 shape))``: multiply the form's time by this."""
        return np.exp(self.ln_factor(**shape))

    @classmethod
    def from_toml(cls, d: dict) -> Surface:
        names = tuple(str(v) for v in d["vars"])
        knots = tuple(np.asarray(k, dtype=float) for k in d["knots_log2"])
        if len(knots) != len(names) or any(k.ndim != 1 or len(k) == 0 or np.any(np.diff(k) <= 0) for k in knots):
            raise ValueError("surface: one increasing knot list per variable is needed")
        dims = tuple(len(k) for k in knots)
        values = np.asarray(d["ln_factor"], dtype=float)
        if values.size != int(np.prod(dims)):
            raise ValueError(f"surface: {values.size} values for a {dims} grid")
        return cls(names, knots, values.reshape(dims))

    def to_toml(self) -> dict:
        return {"vars": list(self.names), "knots_log2": [[float(x) for x in k] for k in self.knots],
                "ln_factor": [round(float(v), 5) for v in self.values.ravel()]}


def apply(t: np.ndarray, surface: Surface | None, **shape) -> np.ndarray:
    """``t`` times the surface's factor at ``shape``; ``t`` unchanged without a surface."""
    return t if surface is None else t * surface.factor(**shape)
