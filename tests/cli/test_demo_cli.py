"""`infomax demo` end to end with the real DIM method, digits and linear probes (tiny budget)."""

from __future__ import annotations

import json

import pytest

from infomax.cli import main


@pytest.mark.slow
def test_demo_trains_dim_on_digits_and_compares_with_baselines(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--set", "max_epochs=1", "--set", "limit_train_batches=3", "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "dim" and cfg["train"]["data"] == "digits" and cfg["train"]["max_minutes"] == 1.2
    acc = res["final"]["accuracy"]
    assert set(acc) == {"conv", "fc", "y"}
    for layer in acc.values():
        assert set(layer) == {"trained", "random", "supervised"}
        assert all(0.1 < a <= 1.0 for a in layer.values())  # 10 classes: far above chance
    assert (out / "plots/probe.png").is_file() and (out / "baselines/supervised/model.safetensors").is_file()


@pytest.mark.slow
def test_demo_prints_the_comparison(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "d"), "--set", "max_epochs=1", "--set", "limit_train_batches=2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "linear probe, test accuracy (%)" in out and "supervised" in out and "random" in out
