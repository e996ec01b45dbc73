"""`infomax generate`: user errors exit 2 with one line (the stage itself is tested in tests/generative)."""

from __future__ import annotations

import pytest

from infomax.cli import main


def test_generate_on_a_non_run_exits_2(tmp_path, capsys):
    assert main(["generate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run directory" in err[0]


@pytest.mark.parametrize("flag", [["--steps", "0"], ["--n-samples", "0"], ["--eta", "-1"]])
def test_generate_bad_values_exit_2(tmp_path, capsys, flag):
    assert main(["generate", str(tmp_path), *flag]) == 2
    assert "infomax: error:" in capsys.readouterr().err
