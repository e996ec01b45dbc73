"""benchmarks/dim/loss_curves.py: a run's logged losses over restarts, the summary row, exit code 2."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "dim"


@pytest.fixture
def lc(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("loss_curves", "common"):
        sys.modules.pop(name, None)
    yield importlib.import_module("loss_curves")
    for name in ("loss_curves", "common"):
        sys.modules.pop(name, None)


def _log(run: Path, version: int, rows: list[tuple[int, str]]) -> None:
    d = run / "logs" / f"version_{version}"
    d.mkdir(parents=True)
    # as Lightning's CSV logger writes it: epoch rows without a step loss are interleaved
    text = "epoch,epoch/loss,loss,step\n" + "".join(f"0,,{loss},{step}\n" for step, loss in rows)
    (d / "metrics.csv").write_text(text + "0,-0.5,,99\n")


def test_restarts_are_joined_in_step_order_and_a_blow_up_is_flagged(lc: ModuleType, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _log(run, 0, [(1, "0.2"), (2, "-0.1"), (3, "-0.3")])
    _log(run, 1, [(4, "-0.4"), (5, "250.0")])  # resumed, then blew up: 250 > 100 x max(1, median |loss|)
    assert lc.read_losses(run) == [(1, 0.2), (2, -0.1), (3, -0.3), (4, -0.4), (5, 250.0)]
    row = lc.summarize("run", lc.read_losses(run))
    # 25 / 50 / 75% of the 5 logged steps: indices int(q * 4) = 1, 2, 3
    assert (row["first"], row["25%"], row["50%"], row["75%"], row["end"]) == (0.2, -0.1, -0.3, -0.4, 250.0)
    assert (row["min"], row["max"], row["blew up"], row["last step"]) == (-0.4, 250.0, "yes", 5)
    assert lc.summarize("ok", [(1, 0.2), (2, -0.9), (3, -1.5)])["blew up"] == "no"


def test_main_writes_table_and_plot_and_refuses_a_missing_run(lc: ModuleType, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    _log(tmp_path / "a", 0, [(1, "0.1"), (2, "-0.2")])
    assert lc.main([str(tmp_path / "a"), "--out", str(tmp_path / "out")]) == 0
    assert "| a | 2 | 0.1 |" in (tmp_path / "out.md").read_text()
    assert (tmp_path / "out.png").stat().st_size > 0
    assert lc.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]) == 2
    assert "not a directory" in capsys.readouterr().err
