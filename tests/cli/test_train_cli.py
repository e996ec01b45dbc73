"""`infomax train`, in-process via infomax.cli.main with the toy method and toy data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from infomax.cli import main

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
    (["train", "toy", "--max-epochs", "0"], "--max-epochs must be >= 1, got 0"),
    (["train"], "name a method or preset"),
    (["train", "toy", "--threads", "0"], "--threads must be >= 1"),
    (["train", "toy", "--set", "limit_train_batches=0"], "limit_train_batches must be >= 1"),
    (["train", "toy", "--max-minutes", "0"], "--max-minutes must be a finite number > 0, got 0"),
    (["train", "toy", "--max-minutes", "nan"], "--max-minutes must be a finite number > 0, got nan"),
    (["train", "toy", "--max-minutes", "inf"], "--max-minutes must be a finite number > 0, got inf"),
    (["train", "toy", "--max-epochs", "-2"], "--max-epochs must be >= 1, got -2"),
    (["train", "toy", "--set", "max_minutes=nan"],
     "bad value 'nan' for 'max_minutes': expected a finite number or none"),
    (["train", "toy", "--set", "lr=inf"], "bad value 'inf' for 'lr': expected a finite number"),
    (["train", "toy", "--set", "max_items=1"], "max_items must be >= 2"),
    (["train", "toy", "--set", "val_fraction=1.5"], "val_fraction must be in [0, 1)"),
], ids=["unknown-preset", "non-numeric", "out-of-range", "unknown-key", "no-equals", "epochs", "no-name",
        "threads", "limit-batches-0", "max-minutes-0", "max-minutes-nan", "max-minutes-inf",
        "epochs-negative", "set-max-minutes-nan", "set-lr-inf", "max-items-1", "val-fraction"])
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


def test_resume_accepts_evaluation_settings_and_evaluates_again(toy, tmp_path, capsys):
    """`--resume RUN --set final_probe_cs=0.5` on a complete run keeps its training and weights and redoes
    the final evaluation with the new setting; a training setting is still refused."""
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--out", str(out), "--no-baselines"]) == 0
    weights = load_file(out / "model.safetensors")
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "final_probe_cs=0.5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["final"]["cs"] == [0.5] and res["train"]["steps"] == 2
    again = load_file(out / "model.safetensors")  # exported again: same tensors (key order may differ)
    assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in weights)
    assert json.loads((out / "config.json").read_text())["train"]["final_probe_cs"] == [0.5]
    _fails(["train", "--resume", str(out), "--set", "final_probe_cs=0.5", "--set", "batch_size=8"], capsys,
           "--set batch_size cannot be given")


def test_divergence_exits_2_naming_the_checkpoint(toy, tmp_path, capsys):
    out = tmp_path / "run"
    _fails(["train", "toy", *FAST, "--set", "nan_at_call=2", "--out", str(out)], capsys, "training diverged")
    assert not (out / "model.safetensors").exists() and (out / "checkpoints/last.pt").is_file()


def _files(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_resuming_a_complete_run_says_so_and_changes_no_file(toy, tmp_path, capsys, as_json):
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--out", str(out), "--no-baselines"]) == 0
    capsys.readouterr()
    before = _files(out)
    assert main(["train", "--resume", str(out), *(["--json"] if as_json else [])]) == 0
    captured = capsys.readouterr()
    line = (f"run {out} is already complete (1 epochs, 2 steps, stopped by max_epochs); nothing was changed. "
            f"To train longer: infomax train --resume {out} --max-epochs N (N > 1); to evaluate again: "
            f"infomax eval {out}")
    if as_json:  # stdout: the stored metrics as one JSON object; the line on stderr
        res = json.loads(captured.out)
        assert res == {"run_dir": str(out), **json.loads((out / "metrics.json").read_text())}
        assert captured.err.strip() == line
    else:
        assert captured.out.strip() == line
    assert _files(out) == before  # metrics.json, report.md, weights, checkpoints: same bytes, same mtimes


def test_resume_reuses_no_baselines_and_threads_given_at_the_start(toy, tmp_path, capsys, monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--out", str(out), "--no-baselines", "--threads", "3"]) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["baselines"], train["threads"]) == (False, 3)
    threads.clear()
    assert main(["train", "--resume", str(out), "--max-epochs", "2", "--json"]) == 0  # neither flag again
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["train"]["epochs_completed"] == 2
    assert set(res["final"]["accuracy"]["y"]) == {"trained"} and not (out / "baselines").exists()
    assert threads and set(threads) == {3}
    # --threads given again on resume wins, and is stored
    threads.clear()
    assert main(["train", "--resume", str(out), "--max-epochs", "3", "--threads", "2", "--json"]) == 0
    assert threads and set(threads) == {2}
    assert json.loads((out / "config.json").read_text())["train"]["threads"] == 2


def test_too_small_folder_dataset_fails_in_one_line_and_leaves_no_run_dir(tmp_path, capsys, monkeypatch):
    """The QA case: a folder dataset of 2 images (1 goes to the test split) used to crash in batch norm
    with a traceback and leave a half-made run directory."""
    import numpy as np
    from PIL import Image

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INFOMAX_CACHE", raising=False)
    (tmp_path / "tiny/a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / f"tiny/a/{i}.png")
    out = tmp_path / "run"
    _fails(["train", "dim", "--data", f"folder:{tmp_path / 'tiny'}", "--max-epochs", "1", "--out", str(out)],
           capsys, "has 1 training item (besides 0 validation items, val_fraction=0.1, and 1 test items); "
                   "training needs at least batch_size=64")
    assert not out.exists()


def test_method_checks_against_train_settings_run_before_data_is_loaded(toy, tmp_path, capsys, monkeypatch):
    def no_data(cfg):
        raise AssertionError("the data must not be loaded for a run that cannot start")

    monkeypatch.setattr("infomax.experiment.load_splits", no_data)
    _fails(["train", "moco", "--set", "queue_size=100", "--out", str(tmp_path / "run")], capsys,
           "the MoCo queue size (100) must be a multiple of the batch size (64)")
    assert not (tmp_path / "run").exists()


def test_budget_stop_reports_the_final_evaluation_time_apart(toy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--set", "max_minutes=1e-9", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("trained 0 epochs (1 steps") and lines[1].endswith("stopped by max_minutes")
    ev = json.loads((out / "metrics.json").read_text())["final_evaluation"]
    assert ev["budget_seconds"] == pytest.approx(30e-9)  # half of max_minutes, in seconds
    assert lines[2] == ("training stopped at the --max-minutes budget; the final evaluation took "
                        f"{ev['seconds']:.1f} s after it (supervised baseline "
                        f"{ev['baselines_seconds']:.1f} s, probes {ev['probes_seconds']:.1f} s, cap "
                        f"{ev['budget_seconds'] / 60:.3g} min)")


def test_help_says_the_evaluation_gets_half_the_budget(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "gets at most half of it again" in " ".join(capsys.readouterr().out.split())


def test_verdict_uses_twice_the_test_standard_error_and_fits_long_layer_names():
    """Default rule: |diff| >= 2 sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n). At n = 297: 0.96 vs 0.92 gives a
    limit of 2 * sqrt((0.0384 + 0.0736) / 297) = 3.88 points, so +4.00 is real; 0.93 vs 0.95 (limit 3.89)
    is within noise. A layer name of 8 or more characters keeps a space before the probe."""
    from infomax.cli.train import verdict

    m = {"final": {"n_test": 297, "accuracy": {"y": {"trained": 0.96, "random": 0.92},
                                               "logprobs": {"trained": 0.93, "random": 0.95}}}}
    assert verdict(m, name="dimco") == [
        "dimco vs the untrained encoder (297 test images; differences under two standard errors of the test "
        "set are within noise):",
        "  y        linear +4.00 (dimco better)",
        "  logprobs linear -2.00 (within noise)",
    ]
