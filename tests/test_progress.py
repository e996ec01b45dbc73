"""``infomax.progress``: who decides whether bars and notes show, and that they only ever touch stderr."""

from __future__ import annotations

import io

import pytest

from infomax import progress
from infomax.progress import bar, format_seconds, note, progress_enabled, progress_scope


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("tty", "env", "scope", "arg", "shown"), [
    (True, None, None, None, True),  # a terminal: shown
    (False, None, None, None, False),  # redirected / captured: quiet
    (False, "1", None, None, True),  # INFOMAX_PROGRESS=1 forces it on
    (True, "0", None, None, False),  # ... =0 off
    (True, "yes", None, None, True),  # anything else: as without it
    (True, "1", False, None, False),  # --no-progress (a scope) beats the environment
    (False, None, True, None, True),
    (False, "0", None, True, True),  # an explicit argument beats everything
    (True, None, True, False, False),
])
def test_who_decides(monkeypatch, tty, env, scope, arg, shown):
    monkeypatch.setattr("sys.stderr", _Stream(tty))
    if env is None:
        monkeypatch.delenv(progress.ENV, raising=False)
    else:
        monkeypatch.setenv(progress.ENV, env)
    with progress_scope(scope):
        assert progress_enabled(arg) is shown
    assert progress_enabled() is (tty if env not in ("0", "1") else env == "1")  # the scope is left


def test_bars_and_notes_write_to_stderr_only(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "1")
    with bar(total=3, desc="linear probe fc: C=0.1", unit="fit") as b:
        b.update(3)
    note("eval linear on fc")
    out, err = capsys.readouterr()
    assert out == "" and "linear probe fc: C=0.1" in err and "/3 [" in err and "eval linear on fc\n" in err
    with progress_scope(False):
        for _ in bar(range(3), desc="hidden"):
            pass
        note("hidden")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (44.6, "45 s"), (59.4, "59 s"), (60, "1 min 00 s"), (200, "3 min 20 s"),
    (3599, "59 min 59 s"), (3600, "1 h 00 min"), (3725, "1 h 02 min"), (-3, "0 s"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text
