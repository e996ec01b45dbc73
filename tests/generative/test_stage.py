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
from infomax.generative.stage import generate, main, sample_grid, train_ddim_stage
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
    fit(build_method("hybrid", cfg, splits.info, 0), splits, tc, run_dir, "hybrid", cfg, baselines=False,
        evaluate=False, progress=False)
    return run_dir


def test_stage_before_a_representation_is_a_user_error(tmp_path, rep_run):
    with pytest.raises(UserError, match="train the representation first"):
        train_ddim_stage(tmp_path / "nothing")
    half = tmp_path / "half"
    shutil.copytree(rep_run, half)
    (half / "model.safetensors").unlink()  # a representation run that has not finished
    with pytest.raises(UserError, match="needs a trained representation"):
        train_ddim_stage(half)
    assert main([str(half), "--no-progress"]) == 2


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
