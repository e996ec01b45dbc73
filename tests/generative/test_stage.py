"""The DDIM stage: refused before a representation exists, resumes after a kill, samples decoded to PNG."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file

from infomax.config import TrainConfig
from infomax.data.datasets import load_dataset
from infomax.engine.checkpoint import load_checkpoint
from infomax.engine.fit import build_method, fit
from infomax.errors import UserError
from infomax.generative import method as ddim_method
from infomax.generative.stage import generate, sample_grid, train_ddim_stage
from infomax.methods import hybrid

STAGE = {"max_epochs": 2, "base": 8, "timesteps": 20, "limit_train_batches": 3, "batch_size": 32,
         "stats_items": 64}


@pytest.fixture(scope="module")
def rep_run(tmp_path_factory):
    """A tiny trained hybrid run on digits (8x8 -> z 2x4x4)."""
    run_dir = tmp_path_factory.mktemp("rep") / "run"
    splits = load_dataset("digits")
    cfg = hybrid.Config(queue_size=32, proj_hidden=16, proj_dim=8, hidden=4)
    tc = TrainConfig(method="hybrid", max_epochs=1, batch_size=32, limit_train_batches=2)
    fit(build_method("hybrid", cfg, splits.info, 0), splits, tc, run_dir, "hybrid", cfg, progress=False)
    return run_dir


def test_stage_before_a_representation_is_a_user_error(tmp_path, rep_run):
    with pytest.raises(UserError, match="train the representation first"):
        train_ddim_stage(tmp_path / "nothing")
    half = tmp_path / "half"
    shutil.copytree(rep_run, half)
    (half / "model.safetensors").unlink()  # a representation run that has not finished
    with pytest.raises(UserError, match="needs a trained representation"):
        train_ddim_stage(half)
    from infomax.cli import main as cli

    assert cli(["generate", str(half), "--no-progress"]) == 2


class _Killed(Exception):
    pass


def test_killed_stage_resumes_to_identical_weights(tmp_path, rep_run, monkeypatch):
    ref, run = tmp_path / "ref", tmp_path / "run"
    shutil.copytree(rep_run, ref)
    shutil.copytree(rep_run, run)
    train_ddim_stage(ref, STAGE, progress=False)
    forward, calls = ddim_method.LatentDDIM.forward, {"n": 0}

    def dying(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Killed
        return forward(self, batch)

    monkeypatch.setattr(ddim_method.LatentDDIM, "forward", dying)
    with pytest.raises(_Killed):
        train_ddim_stage(run, STAGE, progress=False)
    monkeypatch.setattr(ddim_method.LatentDDIM, "forward", forward)
    assert load_checkpoint(run / "ddim/checkpoints/last.pt")["epoch"] == 1
    with pytest.raises(UserError, match="only max_epochs"):
        train_ddim_stage(run, {"base": 16}, progress=False)
    metrics = train_ddim_stage(run, {}, progress=False)  # continue with the saved settings
    assert metrics["train"]["epochs_completed"] == 2
    a, b = load_file(str(ref / "ddim/model.safetensors")), load_file(str(run / "ddim/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the frozen encoder did not move, batch-norm statistics included
    rep = load_file(str(rep_run / "encoder.safetensors"))
    for k, v in rep.items():
        assert torch.equal(a[f"encoder.{k}"], v), k
    # samples: deterministic (eta = 0, seeded z_T), images in [0, 1], written as a grid
    s1, s2 = generate(run, 6, steps=20), generate(run, 6, steps=20)
    assert s1.shape == (6, 1, 8, 8) and torch.equal(s1, s2) and 0 <= float(s1.min()) <= float(s1.max()) <= 1
    assert sample_grid(run, n=8, steps=5).is_file()


@pytest.mark.slow  # ~8 s of CPU (Inception at 299 px, twice); FID itself: tests/evaluation/test_fid.py
def test_generate_cli_reports_fid_with_local_weights(tmp_path, rep_run, capsys):
    """`infomax generate --inception-weights` trains the stage, samples, and reports the FID that
    :func:`infomax.evaluation.fid.fid` gives on the same images (seeded random Inception weights here:
    the real file is not available offline); a bad weights file fails before any training."""
    import json

    from safetensors.torch import save_file

    from infomax.cli import main as cli
    from infomax.evaluation.fid import fid
    from infomax.evaluation.inception import InceptionV3FID, load_inception
    from infomax.generative.figures import to_uint8

    run = tmp_path / "run"
    shutil.copytree(rep_run, run)
    sets = [a for k, v in STAGE.items() for a in ("--set", f"{k}={v}")]
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    assert cli(["generate", str(run), *sets, "--inception-weights", str(tmp_path / "bad.safetensors")]) == 2
    assert not (run / "ddim").exists()
    capsys.readouterr()
    torch.manual_seed(0)
    weights = tmp_path / "inception.safetensors"
    save_file(InceptionV3FID().state_dict(), str(weights))
    argv = ["generate", str(run), *sets, "--steps", "5", "--n-samples", "4",
            "--inception-weights", str(weights), "--fid-samples", "6", "--json"]
    assert cli(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 6 and out["steps"] == 5 and out["fid"] > 0 and out["fid_real_val"] > 0
    test = load_dataset("digits").test.images[:6]
    want = fid(test, to_uint8(generate(run, 6, steps=5)), load_inception(weights))
    assert out["fid"] == pytest.approx(want, rel=1e-6)
    assert json.loads((run / "metrics.json").read_text())["fid"]["fid"] == pytest.approx(want, rel=1e-6)


def test_generate_cli_writes_the_interpolation_figures(tmp_path, rep_run, capsys):
    import json

    from PIL import Image

    from infomax.cli import main as cli
    from infomax.generative.evaluate import interpolation_figures
    from infomax.generative.stage import representation_run

    run = tmp_path / "run"
    shutil.copytree(rep_run, run)
    sets = [a for k, v in STAGE.items() for a in ("--set", f"{k}={v}")]
    assert cli(["generate", str(run), *sets, "--steps", "5", "--n-samples", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["figures"]) == set(out["interpolation_change"]) == {"z", "y", "y_hat"}
    for path in out["figures"].values():
        w, h = Image.open(path).size
        assert abs(h / w - 6 / 8) < 0.05  # one row of 8 interpolation steps per pair, 6 pairs
    # the same numbers as the evaluation table's function on the run's first 12 test images
    want = interpolation_figures(representation_run(run).method, load_dataset("digits").test.images,
                                 tmp_path / "again")
    assert out["interpolation_change"] == pytest.approx(want, rel=1e-6)
    assert out["interpolation_change"]["z"] > 0
    recorded = json.loads((run / "metrics.json").read_text())["interpolation"]["change"]
    assert recorded == pytest.approx(want, rel=1e-6)


_KILLABLE = """
import sys, time, torch
torch.set_num_threads(1)
from infomax.generative import method as ddim_method
from infomax.generative.stage import train_ddim_stage
forward, calls = ddim_method.LatentDDIM.forward, [0]
def hanging(self, batch):
    calls[0] += 1
    if calls[0] == {kill_at}:  # say so, then hang until killed
        open({marker!r}, "w").close()
        time.sleep(120)
    return forward(self, batch)
ddim_method.LatentDDIM.forward = hanging
train_ddim_stage({run!r}, {stage!r}, progress=False)
"""


@pytest.mark.slow  # ~5 s of CPU each (new processes); the in-process kill above stays in the fast suite
@pytest.mark.parametrize("kill_at, epochs_saved", [(5, 1), (2, 0)], ids=["epoch-2", "epoch-1"])
def test_sigkill_of_the_stage_then_rerun_gives_the_uninterrupted_weights(tmp_path, rep_run, kill_at,
                                                                         epochs_saved, sigkill_at_marker):
    """A real SIGKILL of the DDIM stage process (in epoch 2; in epoch 1, where only the engine's start
    checkpoint, epoch 0, exists); running the stage again on the same run directory ends with the weights
    of an uninterrupted stage."""
    ref, run, marker = tmp_path / "ref", tmp_path / "run", tmp_path / "killed"
    shutil.copytree(rep_run, run)
    code = _KILLABLE.format(kill_at=kill_at, marker=str(marker), run=str(run), stage=STAGE)
    sigkill_at_marker(code, marker)
    assert not (run / "ddim/model.safetensors").exists()
    assert load_checkpoint(run / "ddim/checkpoints/last.pt")["epoch"] == epochs_saved
    assert train_ddim_stage(run, {}, progress=False)["train"]["epochs_completed"] == 2
    shutil.copytree(rep_run, ref)
    train_ddim_stage(ref, STAGE, progress=False)
    a, b = load_file(str(ref / "ddim/model.safetensors")), load_file(str(run / "ddim/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_generate_cli_refuses_unfinished_and_non_hybrid_runs_in_one_line(tmp_path, rep_run, capsys):
    """`infomax generate RUN`: exit 2 and one line on stderr, nothing written, for a missing directory, a
    hybrid run whose representation is not finished (killed before model.safetensors), and a MoCo run
    (no decoder, no latent z)."""
    from infomax.cli import main as cli
    from infomax.methods import moco

    half = tmp_path / "half"
    shutil.copytree(rep_run, half)
    (half / "model.safetensors").unlink()
    other = tmp_path / "moco"
    splits = load_dataset("digits")
    cfg = moco.Config(queue_size=32, proj_hidden=16, proj_dim=8)
    tc = TrainConfig(method="moco", max_epochs=1, batch_size=32, limit_train_batches=1)
    fit(build_method("moco", cfg, splits.info, 0), splits, tc, other, "moco", cfg, progress=False)
    capsys.readouterr()
    for run, says in [(tmp_path / "nothing", "is not a run directory: train the representation first"),
                      (half, "the DDIM stage needs a trained representation"),
                      (other, "needs an autoencoder run with a latent z (method hybrid)")]:
        assert cli(["generate", str(run), "--set", "max_epochs=1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("infomax: error: ") and says in err[0], err
        assert not (run / "ddim").exists()


def test_evaluation_table_figures_and_no_fid_without_weights(tmp_path, rep_run):
    """evaluate_hybrid on a tiny run with a DDIM stage: probes on z and y, MSE with its unit, the three
    interpolation figures as rows (one per image pair, first column = the decoded start image, last =
    the decoded end of the path), the sample grid, and generation quality as classifier-FD only: without
    a local Inception weights file no entry is called FID."""
    import json

    import numpy as np
    from PIL import Image

    from infomax.generative.evaluate import evaluate_hybrid, feature_classifier
    from infomax.generative.figures import to_uint8
    from infomax.run import load_run

    run = tmp_path / "run"
    shutil.copytree(rep_run, run)
    train_ddim_stage(run, {**STAGE, "max_epochs": 1}, progress=False)
    splits = load_dataset("digits")
    table = evaluate_hybrid(run, splits, feature_classifier(splits, steps=20), n_generate=20, steps=5,
                            max_train=200)
    assert set(table["probe"]) == {"z", "y"}
    # accuracies on the 297 digits test images (k / 297 exactly), far above chance 0.1 (measured z 0.75,
    # y 0.67; a probe on the wrong labels or features would sit near 0.1)
    for v in table["probe"].values():
        assert v * 297 == pytest.approx(round(v * 297), abs=1e-6) and v > 0.5
    assert table["reconstruction"]["unit"] == "[0,1] pixel scale"
    rec = table["reconstruction"]
    assert rec["mse_per_image"] == pytest.approx(rec["mse_per_pixel"] * 64)
    gen = table["generation"]
    assert gen["classifier_fd"] > 0 and gen["n"] == 20 and gen["eta"] == 0.0
    names = json.dumps(table).lower() + json.dumps(json.loads((run / "metrics.json").read_text())).lower()
    assert "fid" not in names.replace("classifier_fd", "")
    grid = np.asarray(Image.open(run / "plots/ddim_samples.png"))[::2, ::2]  # undo the 2x scale
    assert grid.shape == (3 * 10 + 2, 8 * 10 + 2)  # 20 samples, 8 a row, 8x8 images, 2 px padding
    method = load_run(run).method.eval()
    x = torch.from_numpy(splits.test.images[:12]).float() / 255
    with torch.no_grad():
        z = method.encoder(x)["z"]  # pairs (i, 6 + i)
        z0, z1 = z[:6], z[6:]
        yc = method.encoder.y_channels
        ends = {"z": z1, "y": torch.cat([z1[:, :yc], z0[:, yc:]], 1),
                "y_hat": torch.cat([z0[:, :yc], z1[:, yc:]], 1)}
        start = to_uint8(method.decode(z0))[:, 0]
        for mode, end in ends.items():
            img = np.asarray(Image.open(run / f"plots/interp_{mode}.png"))[::2, ::2]
            assert img.shape == (6 * 10 + 2, 8 * 10 + 2)  # 6 rows (pairs) of 8 steps
            cells = img[2:, 2:].reshape(6, 10, 8, 10)[:, :8, :, :8]  # (row, y, column, x)
            want_end = to_uint8(method.decode(end))[:, 0]
            assert np.array_equal(cells[:, :, 0], start) and np.array_equal(cells[:, :, 7], want_end), mode


def test_generate_cli_says_its_plan_then_shows_bars_on_stderr_only(tmp_path, rep_run, capsys, monkeypatch):
    import json

    from infomax.cli import main as cli

    quiet, shown = tmp_path / "quiet", tmp_path / "shown"
    shutil.copytree(rep_run, quiet)
    shutil.copytree(rep_run, shown)
    sets = [a for k, v in STAGE.items() for a in ("--set", f"{k}={v}")]
    argv = [*sets, "--steps", "5", "--n-samples", "4", "--json"]
    assert cli(["generate", str(quiet), *argv]) == 0  # stderr captured, not a terminal: nothing shown
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("INFOMAX_PROGRESS", "1")  # as on a terminal
    assert cli(["generate", str(shown), *argv]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["samples"].endswith("ddim_samples.png")  # stdout: one JSON object
    lines = err.replace("\r", "\n").splitlines()
    plan = next(i for i, line in enumerate(lines) if line.startswith(f"infomax generate {shown}: about "))
    assert lines[plan].endswith(" in all")
    # 2 epochs of limit_train_batches=3 batches of 32, timed
    assert lines[plan + 1].startswith("  1. DDIM stage: training epochs 1-2 of 2 (6 batches of 32 latents, ")
    assert "s a batch as timed: about" in lines[plan + 1]
    assert lines[plan + 2].startswith("  2. sampling 4 images with 5 DDIM steps (about ")
    assert "epoch 2/2" in err and "DDIM sampling: 4 images, 5 steps" in err
    # the timing runs on a copy with the RNG streams restored: the stage trains to the same weights
    a, b = (load_file(str(r / "ddim" / "model.safetensors")) for r in (quiet, shown))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    again = ["--steps", "5", "--n-samples", "4", "--json"]
    assert cli(["generate", str(shown), *again]) == 0  # trained: says so, samples again
    assert "  1. DDIM stage: already trained (2 of 2 epochs)" in capsys.readouterr().err
    assert cli(["generate", str(shown), *again, "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_stage_plan_counts_and_estimates():
    from infomax.generative.stage import StagePlan

    plan = StagePlan(epochs_done=3, batches_done=2, max_epochs=10, batches_per_epoch=22, batch_size=64,
                     max_minutes=None, seconds_per_batch=0.5)
    assert plan.batches_to_go == 7 * 22 - 2 and plan.train_seconds == pytest.approx(0.5 * 152)
    assert plan.describe().startswith("DDIM stage: training epochs 4-10 of 10 (152 batches of 64 latents, "
                                      "0.50 s a batch as timed: about 1 min 16 s)")
    assert plan.sample_seconds(64, 50) == pytest.approx(50 * 64 * 0.5 / 3 / 64)
    capped = StagePlan(0, 0, 10, 22, 64, max_minutes=1.0, seconds_per_batch=0.5)
    assert capped.train_seconds == 60.0 and "at most 1 min 00 s (max_minutes)" in capped.describe()
    done = StagePlan(10, 0, 10, 22, 64, None, None)
    assert done.batches_to_go == 0 and done.describe() == "DDIM stage: already trained (10 of 10 epochs)"
    assert StagePlan(0, 0, 2, 3, 32, None).train_seconds is None  # not timed: no estimate
