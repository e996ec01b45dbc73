"""Conformance in a real process (``python -m infomax``), as a user's shell runs it: exit codes, one-line
errors on stderr, files written. The in-process suite (``test_presets.py``) covers every preset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _infomax(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "infomax", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_default_preset_trains_with_baselines_and_evaluates(tmp_path):
    out = tmp_path / "run"
    res = _infomax("train", "dim-l", "--max-epochs", "1", "--set", "limit_train_batches=2", "--set",
                   "max_items=200", "--set", "final_probe_samples=60", "--set", "final_probe_cs=0.1",
                   "--threads", "1", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (out / "report.md").is_file() and (out / "plots" / "probe.png").is_file()
    assert "supervised" in res.stdout and "random" in res.stdout  # the baselines' columns
    res = _infomax("eval", str(out), "--protocol", "knn", "--layer", "y", "--threads", "1", cwd=tmp_path)
    assert res.returncode == 0 and "protocol: knn" in res.stdout, res.stderr[-3000:]


@pytest.mark.parametrize("args, line", [
    pytest.param(["train", "dim", "--max-minutes", "nan"],
                 "infomax: error: --max-minutes must be a finite number > 0, got nan", id="max-minutes-nan"),
    pytest.param(["train", "multiview", "--set", "bound=tuba"],
                 "infomax: error: unknown bound 'tuba' for multiview; choose one of: infonce, nwj, dv, "
                 "smile, jsd",
                 id="multiview-tuba", marks=pytest.mark.slow),  # in-process: test_options.py
])
def test_user_errors_are_one_line_on_stderr_and_exit_2(tmp_path, args, line):
    res = _infomax(*args, "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.strip().splitlines()[-1] == line and "Traceback" not in res.stderr
    assert not (tmp_path / "x").exists() and res.stdout == ""
