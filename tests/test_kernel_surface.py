"""Efficiency surfaces (cost/kernels/surface.py): interpolation, clamping, the TOML round trip, and
the fit (benchmarks/silicon/surface_fit.py, when scipy is installed) recovering a known surface."""

import numpy as np
import pytest

from superpod.cost.kernels.surface import Surface, apply


def grid():
    kn = (np.array([0.0, 4.0, 8.0]), np.array([0.0, 10.0]))
    vals = np.array([[0.0, 0.2], [0.1, 0.3], [-0.2, 0.0]])
    return Surface(("m", "n"), kn, vals)


def test_knots_are_exact_and_between_is_multilinear():
    s = grid()
    for i, m in enumerate((1.0, 16.0, 256.0)):
        for j, n in enumerate((1.0, 1024.0)):
            assert s.ln_factor(m=m, n=n) == pytest.approx(s.values[i, j])
    # halfway in both log2 axes: mean of the four corners
    assert s.ln_factor(m=4.0, n=32.0) == pytest.approx(np.mean(s.values[:2, :]))


def test_clamped_outside_the_grid_and_broadcasts():
    s = grid()
    m = np.array([[0.01, 1e9]])
    n = np.array([[1e-3], [1e7]])
    out = s.ln_factor(m=m, n=n)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(s.values[0, 0]) and out[1, 1] == pytest.approx(s.values[-1, -1])


def test_toml_round_trip_and_apply():
    s = grid()
    back = Surface.from_toml(s.to_toml())
    assert back.names == s.names and np.allclose(back.values, s.values, atol=1e-5)
    t = np.array([2.0])
    assert apply(t, None, m=3.0, n=3.0) is t
    assert apply(t, s, m=1.0, n=1.0)[0] == pytest.approx(2.0)


def test_bad_grids_are_refused():
    with pytest.raises(ValueError):
        Surface.from_toml({"vars": ["m"], "knots_log2": [[1.0, 0.0]], "ln_factor": [0.0, 0.0]})
    with pytest.raises(ValueError):
        Surface.from_toml({"vars": ["m"], "knots_log2": [[0.0, 1.0]], "ln_factor": [0.0]})
    with pytest.raises(KeyError):
        grid().factor(m=1.0)


def test_fit_recovers_a_smooth_surface():
    pytest.importorskip("scipy")
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "silicon"))
    from surface_fit import fit, knots

    rng = np.random.default_rng(0)
    m = 2.0 ** rng.uniform(0, 14, 4000)
    n = 2.0 ** rng.uniform(6, 14, 4000)
    truth = 0.3 * np.sin(np.log2(m) / 3.0) + 0.05 * (np.log2(n) - 10.0)
    s = fit(("m", "n"), (knots(m, 12), knots(n, 6)), {"m": m, "n": n}, truth, smooth=0.01, ridge=1e-6)
    assert np.abs(s.ln_factor(m=m, n=n) - truth).max() < 0.02
