"""Every module's docstring examples run (the ones not marked ``+SKIP``), so the documented usage stays true.

One case per module of ``src/infomax``: a module whose example drifts from the code fails here by name.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import infomax

MODULES = sorted(m.name for m in pkgutil.walk_packages(infomax.__path__, "infomax.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (run " \
                               f"pytest --doctest-modules on its file to see which)"
