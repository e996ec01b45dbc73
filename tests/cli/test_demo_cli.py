"""`infomax demo` end to end with the real DIM method, digits and probes (tiny budget), and its verdict."""

from __future__ import annotations

import json

import pytest

from infomax.cli import main
from infomax.cli.demo import DEMO_SETTINGS, verdict


def test_verdict_calls_each_difference_against_the_noise_level():
    metrics = {
        "final": {"n_test": 297, "accuracy": {"conv": {"trained": 0.9800, "random": 0.9731},
                                               "y": {"trained": 0.9100, "random": 0.9394}}},
        "final_knn": {"accuracy": {"conv": {"trained": 0.9899, "random": 0.9663},
                                   "y": {"trained": 0.9394, "random": 0.9394}}},
    }
    assert verdict(metrics, noise=1.5) == [
        "DIM vs the untrained encoder (297 test images; differences under 1.5 points are within noise):",
        "  conv    linear +0.69 (within noise), kNN +2.36 (DIM better)",
        "  y       linear -2.94 (DIM worse), kNN +0.00 (within noise)",
    ]
    assert verdict({"final": {"accuracy": {"y": {"trained": 0.9}}}}) == []  # no baseline: nothing to say


@pytest.mark.slow
def test_demo_trains_dim_on_digits_and_compares_with_baselines(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--set", "max_epochs=1", "--set", "limit_train_batches=3", "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "dim" and cfg["train"]["data"] == "digits"
    assert cfg["train"]["max_minutes"] == DEMO_SETTINGS["max_minutes"] and cfg["train"]["lr"] == 1e-4
    for key in ("final", "final_knn"):
        acc = res[key]["accuracy"]
        assert set(acc) == {"conv", "fc", "y"}
        for layer in acc.values():
            assert set(layer) == {"trained", "random", "supervised"}
            assert all(0.1 < a <= 1.0 for a in layer.values())  # 10 classes: far above chance
    assert (res["final"]["n_train"], res["final"]["n_val"], res["final"]["n_test"]) == (1350, 150, 297)
    assert (out / "plots/probe.png").is_file() and (out / "baselines/supervised/model.safetensors").is_file()


@pytest.mark.slow
def test_demo_prints_the_comparison(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "d"), "--set", "max_epochs=1", "--set", "limit_train_batches=2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "linear probe, test accuracy (%)" in out and "kNN probe (k=20, cosine), test accuracy (%)" in out
    assert "supervised" in out and "random" in out
    assert "DIM vs the untrained encoder (297 test images" in out and "  fc      linear " in out
