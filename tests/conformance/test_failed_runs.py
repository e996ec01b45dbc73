"""A failed ``infomax train`` never leaves a half-written run directory that blocks the next attempt.

Before the first checkpointed training step any failure (a user error, or a crash such as a bound called
without its arguments) removes what the run wrote, so the same command with the same ``--out`` runs again;
after it the checkpoint is kept, and the error says how to finish the run with ``--resume`` (an interrupt
also keeps the run for ``--resume``: ``tests/cli/test_signals_cli.py``).
In-process with the toy method and toy data (``tests/engine/engine_toy.py``).
"""

from __future__ import annotations

import importlib

import pytest

from infomax.cli import main
from infomax.errors import UserError

FAST = ["--set", "batch_size=16", "--set", "limit_train_batches=2", "--max-epochs", "1", "--threads", "1"]


def _once(monkeypatch, owner: object, attr: str, error: BaseException) -> None:
    """Make ``owner.attr`` (a module (or its name)'s function, a class's method) fail once, with ``error``."""
    if isinstance(owner, str):
        owner = importlib.import_module(owner)
    original = getattr(owner, attr)
    calls = []

    def fail_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, attr, fail_once)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infomax:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("target", [
    "_tensor_dataset",  # after config.json and the initial checkpoint are written
    "_trainer",  # as training starts
], ids=["data", "trainer"])
def test_a_user_error_before_the_first_step_leaves_nothing_and_the_same_command_then_succeeds(
        toy, tmp_path, capsys, monkeypatch, target):
    out = tmp_path / "run"
    argv = ["train", "toy", *FAST, "--no-baselines", "--out", str(out)]
    _once(monkeypatch, "infomax.engine.fit", target, UserError("the disk is full"))
    assert main(argv) == 2
    assert _error_line(capsys) == "infomax: error: the disk is full"
    assert not out.exists()
    assert main(argv) == 0
    assert (out / "report.md").is_file()


def test_a_crash_at_the_first_step_leaves_nothing_either(toy, tmp_path, capsys, monkeypatch):
    """E.g. a bound called without an argument it needs (``bound=tuba`` on multiview, before it was refused).
    Lightning turns an interrupt into ``sys.exit(1)`` and then ignores SIGINT, so none is sent here."""
    out = tmp_path / "run"
    argv = ["train", "toy", *FAST, "--no-baselines", "--out", str(out)]
    _once(monkeypatch, toy.Toy, "forward", TypeError("bound() missing 1 required positional argument"))
    with pytest.raises(TypeError):
        main(argv)
    assert not out.exists()
    assert main(argv) == 0


def test_an_existing_empty_out_dir_is_kept_empty_after_a_failure(toy, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    _once(monkeypatch, "infomax.engine.fit", "_tensor_dataset", UserError("no"))
    assert main(["train", "toy", *FAST, "--no-baselines", "--out", str(out)]) == 2
    assert out.is_dir() and not any(out.iterdir())


def test_a_failure_after_training_keeps_the_run_and_says_how_to_finish_it(toy, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _once(monkeypatch, "infomax.engine.evaluate", "final_linear_probe", UserError("no memory left"))
    assert main(["train", "toy", *FAST, "--no-baselines", "--out", str(out)]) == 2
    line = _error_line(capsys)
    assert line == (f"infomax: error: no memory left (the training so far is kept in {out}: fix "
                    f"the cause, then finish the run with `infomax train --resume {out}`)")
    assert (out / "checkpoints" / "last.pt").is_file() and not (out / "report.md").exists()
    assert main(["train", "--resume", str(out), "--no-baselines"]) == 0
    assert (out / "report.md").is_file()
