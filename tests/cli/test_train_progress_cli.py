"""`infomax train` shows its epoch bar as `eval` and `generate` show theirs: on a terminal, or when
INFOMAX_PROGRESS=1; never with --no-progress (a log file gets no bar redrawn hundreds of times)."""

from __future__ import annotations

import pytest

from infomax.cli import main

FAST = ["--set", "batch_size=16", "--no-baselines", "--max-epochs", "1"]


@pytest.mark.parametrize("env, flag, shown", [
    (None, [], False),  # stderr is not a terminal here
    ("1", [], True),
    ("1", ["--no-progress"], False),  # the flag beats the environment
], ids=["not-a-terminal", "forced-on", "flag-off"])
def test_train_epoch_bar(toy, tmp_path, capsys, monkeypatch, env, flag, shown):
    if env is None:
        monkeypatch.delenv("INFOMAX_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("INFOMAX_PROGRESS", env)
    assert main(["train", "toy", *FAST, *flag, "--out", str(tmp_path / "run")]) == 0
    assert ("epoch 1/1" in capsys.readouterr().err) is shown
