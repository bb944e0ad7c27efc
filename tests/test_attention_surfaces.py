"""Attention / MLA kernel models with their efficiency surfaces (cost/kernels/attention.py,
catalog/calibration/silicon/attention.toml): the shipped surfaces are applied, the time never drops below
the plain roofline at the chip's fastest peak and HBM, decode time does not fall as batch or context grow
at the surface's knots, and the sliding-window tile share (``w_skip``) prices the masked tiles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from superpod.cost.kernel_costs import resolve
from superpod.cost.kernels import attention as A
from superpod.cost.kernels.surface import Surface
from superpod.planners import kernel_tables as kt
from superpod.serving.framework import frameworks
from superpod.spec.calibration import silicon_params

TABLES = ("context_attention", "generation_attention", "context_mla", "generation_mla")
GPU = {"sm90": "h200_sxm", "sm100": "b200_sxm"}


def kernels():
    """(table, key path, parameters with the surface as a Surface, GPU facts) of every shipped kernel."""
    p = silicon_params("attention")
    out = []

    def walk(table, node, path):
        if "eta_m" in node:
            q = {k: v for k, v in node.items() if isinstance(v, float)}
            q["surface"] = Surface.from_toml(node["surface"]) if "surface" in node else None
            out.append((table, path, q, kt._hw_gemm(GPU[path[0]])))
            return
        for k, v in node.items():
            if isinstance(v, dict):
                walk(table, v, path + (k,))

    for t in TABLES:
        walk(t, p[t], ())
    return out


KERNELS = kernels()


def price(table, path, q, hw, b, n, h, g, hd, window=0.0):
    mla = "mla" in table
    kv_b = 1.0 if path[-1] == "fp8" else 2.0
    if table.startswith("context"):
        h_kv, dqk, dv = (h, 192.0, 128.0) if mla else (h / g, hd, hd)
        fp8 = path[-2] == "fp8"
        t = A.context_s(b, n, h, h_kv, dqk, dv, window, 1.0 if fp8 else 2.0, kv_b, "fp8" if fp8 else "bf16", hw, q)
        floor = A.context_floor_s(b, n, h, h_kv, dqk, dv, window, 1.0 if fp8 else 2.0, kv_b,
                                  max(hw["peak_flops"].values()), hw["hbm_Bps"])
    else:
        h_kv, dqk, dv, dvr = (1.0, 576.0, 512.0, 0.0) if mla else (h / g, hd, hd, hd)
        t = A.generation_s(b, n, h, h_kv, dqk, dv, dvr, window, kv_b, hw, q, mma_rows=64.0 if mla else 16.0)
        floor = A.generation_floor_s(b, n, h, h_kv, dqk, dv, dvr, kv_b, max(hw["peak_flops"].values()), hw["hbm_Bps"])
    return np.asarray(t), np.asarray(floor)


def test_every_shipped_kernel_has_a_surface_over_its_tables_variables():
    want = {"context_attention": ("bh", "isl", "g", "hd"), "generation_attention": ("bh", "ctx", "g", "hd"),
            "context_mla": ("b", "isl", "h"), "generation_mla": ("b", "ctx", "h")}
    assert len(KERNELS) > 60
    for table, path, q, _ in KERNELS:
        assert q["surface"] is not None and q["surface"].names == want[table], (table, path)


def test_the_surface_multiplies_the_form():
    table, path, q, hw = next(k for k in KERNELS if k[0] == "generation_attention")
    b, ctx = np.array([1.0, 16.0, 256.0]), np.array([512.0, 4096.0, 32768.0])
    form = A.generation_s(b, ctx, 32.0, 8.0, 128.0, 128.0, 128.0, 0.0, 2.0, hw, dict(q, surface=None))
    with_s = A.generation_s(b, ctx, 32.0, 8.0, 128.0, 128.0, 128.0, 0.0, 2.0, hw, q)
    factor = q["surface"].factor(bh=b * 8.0, ctx=ctx, g=4.0, hd=128.0)
    floor = A.generation_floor_s(b, ctx, 32.0, 8.0, 128.0, 128.0, 128.0, 2.0, max(hw["peak_flops"].values()),
                                 hw["hbm_Bps"])
    assert np.allclose(with_s, np.maximum(form * factor, floor))
    assert not np.allclose(with_s, form)


@pytest.mark.parametrize("table", TABLES)
def test_never_faster_than_the_roofline(table):
    n = 2.0 ** np.arange(0, 17.5, 1.0)
    for t_, path, q, hw in (k for k in KERNELS if k[0] == table):
        for b, h, g, hd in itertools.product((1.0, 32.0, 512.0), (8.0, 64.0), (1.0, 8.0), (64.0, 128.0)):
            t, floor = price(table, path, q, hw, b, n, h, g, hd)
            assert np.all(t >= floor * (1 - 1e-12)), (table, path, b, h)


@pytest.mark.parametrize("table", ("generation_attention", "generation_mla"))
def test_decode_time_does_not_fall_as_batch_or_context_grow_at_the_knots(table):
    for t_, path, q, hw in (k for k in KERNELS if k[0] == table):
        s = q["surface"]
        grid = dict(zip(s.names, (2.0 ** k for k in s.knots)))
        for ax in ("bh", "b", "ctx"):
            if ax not in grid:
                continue
            x = grid[ax]
            other = grid["ctx"] if ax != "ctx" else grid.get("bh", grid.get("b"))
            mid = float(other[len(other) // 2])
            b, ctx = (x, mid) if ax != "ctx" else (mid, x)
            for hd in grid.get("hd", [128.0]):
                # on the knots of every variable: MLA at its largest head count, MHA one KV head, group of g knot 0
                h = float(grid["h"][-1]) if "mla" in table else float(grid["g"][0])
                g = 1.0 if "mla" in table else h
                t, _ = price(table, path, q, hw, b, ctx, h, g, hd)
                assert np.all(np.diff(t) >= -3e-4 * t[1:]), (table, path, ax, hd)  # ln values rounded to 1e-4


def test_window_tiles_a_kernel_does_not_skip_are_priced():
    hw = kt._hw_gemm("b200_sxm")
    q = {k: v for k, v in silicon_params("attention")["context_attention"]["sm100"]["SGLang"]["triton"]["bfloat16"]
         ["bfloat16"].items() if isinstance(v, float)}
    assert 0.0 <= q["w_skip"] < 0.5
    args = (1.0, 16384.0, 32.0, 8.0, 192.0, 192.0)
    skips = A.context_s(*args, 128.0, 2.0, 2.0, "bf16", hw, dict(q, w_skip=1.0))
    masks = A.context_s(*args, 128.0, 2.0, 2.0, "bf16", hw, q)
    full = A.context_s(*args, 0.0, 2.0, 2.0, "bf16", hw, q)
    assert skips < masks <= full
    assert A.context_s(*args, 0.0, 2.0, 2.0, "bf16", hw, dict(q, w_skip=0.0)) == pytest.approx(float(full))


def test_serving_handles_carry_the_surface():
    k = resolve("b200", frameworks()["vllm"].kernels)
    p = k.attention_params("generation_attention", "bfloat16", "bfloat16")
    assert isinstance(p["surface"], Surface)
    t = k.generation_s(np.array([1.0, 64.0]), 4096.0, 8.0, 1.0, 128.0, "bf16")
    assert np.all(np.isfinite(t)) and np.all(np.diff(t) > 0)
