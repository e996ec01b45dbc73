"""Every module's docstring examples run (the ones not marked ``+SKIP``), so the documented usage stays true.

One case per module of ``src/infomax``: a module whose example drifts from the code fails here by name.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import infomax

#: How every example is compared (``...`` matches anything; runs of whitespace compare equal).
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
MODULES = sorted(m.name for m in pkgutil.walk_packages(infomax.__path__, "infomax.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (run " \
                               f"pytest --doctest-modules on its file to see which)"


#: Benchmark scripts with docstring examples (``lightly_peers.py`` is left out: it imports lightly, which
#: lives in its own environment). A script's folder goes on ``sys.path`` as when it is run.
BENCHMARK_SCRIPTS = ["budget/run.py", "dim/budget_probe.py", "dim/budget_table.py", "dim/loss_curves.py",
                     "dimco/validation.py"]


@pytest.mark.parametrize("script", BENCHMARK_SCRIPTS)
def test_benchmark_examples_run(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    path = root / script
    monkeypatch.syspath_prepend(str(root / "dim"))  # the scripts' shared helpers (common.py)
    monkeypatch.syspath_prepend(str(path.parent))
    name = f"_bench_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=False)
    assert result.attempted > 0, f"{script} has no examples left: drop it from BENCHMARK_SCRIPTS"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {script} failed"
