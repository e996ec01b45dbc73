"""Shared test set-up: one thread (CPU results are bit-identical only at a fixed thread count), seeds,
and the data root for real-data tests ($INFOMAX_DATA; those tests skip only where it is absent)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that still uses the legacy global generator


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench_script(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], ModuleType]]:
    """``load(folder, name)``: import ``benchmarks/<folder>/<name>.py`` afresh (scripts, not a package);
    the module is dropped from ``sys.modules`` again after the test."""
    loaded: list[str] = []

    def load(folder: str, name: str) -> ModuleType:
        monkeypatch.syspath_prepend(str(BENCHMARKS / folder))
        sys.modules.pop(name, None)
        loaded.append(name)
        return importlib.import_module(name)

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


@pytest.fixture
def data_root() -> Path:
    """The offline datasets folder ($INFOMAX_DATA); skips the test where it is not set or missing."""
    root = os.environ.get("INFOMAX_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("INFOMAX_DATA not set (real-data test)")
    return Path(root)


def _sigkill_at_marker(code: str, marker: Path, timeout: float = 120.0) -> None:
    """Run ``python -c code`` in a new process, wait until it creates ``marker`` (it then hangs), and kill
    it with SIGKILL: a real crash, not an exception inside the test process."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not marker.exists():
        time.sleep(0.05)
    assert proc.poll() is None and marker.exists(), proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def sigkill_at_marker():
    """``sigkill_at_marker(code, marker)``: see :func:`_sigkill_at_marker`."""
    return _sigkill_at_marker


#: Where the toy method and data for the engine and CLI tests live (``tests/engine/engine_toy.py``).
TOY_DIR = Path(__file__).parent / "engine"


@pytest.fixture
def toy(monkeypatch):
    """The toy method registered (``infomax train toy``), and the toy data wherever the CLI loads a dataset
    (``infomax.experiment.load_splits``). Test modules with their own ``toy`` fixture override this one."""
    monkeypatch.syspath_prepend(str(TOY_DIR))
    toy = importlib.import_module("engine_toy").register(monkeypatch)
    monkeypatch.setattr("infomax.experiment.load_splits", lambda cfg: toy.toy_splits())
    return toy
