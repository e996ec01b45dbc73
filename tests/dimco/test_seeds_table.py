"""benchmarks/dimco/seeds.py: per-seed compare.py csvs -> means, and ``--baseline`` verdicts by hand."""

from __future__ import annotations

import csv
import math
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest

FIELDS = ["representation", "bits", "bytes", "5-way 1-shot", "mAP"]


@pytest.fixture
def seeds(bench_script) -> ModuleType:
    return bench_script("dimco", "seeds")


def _write(path: Path, codes: float, proto: float) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerow({"representation": "DIMCO codes d=64 k=16", "bits": "256.0", "bytes": "32",
                    "5-way 1-shot": codes, "mAP": codes / 2})
        w.writerow({"representation": "ProtoNet `y` float32 (64-d)", "bits": "2048", "bytes": "256",
                    "5-way 1-shot": proto, "mAP": proto / 2})
    return path


def test_baseline_table_matches_a_hand_computed_verdict(tmp_path, monkeypatch, seeds) -> None:
    new = [_write(tmp_path / f"new{i}.csv", c, p) for i, (c, p) in enumerate([(0.90, 0.95), (0.91, 0.96),
                                                                              (0.92, 0.94)])]
    old = [_write(tmp_path / f"old{i}.csv", c, p) for i, (c, p) in enumerate([(0.80, 0.95), (0.81, 0.93),
                                                                              (0.83, 0.97)])]
    monkeypatch.setattr(sys, "argv", ["seeds.py", *map(str, new), "--name", "t", "--out", str(tmp_path),
                                      "--baseline", *map(str, old), "--baseline-label", "old"])
    seeds.main()
    md = (tmp_path / "seeds-t.md").read_text()
    lines = md.splitlines()
    start = lines.index("Against old (3 seeds):")
    table = [line.split("|") for line in lines[start:] if line.startswith("| ")]
    rows = {(c[1].strip(), c[2].strip()): [x.strip() for x in c[3:7]] for c in table[2:]}  # past the header

    def expect(a: list[float], b: list[float]) -> tuple[float, float]:
        se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
        return statistics.fmean(a) - statistics.fmean(b), se

    # codes, 5-way 1-shot: 91.0 vs 81.33, se sqrt(1/3 + 2.333/3) = 1.05: beyond two standard errors
    d, se = expect([90, 91, 92], [80, 81, 83])
    codes = rows[("DIMCO codes d=64 k=16", "5-way 1-shot")]
    assert codes == ["91.0", "81.3", f"{d:+.1f} ± {se:.1f}", "beats"]
    # ProtoNet: 95.0 vs 95.0, no difference: level
    d, se = expect([95, 96, 94], [95, 93, 97])
    assert rows[("ProtoNet `y` float32 (64-d)", "5-way 1-shot")] == ["95.0", "95.0", f"{d:+.1f} ± {se:.1f}",
                                                                     "level"]
    assert rows[("DIMCO codes d=64 k=16", "mAP")][3] == "beats"
    assert len(rows) == 4  # 2 representations x 2 metrics


def test_without_baseline_no_extra_table(tmp_path, monkeypatch, seeds) -> None:
    new = [_write(tmp_path / f"new{i}.csv", 0.9 + i / 100, 0.95) for i in range(3)]
    monkeypatch.setattr(sys, "argv", ["seeds.py", *map(str, new), "--name", "t", "--out", str(tmp_path)])
    seeds.main()
    assert "Against" not in (tmp_path / "seeds-t.md").read_text()


def _write_two_codes_rows(path: Path, shift0: float, neighbour: float) -> Path:
    """An ablation csv: two DIMCO rows at 256 bits (as compare.py writes with two --dimco runs)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for label, v in (("DIMCO codes, shift 0", shift0), ("DIMCO codes, neighbour W 30", neighbour)):
            w.writerow({"representation": label, "bits": "256.0", "bytes": "32", "5-way 1-shot": v, "mAP": v})
        w.writerow({"representation": "ProtoNet `y` float32 (64-d)", "bits": "2048", "bytes": "256",
                    "5-way 1-shot": 0.5, "mAP": 0.5})
    return path


def test_several_codes_rows_need_a_label(tmp_path, monkeypatch, seeds) -> None:
    paths = [_write_two_codes_rows(tmp_path / f"s{i}.csv", 0.30 + i / 100, 0.60 + i / 100) for i in range(3)]
    monkeypatch.setattr(sys, "argv", ["seeds.py", *map(str, paths), "--name", "t", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="2 DIMCO rows at 256 bits .*'DIMCO codes, shift 0'.*--codes-label"):
        seeds.main()
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--codes-label", "DIMCO codes, neighbour W 30"])
    seeds.main()
    rows = [line.split("|") for line in (tmp_path / "seeds-t.md").read_text().splitlines()]
    codes = next(r for r in rows if len(r) > 3 and r[1].strip() == "DIMCO codes, neighbour W 30")
    assert codes[3].strip() == "61.0 ± 0.6"  # 60, 61, 62: sd 1, se 1 / sqrt(3); the shift-0 row: 31.0
    monkeypatch.setattr(sys, "argv", [*sys.argv[:-1], "DIMCO codes, W 3"])
    with pytest.raises(SystemExit, match="no DIMCO row labelled 'DIMCO codes, W 3'"):
        seeds.main()
