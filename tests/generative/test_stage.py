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
