"""Units: SI inside, conversions only at the edges.

Catalog files store numbers in the units their sources use (``TFLOPS``, ``GB/s``,
``Gb/s``, ``GiB``, ``kW``...). :data:`UNITS` maps each unit string to its dimension
and its factor to SI (FLOP/s, bytes, bytes/s, watts, seconds). A bandwidth quoted as
bidirectional (both directions added, as NVLink and Huawei roadmap figures are) is
written with the suffix ``bidi`` and halved on load: every bandwidth inside superpod
is per direction.

>>> to_si(1.8, "TB/s bidi")
900000000000.0
>>> to_si(400, "Gb/s")
50000000000.0
"""

from __future__ import annotations

from superpod.errors import SpecError

_DEC = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21}
_BIN = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

#: unit string -> (dimension, factor to SI)
UNITS: dict[str, tuple[str, float]] = {}

for _p, _f in _DEC.items():
    UNITS[f"{_p}FLOPS"] = ("flops", _f)
    UNITS[f"{_p}OPS"] = ("flops", _f)
    UNITS[f"{_p}B"] = ("bytes", _f)
    UNITS[f"{_p}B/s"] = ("Bps", _f)
    UNITS[f"{_p}b/s"] = ("Bps", _f / 8)
    UNITS[f"{_p}B/s bidi"] = ("Bps", _f / 2)
    UNITS[f"{_p}b/s bidi"] = ("Bps", _f / 16)
    UNITS[f"{_p}W"] = ("power", _f)
for _p, _f in _BIN.items():
    UNITS[f"{_p}B"] = ("bytes", _f)
    UNITS[f"{_p}B/s"] = ("Bps", _f)
UNITS.update(
    {
        # vendors' HBM terabytes: thousands of binary GB (NVIDIA's NVL72 "13.4 TB" = 72 x 186 GiB)
        "TB (1000 GiB)": ("bytes", 1e3 * 2.0**30),
        "kW": ("power", 1e3),
        "kB": ("bytes", 1e3),
        "s": ("time", 1.0),
        "ms": ("time", 1e-3),
        "us": ("time", 1e-6),
        "ns": ("time", 1e-9),
        "min": ("time", 60.0),
        "h": ("time", 3600.0),
        "day": ("time", 86400.0),
        "year": ("time", 365.25 * 86400.0),
        "count": ("count", 1.0),
        "ratio": ("ratio", 1.0),
        "%": ("ratio", 0.01),
        "USD": ("money", 1.0),
        "m2": ("area", 1.0),
    }
)

DIMENSION_NAMES = {
    "flops": "FLOP/s",
    "bytes": "bytes",
    "Bps": "bandwidth",
    "power": "power",
    "time": "time",
    "count": "count",
    "ratio": "ratio",
    "money": "money",
    "area": "area",
}


def units_of(dimension: str) -> list[str]:
    """All unit strings of one dimension, for error messages."""
    return [u for u, (d, _) in UNITS.items() if d == dimension]


def to_si(value: float, unit: str) -> float:
    """Convert ``value`` given in ``unit`` to SI."""
    try:
        return value * UNITS[unit][1]
    except KeyError:
        raise SpecError(f"unknown unit {unit!r}") from None


def from_si(value: float, unit: str) -> float:
    """Convert an SI ``value`` to ``unit`` (for display)."""
    try:
        return value / UNITS[unit][1]
    except KeyError:
        raise SpecError(f"unknown unit {unit!r}") from None


def dimension(unit: str) -> str | None:
    """The dimension of a unit string, or None if unknown."""
    entry = UNITS.get(unit)
    return entry[0] if entry else None


def human(value: float, dim: str, digits: int = 4) -> str:
    """A short human-readable string for an SI value, e.g. ``288.8 PFLOP/s``."""
    if dim == "count":
        return f"{value:,.0f}"
    if dim == "ratio":
        return f"{value:.3g}"
    base = {
        "flops": "FLOP/s",
        "bytes": "B",
        "Bps": "B/s",
        "bits": "b/s",
        "power": "W",
        "money": "USD",
    }.get(dim)
    if dim == "time":
        for unit, f in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
            if abs(value) >= f or unit == "ns":
                return f"{value / f:.{digits}g} {unit}"
    if base is None:
        return f"{value:.{digits}g}"
    for prefix, f in (("Z", 1e21), ("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= f:
            return f"{value / f:.{digits}g} {prefix}{base}"
    return f"{value:.{digits}g} {base}"
