"""benchmarks/estimate: the diffusion-mi peer's task order and split, report.py's "ran on" column, and the
own tasks' dump."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

TASKS = ["1v1-normal-0.75", "multinormal-dense-25-25-0.5", "multinormal-dense-5-5-0.5",
         "spiral-multinormal-sparse-3-3-2-2.0", "student-identity-1-1-1", "multinormal-dense-50-50-0.5",
         "asinh-student-identity-5-5-2", "half_cube-multinormal-sparse-25-25-2-2.0", "wiggly-1v1-normal-0.75"]


def test_hard_tasks_come_first_largest_first(bench_script) -> None:
    peer = bench_script("estimate", "peer_diffusion_mi")
    order = peer.task_order(TASKS)
    assert sorted(order) == sorted(TASKS)
    assert order == ["multinormal-dense-50-50-0.5", "half_cube-multinormal-sparse-25-25-2-2.0",
                     "multinormal-dense-25-25-0.5", "asinh-student-identity-5-5-2",
                     "spiral-multinormal-sparse-3-3-2-2.0", "student-identity-1-1-1",
                     "1v1-normal-0.75", "multinormal-dense-5-5-0.5", "wiggly-1v1-normal-0.75"]


def test_split_is_a_seeded_partition(bench_script) -> None:
    peer = bench_script("estimate", "peer_diffusion_mi")
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


def test_report_says_where_rows_ran(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bench_script) -> None:
    report = bench_script("estimate", "report")
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


def test_own_tasks_dump_in_the_suites_format(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             bench_script) -> None:
    # heldout_tasks.py --dump writes what run.py and the peers read: x, y, mi per task file; the true MI of
    # the sparse task is that of its two dependent pairs, which a hand computation gives
    from infomax.data.synthetic import mi_to_rho

    mod = bench_script("estimate", "heldout_tasks")
    mod.dump(tmp_path, 40, "3", extended=True)
    files = {f.stem: f for f in (tmp_path / "n40" / "s3").glob("*.npz")}
    assert len(files) == 27 and not list((tmp_path / "n40" / "s3").glob(".*"))
    with np.load(files["sparse-2of50-mi1.0"], allow_pickle=False) as z:
        assert z["x"].shape == z["y"].shape == (40, 50) and float(z["mi"]) == 1.0
    rho = mi_to_rho(1.0, 2)
    assert 2 * -0.5 * np.log(1 - rho**2) == pytest.approx(1.0)
    with np.load(files["halfcube-d3-mi1.0"], allow_pickle=False) as z:
        # the half-cube keeps each column's ranks: the Gaussian drawn with the same seed, mapped
        gx, gy = mod.sample(("gauss", 3, mi_to_rho(1.0, 3), None), 40, 1003)
        np.testing.assert_allclose(z["y"], np.sign(gy) * np.abs(gy) ** 1.5)
        np.testing.assert_allclose(z["x"], np.sign(gx) * np.abs(gx) ** 1.5)
    with np.load(files["gauss-d1000-mi1.0"], allow_pickle=False) as z:
        assert z["x"].shape == (40, 1000) and str(z["task"]) == "gauss-d1000-mi1.0"
