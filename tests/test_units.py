import math

import pytest
from hypothesis import given, strategies as st

from superpod import units
from superpod.errors import SpecError


@pytest.mark.parametrize(
    "value,unit,si",
    [
        (752, "TFLOPS", 752e12),
        (1.8, "TB/s bidi", 0.9e12),
        (400, "Gb/s", 50e9),
        (2800, "Gb/s", 350e9),
        (144, "GiB", 144 * 2**30),
        (559, "kW", 559e3),
        (1.2, "us", 1.2e-6),
        (1504, "TOPS", 1.504e15),
    ],
)
def test_to_si(value, unit, si):
    assert math.isclose(units.to_si(value, unit), si)


@given(st.floats(min_value=1e-6, max_value=1e12), st.sampled_from(sorted(units.UNITS)))
def test_round_trip(value, unit):
    assert math.isclose(units.from_si(units.to_si(value, unit), unit), value, rel_tol=1e-12)


def test_unknown_unit():
    with pytest.raises(SpecError, match="unknown unit"):
        units.to_si(1, "furlongs")


def test_human():
    assert units.human(288.768e15, "flops") == "288.8 PFLOP/s"
    assert units.human(559e3, "power") == "559 kW"
