"""The MoE layer's efficiency surface (moe_perf.toml ``surface`` tables, superpod.cost.kernels.moe):
shipped for every MoE kernel the frameworks run, applied by the serving costs and by ``superpod
calibration``, never below the roofline, and more tokens never cheaper."""

from __future__ import annotations

import numpy as np
import pytest

from superpod.cost.kernel_costs import resolve
from superpod.cost.kernels import moe as M
from superpod.planners import kernel_tables as kt
from superpod.serving.framework import frameworks

FRAMEWORKS = ("sglang", "tensorrt-llm", "vllm")
#: (hidden, inter, topk, experts): DeepSeek-V3, Qwen3-235B, gpt-oss-120b, Mixtral-8x7B
SHAPES = ((7168, 2048, 8, 256), (4096, 1536, 8, 128), (2880, 2880, 4, 128), (4096, 14336, 2, 8))
TOKENS = np.unique(np.round(np.geomspace(1, 16384, 160)))


def _kernels(chip, fw):
    f = frameworks()[fw]
    k = resolve(chip, f.kernels)
    return k, f.kernels[k.family]["moe"]


@pytest.mark.parametrize("chip", ["h100", "b200"])
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_every_serving_moe_kernel_has_a_surface_and_it_is_applied(chip, fw):
    k, kinds = _kernels(chip, fw)
    for dtype in kinds:
        s = k.moe_surface(dtype)
        assert s is not None and s.names == M.SURFACE_VARS, (fw, dtype)
        p, src = k.moe_params(dtype)
        args = (TOKENS, 7168, 2048, 8, 256, 1, 8)
        form = M.moe_s(*args, k.hw, p, M.weight_bytes(dtype), k.hw[M.peak_key(dtype, src)])
        roof = M.roofline_s(*args, k.hw, M.weight_bytes(dtype), k.hw[M.peak_key(dtype, src)])
        got = k.moe_s(*args, dtype)
        assert np.allclose(got, M.moe_s(*args, k.hw, p, M.weight_bytes(dtype), k.hw[M.peak_key(dtype, src)],
                                        surface=s), rtol=1e-12), (fw, dtype)
        # form x factor, lifted only where fewer tokens (a knot below) would cost more, never below the roofline
        raw = np.maximum(form * s.factor(**M.surface_shape(*args)), roof)
        assert np.all(got >= raw * (1 - 1e-12)) and np.mean(np.isclose(got, raw, rtol=1e-9)) >= 0.3, (fw, dtype)
        assert not np.allclose(got, form), (fw, dtype)  # the surface moves the figure


@pytest.mark.parametrize("chip", ["h100", "b200"])
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_moe_layer_never_beats_the_roofline_and_more_tokens_never_cheaper(chip, fw):
    k, kinds = _kernels(chip, fw)
    for dtype in kinds:
        p, src = k.moe_params(dtype)
        wb, peak = M.weight_bytes(dtype), k.hw[M.peak_key(dtype, src)]
        for hidden, inter, topk, experts in SHAPES:
            for tp, ep in ((1, 1), (1, 8), (8, 1), (2, 4)):
                if experts % ep:
                    continue
                t = k.moe_s(TOKENS, hidden, inter, topk, experts, tp, ep, dtype)
                roof = M.roofline_s(TOKENS, hidden, inter, topk, experts, tp, ep, k.hw, wb, peak)
                assert np.all(t >= roof * (1 - 1e-12)), (fw, dtype, hidden, tp, ep)
                # within 1% (the surface is monotone at its knots; between them the multilinear
                # interpolation of a monotone grid can dip by a fraction of a percent)
                assert np.all(np.diff(t) >= -0.01 * t[1:]), (fw, dtype, hidden, tp, ep,
                                                            TOKENS[1:][np.diff(t) < -0.01 * t[1:]][:5])


def test_calibration_prices_the_moe_sample_with_the_surfaces():
    """`superpod calibration`'s MoE figure uses the surfaces: without them the shipped sample is
    priced by the form alone, and worse."""
    meas, pred, _ = kt.price_table("moe_perf")

    def no_surface(name):
        data = kt.silicon_params(name)
        if name != "moe_perf":
            return data
        strip = lambda n: {k: strip(v) for k, v in n.items() if k != "surface"} if isinstance(n, dict) else n  # noqa: E731
        return strip(data)

    _, form, _ = kt.price_table("moe_perf", no_surface)
    err = np.abs(pred - meas) / meas
    err_form = np.abs(form - meas) / meas
    assert np.nanmean(err) <= 0.10 < np.nanmean(err_form)
