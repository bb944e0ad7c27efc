"""Fit an efficiency surface (superpod.cost.kernels.surface.Surface) to a kernel table's residuals.

    s = fit(names, knots_log2, shape, ln_residual, smooth=1.0, ridge=1e-3, weight=None)

minimises ``sum_i w_i (s(x_i) - y_i)^2 + smooth * sum over axes of (second differences of s along the
axis)^2 + ridge * sum s^2`` with ``y = ln(measured / form)`` and ``x = log2(shape)``: a smooth correction
that leaves the form's own trend where the rows say nothing (cells without rows are pulled to their
neighbours by the smoothing, towards 0 by the ridge). Solved as one sparse least-squares problem
(scipy.sparse.linalg.lsqr). ``knots(values, n)`` proposes ``n`` log2 knots spanning the values.

``increasing="m"``: the surface never falls along that axis (its knot values are a running sum of
non-negative steps; bounded least squares, scipy.optimize.lsq_linear): a factor on a time that must not
fall as that shape grows (GEMM rows, MoE tokens) keeps it so.

Needs the ``fit`` extra (scipy); superpod itself only reads the fitted grid.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import lsq_linear
from scipy.sparse.linalg import lsqr

from superpod.cost.kernels.surface import Surface


def knots(values, n: int) -> np.ndarray:
    """``n`` evenly spaced log2 knots from the smallest to the largest value (one knot if they are equal)."""
    x = np.log2(np.maximum(np.asarray(values, dtype=float), 1e-30))
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi - lo < 1e-9 or n < 2:
        return np.array([lo])
    return np.linspace(lo, hi, n)


def _second_differences(dims: tuple[int, ...]) -> sparse.csr_matrix:
    """Rows of the smoothing penalty: the second difference of the grid along each axis."""
    blocks = []
    for axis, size in enumerate(dims):
        if size < 3:
            continue
        d2 = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(size - 2, size))
        mats = [sparse.identity(s) if a != axis else d2 for a, s in enumerate(dims)]
        op = mats[0]
        for mat in mats[1:]:
            op = sparse.kron(op, mat)
        blocks.append(op)
    total = int(np.prod(dims))
    return sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, total))


def _running_sum(dims: tuple[int, ...], axis: int) -> sparse.csr_matrix:
    """Knot values from steps: ``v[.., i, ..] = sum_{j <= i} z[.., j, ..]`` along ``axis``."""
    mats = [sparse.identity(s) if a != axis else sparse.csr_matrix(np.tril(np.ones((s, s))))
            for a, s in enumerate(dims)]
    op = mats[0]
    for mat in mats[1:]:
        op = sparse.kron(op, mat)
    return op.tocsr()


def fit(names, knots_log2, shape: dict, y, smooth: float = 1.0, ridge: float = 1e-3, weight=None,
        increasing: str | None = None) -> Surface:
    """Smoothed least-squares surface through ``y`` (ln residual per row) at the rows' ``shape``."""
    knots_log2 = tuple(np.asarray(k, dtype=float) for k in knots_log2)
    dims = tuple(len(k) for k in knots_log2)
    total = int(np.prod(dims))
    y = np.asarray(y, dtype=float).ravel()
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=float).ravel()
    probe = Surface(tuple(names), knots_log2, np.zeros(dims))
    idx, wts = probe.corners(**{n: np.asarray(shape[n], dtype=float).ravel() for n in names})
    rows = np.concatenate([np.arange(len(y))] * len(idx))
    cols = np.concatenate([np.asarray(i).ravel() for i in idx])
    vals = np.concatenate([np.asarray(v).ravel() for v in wts])
    sw = np.sqrt(w)
    a = sparse.csr_matrix((vals * sw[rows], (rows, cols)), shape=(len(y), total))
    pen = _second_differences(dims) * np.sqrt(smooth)
    reg = sparse.identity(total) * np.sqrt(ridge)
    lhs = sparse.vstack([a, pen, reg]).tocsr()
    rhs = np.concatenate([y * sw, np.zeros(pen.shape[0] + total)])
    if increasing is None:
        sol = lsqr(lhs, rhs, atol=1e-10, btol=1e-10, iter_lim=20000)[0]
        return Surface(tuple(names), knots_log2, sol.reshape(dims))
    axis = list(names).index(increasing)
    cum = _running_sum(dims, axis)
    first = np.zeros(dims, dtype=bool)
    first[(slice(None),) * axis + (0,)] = True  # the first knot along the axis is free, the steps >= 0
    lo = np.where(first.ravel(), -np.inf, 0.0)
    # the same least squares on the (small, dense) normal equations: min |R z - R^-T c| with R^T R = M
    a = (lhs @ cum).tocsr()
    m = (a.T @ a).toarray()
    r = np.linalg.cholesky(m + 1e-12 * np.trace(m) / len(m) * np.eye(len(m))).T
    c = np.linalg.solve(r.T, a.T @ rhs)
    z = lsq_linear(r, c, bounds=(lo, np.inf), method="bvls").x
    return Surface(tuple(names), knots_log2, (cum @ z).reshape(dims))
