"""Power-capped clocks (issue 11): --power-limit-w scales compute along the chip's catalog curve."""

import pytest

from superpod.errors import InvalidOptionError, SuperpodError
from superpod.planners.train_estimate import train
from superpod.spec.catalog import load_chip
from superpod.training.power import compute_fraction

TT8B = dict(seq_len=8192, global_batch=16, framework="torchtitan", tp=1, pp=1, dp=8, micro_batch=2, zero=3,
            recompute="ops")


def test_curve_passes_through_its_published_points_and_defaults_to_tdp():
    h100 = load_chip("h100")
    assert compute_fraction(h100) == 1.0  # 700 W SXM5 at its TDP: the catalog peaks
    assert compute_fraction(h100, 700) == pytest.approx(1.0)
    assert compute_fraction(h100, 400) == pytest.approx(0.844)
    assert 0.844 < compute_fraction(h100, 500) < 1.0
    # the TorchTitan H100s default to their 500 W limit (training.md 7.3)
    assert compute_fraction(load_chip("h100-hbm2e")) == pytest.approx(compute_fraction(h100, 500))


def test_lower_power_limit_is_never_faster():
    prev = None
    for w in (700, 650, 600, 550, 500, 450, 400):
        r = train("llama3-8b", "h100-hbm2e-cluster@8", power_limit_w=w, **TT8B)
        if prev is not None:
            assert r["step_s"] >= prev["step_s"], w
            assert r["mfu"] <= prev["mfu"], w
        prev = r


def test_power_limit_scales_compute_not_hbm_and_mfu_keeps_the_nameplate_peak():
    full = train("llama3-8b", "h100-hbm2e-cluster@8", power_limit_w=700, **TT8B)
    capped = train("llama3-8b", "h100-hbm2e-cluster@8", power_limit_w=400, **TT8B)
    assert capped["compute_fraction"] == pytest.approx(0.844) and capped["power_limit_w"] == 400
    assert capped["peak_bf16_flops_per_chip"] == full["peak_bf16_flops_per_chip"]
    # compute-bound parts slow by at most 1/0.844; the optimizer step (HBM-bound) not at all
    ratio = capped["breakdown"]["compute_s"] / full["breakdown"]["compute_s"]
    assert 1.0 < ratio <= 1 / 0.844 + 1e-9
    assert capped["breakdown"]["optimizer_s"] == pytest.approx(full["breakdown"]["optimizer_s"])
    assert capped["mfu"] == pytest.approx(capped["tflops_per_chip"] * 1e12 / capped["peak_bf16_flops_per_chip"])


@pytest.mark.parametrize("w", [300, 800, 0, -5])
def test_limit_outside_the_published_curve_is_refused(w):
    with pytest.raises(SuperpodError):
        train("llama3-8b", "h100-hbm2e-cluster@8", power_limit_w=w, **TT8B)


def test_chip_without_curve_refuses_a_limit_below_its_tdp():
    with pytest.raises(InvalidOptionError, match="power_curve"):
        compute_fraction(load_chip("a100"), 200)
    assert compute_fraction(load_chip("a100")) == 1.0


def test_power_limit_also_slows_gemms_priced_on_the_measured_kernel_fits():
    kw = dict(seq_len=4096, global_batch=64, tp=8, pp=1, dp=1, micro_batch=1, zero=1, recompute="none")
    full = train("llama3-8b", "dgx-h100-superpod@8", **kw)  # H100 SXM5 at its 700 W TDP: the tables' own clocks
    capped = train("llama3-8b", "dgx-h100-superpod@8", power_limit_w=500, **kw)
    assert full["compute_fraction"] == 1.0 and capped["compute_fraction"] == pytest.approx(0.903, abs=1e-3)
    assert capped["breakdown"]["compute_s"] > full["breakdown"]["compute_s"] * 1.05


def test_a_chip_from_a_users_file_trains_with_its_own_power_curve(tmp_path):
    from superpod.spec.catalog import catalog_root

    chip = (catalog_root() / "chips" / "h100.toml").read_text().replace('name = "h100"', 'name = "my-h100"')
    (tmp_path / "my-h100.toml").write_text(chip)
    system = (catalog_root() / "systems" / "dgx-h100-superpod.toml").read_text()
    system = system.replace('chip = "h100"', f'chip = "{tmp_path / "my-h100.toml"}"').replace(
        'name = "dgx-h100-superpod"', 'name = "my-dgx"')
    (tmp_path / "my-dgx.toml").write_text(system)
    r = train("llama3-8b", f"{tmp_path / 'my-dgx.toml'}@8", power_limit_w=500)
    assert r["compute_fraction"] == pytest.approx(0.903, abs=1e-3)
    assert train("deepseek-v3", f"{tmp_path / 'my-dgx.toml'}@256", dispatcher="alltoall")["dispatcher"] == "alltoall"


def test_capped_boards_draw_their_limit_in_the_power_figures():
    """A 500 W limit on 700 W H100s: 8 x 200 W less IT power; tokens per kW use that power."""
    full = train("llama3-8b", "dgx-h100-superpod@8")
    capped = train("llama3-8b", "dgx-h100-superpod@8", power_limit_w=500)
    assert capped["power_w"] == pytest.approx(full["power_w"] - 8 * 200)
    assert capped["tokens_per_s_per_kw"] == pytest.approx(capped["tokens_per_s"] / (capped["power_w"] / 1e3))
