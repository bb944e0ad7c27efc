"""GEMM efficiency surfaces (cost/kernels/gemm.py with cost/kernels/surface.py): the shipped surfaces are
applied, the time never falls as the rows grow (even under a factor that falls steeply with m), never
beats the roofline at the chip's peak and HBM bandwidth, and tabulating by layer shape changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from superpod.cost.kernel_costs import GEMM_DTYPE, resolve
from superpod.cost.kernels import gemm as G
from superpod.cost.kernels.surface import Surface
from superpod.serving.framework import frameworks

HW = {"peak_flops": {"bf16": 2.25e15, "fp8": 4.5e15, "fp4": 9e15}, "hbm_Bps": 7.7e12, "sm_count": 148}
P = dict(eta_c=0.75, r=0.004, k0=29.0, eta_m=0.77, t0_s=2.2e-6, p=2.44, q_act=0.0, sat=1.28, q_wt=0.0)
KERNEL_FRAMEWORKS = ("sglang", "tensorrt-llm", "vllm")
SHAPES = ((7168, 7168), (4096, 4096), (1024, 8192), (256, 7168), (32, 3584), (24576, 1536))


def falling():
    """A factor that falls by half an octave of time per octave of m, and rises with n."""
    kn = (np.arange(0.0, 17.0, 2.0), np.array([5.0, 16.0]), np.array([5.0, 16.0]))
    vals = -0.35 * kn[0][:, None, None] + 0.2 * kn[1][None, :, None] + 0.0 * kn[2][None, None, :]
    return Surface(("m", "n", "k"), kn, vals)


def test_a_falling_factor_still_never_makes_more_rows_cheaper():
    m = np.arange(1.0, 20001.0)
    s = falling()
    for n, k in SHAPES:
        t = G.gemm_s(m, n, k, "bfloat16", HW, P, surface=s)
        assert np.all(np.diff(t) >= 0), (n, k, m[np.argmin(np.diff(t))])
        # the factor is applied (where the running maximum does not hold the time up)
        assert t[0] == pytest.approx(G.gemm_s(1.0, n, k, "bfloat16", HW, P) * s.factor(m=1.0, n=n, k=k), rel=1e-12)


def test_a_surface_never_beats_the_roofline():
    low = Surface(("m", "n", "k"), (np.array([0.0]), np.array([5.0]), np.array([5.0])), np.full((1, 1, 1), -5.0))
    m = np.geomspace(1, 65536, 40)[:, None, None]
    n = np.geomspace(32, 65536, 9)[None, :, None]
    k = np.geomspace(32, 65536, 9)[None, None, :]
    t = G.gemm_s(m, n, k, "bfloat16", HW, P, surface=low)
    roof = np.maximum(2 * m * n * k / HW["peak_flops"]["bf16"], (2 * m * k + 2 * k * n + 2 * m * n) / HW["hbm_Bps"])
    assert np.all(t >= roof * (1 - 1e-12))


def test_shipped_tables_have_surfaces_and_kernels_apply_them():
    k = resolve("b200", frameworks()["sglang"].kernels)
    s = k.gemm_surface("bfloat16")
    assert s is not None and s.names == ("m", "n", "k")
    p, mc, mt = k.gemm_params("bfloat16")
    m = np.array([1.0, 64.0, 1024.0, 8192.0])
    form = G.gemm_s(m, 4096.0, 4096.0, "bfloat16", k.fit_hw, p, mc, mt)
    got = k.gemm_s(m, 4096.0, 4096.0, "bf16")
    assert not np.allclose(got, form, rtol=1e-3)
    assert np.allclose(got, G.gemm_s(m, 4096.0, 4096.0, "bfloat16", k.fit_hw, p, mc, mt, surface=s), rtol=1e-12)


@pytest.mark.parametrize("chip", ["h100", "b200", "gb300"])
@pytest.mark.parametrize("fw", KERNEL_FRAMEWORKS)
def test_fitted_gemm_never_gets_cheaper_with_more_rows_up_to_20k(chip, fw):
    k = resolve(chip, frameworks()[fw].kernels)
    m = np.arange(1.0, 20001.0)
    for q, dt in GEMM_DTYPE.items():
        if not k.has_gemm(q):
            continue
        for n, kk in SHAPES:
            t = k.gemm_s(m, n, kk, q)
            assert np.all(np.diff(t) >= 0), (q, n, kk, m[np.argmin(np.diff(t))])


def test_tabulating_by_layer_shape_gives_the_same_numbers():
    k = resolve("b200", frameworks()["tensorrt-llm"].kernels)
    rng = np.random.default_rng(1)
    m = np.round(2 ** rng.uniform(0, 15, 300))
    n = rng.choice([1024.0, 4096.0, 7168.0], 300)
    first = k.gemm_s(m, n, 4096.0, "bf16").copy()
    k.gemm_s(m[:50] + 1, 4096.0, 4096.0, "bf16")  # other row counts join the table
    again = k.gemm_s(m.reshape(20, 15), n.reshape(20, 15), 4096.0, "bf16")
    p, mc, mt = k.gemm_params("bfloat16")
    direct = G.gemm_s(m, n, 4096.0, "bfloat16", k.fit_hw, p, mc, mt, surface=k.gemm_surface("bfloat16"))
    assert np.array_equal(again.ravel(), first) and np.allclose(first, direct, rtol=1e-12)
    assert np.all(k.gemm_s(np.array([0.0, 3.0]), 4096.0, 4096.0, "bf16")[:1] == 0.0)
