"""Property: loading arbitrary specs either gives a valid spec or one SpecError line."""


from hypothesis import HealthCheck, given, settings, strategies as st

from superpod.errors import SpecError
from superpod.spec.catalog import build
from superpod.spec.chip import Chip

quantity = st.fixed_dictionaries(
    {
        "value": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6), st.text(max_size=3)),
        "unit": st.sampled_from(["TFLOPS", "GB", "TB/s", "GB/s bidi", "W", "kW", "bogus", ""]),
        "source": st.text(max_size=8),
        "confidence": st.sampled_from(["A", "B", "C", "U", "X"]),
    }
)
chip_dict = st.fixed_dictionaries(
    {"name": st.sampled_from(["ok-chip", "Bad Name", ""]), "vendor": st.just("v"), "released": st.just("2026")},
    optional={"bf16_flops": quantity, "hbm_bytes": quantity, "hbm_Bps": quantity, "fp8_flops": quantity, "extra": st.integers()},
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(chip_dict)
def test_chip_validation_total(data):
    try:
        chip = build(Chip, data, "fuzz.toml")
    except SpecError as e:
        msg = str(e)
        assert msg.startswith("fuzz.toml: ") and "\n" not in msg
        return
    # a chip that loads is physically sensible
    assert chip.hbm_bytes.si > 0 and chip.hbm_Bps.si > 0
    assert chip.hbm_bytes.dimension == "bytes" and chip.hbm_Bps.dimension == "Bps"
    assert chip.name == "ok-chip"


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_toml_text_never_crashes(text):
    from superpod.spec.catalog import read_toml

    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "x.toml"
        p.write_text(text, encoding="utf-8")
        try:
            data = read_toml(p)
        except SpecError as e:
            assert "malformed TOML" in str(e)
            return
        try:
            build(Chip, data, "x.toml")
        except SpecError:
            pass
