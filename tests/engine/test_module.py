"""InfomaxModule: one epoch through Lightning equals a plain PyTorch loop doing what the contract says."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from infomax.config import TrainConfig
from infomax.engine.checkpoint import load_checkpoint, seed_everything
from infomax.engine.fit import build_method, fit
from infomax.engine.module import loss_key
from infomax.engine.sampler import EpochBatchSampler

TOY_DIR = Path(__file__).parent


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    return importlib.import_module("engine_toy").register(monkeypatch)


def _plain_loop(toy, method_cfg, train_cfg, epochs):
    """The contract by hand: per epoch reseed (seed, epoch, rank 0); batches of the (seed, epoch) order;
    uint8 -> float / 255; forward once; per group (main first) zero grads, backward its loss, step its Adam
    (lr, or the method's group_lr); then on_after_optimizer_step."""
    splits = toy.toy_splits()
    method = build_method("toy", method_cfg, splits.info, train_cfg.seed)
    groups = method.param_groups()
    group_lr = getattr(method, "group_lr", {})
    opts = {g: torch.optim.Adam(p, lr=train_cfg.lr if g == "main" else group_lr.get(g, train_cfg.lr))
            for g, p in groups.items()}
    images = torch.from_numpy(splits.train.images)
    labels = torch.from_numpy(splits.train.labels)
    sampler = EpochBatchSampler(len(images), train_cfg.batch_size, train_cfg.seed)
    for epoch in range(epochs):
        seed_everything(train_cfg.seed, epoch, 0, 0)
        for idx in sampler.batches(epoch):
            losses = method((images[idx].float() / 255, labels[idx]))
            for i, (g, opt) in enumerate(opts.items()):
                opt.zero_grad()
                losses[loss_key(g)].backward(retain_graph=i < len(opts) - 1)
                opt.step()
            method.on_after_optimizer_step()
    return method


@pytest.mark.parametrize("adversary", [False, True], ids=["one-group", "two-groups"])
def test_engine_matches_a_plain_training_loop(toy, tmp_path, adversary):
    method_cfg = toy.Config(adversary=adversary)
    train_cfg = TrainConfig(max_epochs=2, batch_size=16, seed=5, lr=2e-3)
    splits = toy.toy_splits()
    method = build_method("toy", method_cfg, splits.info, train_cfg.seed)
    fit(method, splits, train_cfg, tmp_path / "run", "toy", method_cfg, evaluate=False, progress=False)
    expected = _plain_loop(toy, method_cfg, train_cfg, epochs=2).state_dict()
    got = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert got["method"].keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(got["method"][k], v), k  # bit for bit
    if adversary:  # the extra group has its own Adam with the method's lr override
        assert list(got["optimizers"]) == ["main", "adv"]
        assert got["optimizers"]["adv"]["param_groups"][0]["lr"] == 0.5e-3
        assert got["optimizers"]["main"]["param_groups"][0]["lr"] == 2e-3
        initial = build_method("toy", method_cfg, splits.info, train_cfg.seed).adv.weight
        assert not torch.equal(got["method"]["adv.weight"], initial)  # the discriminator trained


def test_every_scalar_of_the_loss_dict_is_logged(toy, tmp_path):
    import csv

    method_cfg = toy.Config(adversary=True)
    splits = toy.toy_splits()
    method = build_method("toy", method_cfg, splits.info, 0)
    fit(method, splits, TrainConfig(max_epochs=1, batch_size=16), tmp_path / "run", "toy", method_cfg,
        evaluate=False, progress=False)
    with open(tmp_path / "run/logs/version_0/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    cols = set(rows[0])
    assert {"loss", "loss/adv", "mi/infonce", "epoch/loss", "epoch/mi/infonce", "step"} <= cols
    steps = [int(r["step"]) for r in rows if r["loss"]]
    assert steps == list(range(1, 7))  # 96 items / 16: every step logged (log_every = 1 here)
