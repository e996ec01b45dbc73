"""`infomax train`, in-process via infomax.cli.main with the toy method and toy data."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from infomax.cli import main

TOY_DIR = Path(__file__).parents[1] / "engine"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    toy = importlib.import_module("engine_toy").register(monkeypatch)
    monkeypatch.setattr("infomax.cli.train.load_splits", lambda cfg: toy.toy_splits())
    return toy


FAST = ["--set", "batch_size=16", "--set", "limit_train_batches=2", "--max-epochs", "1"]


def test_train_json_prints_one_object_and_writes_the_run(toy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON object
    assert res["run_dir"] == str(out)
    assert res["train"]["epochs_completed"] == 1 and res["train"]["steps"] == 2
    assert set(res["final"]["accuracy"]) == {"conv", "y"}
    assert set(res["final"]["accuracy"]["y"]) == {"trained", "random", "supervised"}
    assert json.loads((out / "metrics.json").read_text()) == {k: v for k, v in res.items() if k != "run_dir"}
    assert (out / "baselines/supervised/model.safetensors").is_file()
    assert "linear probe" in (out / "report.md").read_text().lower()


def test_train_prints_a_summary_table(toy, tmp_path, capsys):
    assert main(["train", "toy", *FAST, "--out", str(tmp_path / "r"), "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert f"run: {tmp_path / 'r'}" in out and "linear probe, test accuracy (%)" in out
    assert "trained" in out and "random" not in out  # --no-baselines
    # the default final probe: all 96 toy train images (< 10000), the default C values, val and test whole
    note = "(fit on all 96 train images, C in {0.01, 0.1} chosen on 20 val images, scored on 40 test images)"
    assert note in out


def test_final_probe_sample_size_is_a_setting_and_is_reported(toy, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "toy", *FAST, "--set", "final_probe_samples=40", "--set", "final_probe_cs=0.5",
                 "--out", str(out), "--no-baselines", "--json"]) == 0
    final = json.loads(capsys.readouterr().out)["final"]
    assert (final["n_train"], final["n_train_available"], final["cs"]) == (40, 96, [0.5])
    assert "fit on 40 of 96 train images (stratified sample, fixed seed)" in (out / "report.md").read_text()
    assert not (tmp_path / "r" / "baselines").exists()


def test_preset_overrides_data_flag_and_default_out_dir(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "toy-fast", *FAST, "--data", "mnist", "--no-baselines", "--json"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out)["run_dir"])
    assert run_dir.parent == Path("runs") and run_dir.name.startswith("toy-fast-")
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["method"] == "toy" and cfg["preset"] == "toy-fast"
    assert cfg["method_config"]["y_dim"] == 4  # the preset's override
    train = cfg["train"]
    assert train["data"] == "mnist" and train["batch_size"] == 16 and train["max_epochs"] == 1


def test_set_seed_seeds_everything(toy, tmp_path):
    def weights(name, seed):
        assert main(["train", "toy", *FAST, "--set", f"seed={seed}", "--out", str(tmp_path / name),
                     "--no-baselines"]) == 0
        return load_file(str(tmp_path / name / "model.safetensors"))

    a, b, c = weights("a", 1), weights("b", 1), weights("c", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["w.weight"], c["w.weight"])


def test_resume_continues_a_run(toy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--out", str(out), "--no-baselines"]) == 0
    assert main(["train", "--resume", str(out), "--max-epochs", "2", "--no-baselines", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["train"]["epochs_completed"] == 2 and res["train"]["steps"] == 4
    assert json.loads((out / "config.json").read_text())["train"]["max_epochs"] == 2


def _fails(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("infomax:")]  # (progress bars aside)
    assert len(errors) == 1 and errors[0].startswith("infomax: error:") and match in errors[0], err
    assert "Traceback" not in err and err.rstrip().endswith(errors[0])


@pytest.mark.parametrize("argv, match", [
    (["train", "nope"], "unknown method or preset 'nope'"),
    (["train", "toy", "--set", "lr=abc"], "bad value 'abc' for 'lr'"),
    (["train", "toy", "--set", "lr=-1"], "lr must be a positive"),
    (["train", "toy", "--set", "wat=1"], "unknown setting 'wat'"),
    (["train", "toy", "--set", "lr"], "--set expects key=value"),
    (["train", "toy", "--max-epochs", "0"], "max_epochs must be >= 1"),
    (["train"], "name a method or preset"),
    (["train", "toy", "--threads", "0"], "--threads must be >= 1"),
], ids=["unknown-preset", "non-numeric", "out-of-range", "unknown-key", "no-equals", "epochs", "no-name",
        "threads"])
def test_user_errors_exit_2_with_one_line(toy, tmp_path, capsys, argv, match):
    _fails([*argv, "--out", str(tmp_path / "x")], capsys, match)
    assert not (tmp_path / "x").exists()


def test_existing_out_dir_is_refused_and_kept(toy, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    _fails(["train", "toy", *FAST, "--out", str(out)], capsys, "already exists and is not empty")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_resume_errors(toy, tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    _fails(["train", "--resume", str(tmp_path / "plain")], capsys, "not a run directory")
    _fails(["train", "--resume", str(tmp_path / "missing")], capsys, "does not exist")
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--out", str(out), "--no-baselines"]) == 0
    capsys.readouterr()
    _fails(["train", "--resume", str(out), "--set", "lr=1"], capsys, "saved settings")
    _fails(["train", "toy-fast", "--resume", str(out)], capsys, "is a run of 'toy', not 'toy-fast'")


def test_divergence_exits_2_naming_the_checkpoint(toy, tmp_path, capsys):
    out = tmp_path / "run"
    _fails(["train", "toy", *FAST, "--set", "nan_at_call=2", "--out", str(out)], capsys, "training diverged")
    assert not (out / "model.safetensors").exists() and (out / "checkpoints/last.pt").is_file()
