"""benchmarks/dim/budget_table.py: merging the budget-probe CSVs into issue 3's summary table."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "dim"
HEADER = "data,budget_min,encoder,steps,train_s,images_per_s,acc_fc,probe_s,status\n"


@pytest.fixture
def bt(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("budget_table", "common"):
        sys.modules.pop(name, None)
    yield importlib.import_module("budget_table")
    for name in ("budget_table", "common"):
        sys.modules.pop(name, None)


def _csv(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"{x}\n" for x in lines))
    return path


def test_diff_se_is_the_binomial_errors_in_quadrature(bt: ModuleType) -> None:
    # sqrt((0.9 * 0.1 + 0.8 * 0.2) / 100) = sqrt(0.0025) = 0.05 -> 5 points
    assert bt.diff_se(0.9, 0.8, 100) == pytest.approx(5.0)


@pytest.mark.parametrize(("text", "want"), [("0.6265", "62.7"), ("0.64", "64.0"), ("0.88885", "88.9")])
def test_pct_rounds_half_up(bt: ModuleType, text: str, want: str) -> None:
    assert bt.pct(text) == want


def test_summary_merges_files_and_judges_against_two_standard_errors(bt: ModuleType, tmp_path: Path) -> None:
    a = _csv(tmp_path / "budget_probe-x-10min.csv", [
        "toy,10.0,dim-l-noprior,100,600,10,0.70,1,ok", "toy,10.0,dim-g-noprior,90,600,10,0.50,1,ok",
        "toy,10.0,simclr-lightly,9,600,5,0.69,1,ok", "toy,0,random,0,,,0.40,1,ok"])
    b = _csv(tmp_path / "budget_probe-x-30min.csv", [
        "toy,30.0,dim-l-noprior,300,1800,10,0.60,1,ok",
        "toy,30.0,simclr-lightly,30,1800,5,0.80,1,ok",
        "toy,10.0,dim-g-noprior,95,600,10,0.55,1,ok"])  # a re-run of the 10-min DIM(G) row: later wins
    out = tmp_path / "summary"
    assert bt.main(["--inputs", str(a), str(b), "--out", str(out)]) == 0
    md = (out.with_suffix(".md")).read_text()
    assert "| toy | random (untrained) | 40.0 |  | 40.0 |  |" in md
    assert "| toy | DIM(L) `dim-l-noprior` | 70.0 | 100 | 60.0 | 300 |" in md
    assert "| toy | DIM(G) `dim-g-noprior` | 55.0 | 95 |  |  |" in md
    # n = 10,000: DIM(L) - DIM(G) = 15 points (s.e. 0.7); - SimCLR = 1 point (s.e. 0.65, within 2 s.e.)
    assert "toy, 10 min: DIM(L) vs dim-g-noprior: +15.0 points (s.e. 0.7), above; " \
           "DIM(L) vs simclr-lightly: +1.0 points (s.e. 0.7), within 2 s.e. of test-set noise" in md
    assert "toy, 30 min: DIM(L) vs dim-g-noprior: not measured; DIM(L) vs simclr-lightly: -20.0 points" in md
    assert ", below; DIM(L) vs random: +20.0 points" in md
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.parametrize(("preset", "label", "name"), [
    ("dim-l-cosine", "DIM(L), cosine lr `dim-l-cosine`", "DIM(L) cosine"),
    ("dim-l-cross", "DIM(L), two augmented views `dim-l-cross`", "DIM(L) cross-view"),
])
def test_a_dim_l_variant_gets_its_own_row_and_verdicts(
    bt: ModuleType, tmp_path: Path, preset: str, label: str, name: str
) -> None:
    a = _csv(tmp_path / "budget_probe-x-10min.csv", [
        "toy,10.0,dim-l-noprior,100,600,10,0.70,1,ok", "toy,10.0,simclr-lightly,9,600,5,0.69,1,ok",
        "toy,0,random,0,,,0.40,1,ok"])
    b = _csv(tmp_path / "budget_probe-x-10min-variant.csv", [f"toy,10.0,{preset},100,600,10,0.75,1,ok"])
    out = tmp_path / "summary"
    assert bt.main(["--inputs", str(a), str(b), "--out", str(out), "--budgets", "10"]) == 0
    md = (out.with_suffix(".md")).read_text()
    assert "| toy | DIM(L) `dim-l-noprior` | 70.0 | 100 |" in md
    assert f"| toy | {label} | 75.0 | 100 |" in md
    # 0.75 - 0.69 = 6 points; s.e. sqrt((0.75 * 0.25 + 0.69 * 0.31) / 1e4) = 0.63
    assert f"toy, 10 min: {name} vs dim-g-noprior: not measured; " \
           f"{name} vs simclr-lightly: +6.0 points (s.e. 0.6), above" in md
    assert "toy, 10 min: DIM(L) vs dim-g-noprior: not measured; DIM(L) vs simclr-lightly: +1.0 points" in md


def test_missing_input_is_exit_code_2(bt: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert bt.main(["--inputs", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s")]) == 2
    assert "no budget_probe table" in capsys.readouterr().err
