"""Every docstring example in the package runs and still holds (a stale example fails here)."""

import doctest
import importlib
import pkgutil

import pytest

import superpod

MODULES = sorted(m.name for m in pkgutil.walk_packages(superpod.__path__, "superpod.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
