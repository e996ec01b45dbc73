"""benchmarks/estimate: the diffusion-mi peer's task order and split, and report.py's "ran on" column."""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "estimate"
TASKS = ["1v1-normal-0.75", "multinormal-dense-25-25-0.5", "multinormal-dense-5-5-0.5",
         "spiral-multinormal-sparse-3-3-2-2.0", "student-identity-1-1-1", "multinormal-dense-50-50-0.5",
         "asinh-student-identity-5-5-2", "half_cube-multinormal-sparse-25-25-2-2.0", "wiggly-1v1-normal-0.75"]


def _load(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_hard_tasks_come_first_largest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    peer = _load(monkeypatch, "peer_diffusion_mi")
    order = peer.task_order(TASKS)
    assert sorted(order) == sorted(TASKS)
    assert order == ["multinormal-dense-50-50-0.5", "half_cube-multinormal-sparse-25-25-2-2.0",
                     "multinormal-dense-25-25-0.5", "asinh-student-identity-5-5-2",
                     "spiral-multinormal-sparse-3-3-2-2.0", "student-identity-1-1-1",
                     "1v1-normal-0.75", "multinormal-dense-5-5-0.5", "wiggly-1v1-normal-0.75"]


def test_split_is_a_seeded_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    peer = _load(monkeypatch, "peer_diffusion_mi")
    tr, te = peer.split(5000, 200, 0.2)
    assert (len(tr), len(te)) == (4000, 1000)
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(5000))
    assert np.array_equal(peer.split(5000, 200, 0.2)[1], te)
    assert not np.array_equal(peer.split(5000, 201, 0.2)[1], te)


def _rows(path: Path, est: str, tasks: list[str], extra: dict) -> None:
    fields = ["task", "seed", "n", "estimator", "truth", "estimate", "low", "high", "chosen", "seconds",
              *extra]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for t in tasks:
            w.writerow({"task": t, "seed": 200, "n": 5000, "estimator": est, "truth": 1.0, "estimate": 0.95,
                        "low": "", "high": "", "chosen": "", "seconds": 2.0, **extra})


def test_report_says_where_rows_ran(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    report = _load(monkeypatch, "report")
    raw = tmp_path / "raw"
    raw.mkdir()
    _rows(raw / "bmi-ksg_n5000_s200.csv", "bmi-ksg", TASKS[:3], {})
    _rows(raw / "diffusion-mi-mmg_n5000_s200.csv", "diffusion-mi-mmg", TASKS[:2],
          {"steps": 3000, "device": "NVIDIA H200", "workers": 12})
    argv = ["report.py", "--raw", str(raw), "--seeds", "200", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    report.main()
    table = (tmp_path / "table_n5000_s200.md").read_text()
    assert "| bmi-ksg | 3 | 0.0500 | 3 | 3 | 2.0 | - | - | CPU, 2 shared cores |" in table
    gpu = "NVIDIA H200 (12 worker processes at once)"
    assert f"| diffusion-mi-mmg | 2 | 0.0500 | 2 | 2 | 2.0 | - | - | {gpu} |" in table
    assert "the rows on NVIDIA H200 (12 worker processes at once) are not comparable in time" in table
    assert "Not every estimator has every task (2, 3 rows)" in table
    assert (tmp_path / "estimate_vs_truth_n5000_s200.png").stat().st_size > 0
