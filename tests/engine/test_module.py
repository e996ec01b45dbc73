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
    (fused; lr, or the method's group_lr; betas (adam_beta1, adam_beta2)); then on_after_optimizer_step."""
    splits = toy.toy_splits()
    method = build_method("toy", method_cfg, splits.info, train_cfg.seed)
    groups = method.param_groups()
    group_lr = getattr(method, "group_lr", {})
    betas = (train_cfg.adam_beta1, train_cfg.adam_beta2)
    opts = {g: torch.optim.Adam(p, lr=train_cfg.lr if g == "main" else group_lr.get(g, train_cfg.lr),
                                betas=betas, fused=True) for g, p in groups.items()}
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


@pytest.mark.parametrize("adversary, betas",
                         [(False, (0.9, 0.999)), (True, (0.9, 0.999)), (True, (0.8, 0.99))],
                         ids=["one-group", "two-groups", "two-groups-betas"])
def test_engine_matches_a_plain_training_loop(toy, tmp_path, adversary, betas):
    method_cfg = toy.Config(adversary=adversary)
    train_cfg = TrainConfig(max_epochs=2, batch_size=16, seed=5, lr=2e-3, adam_beta1=betas[0],
                            adam_beta2=betas[1])
    splits = toy.toy_splits()
    method = build_method("toy", method_cfg, splits.info, train_cfg.seed)
    fit(method, splits, train_cfg, tmp_path / "run", "toy", method_cfg, progress=False)
    expected = _plain_loop(toy, method_cfg, train_cfg, epochs=2).state_dict()
    got = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert got["method"].keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(got["method"][k], v), k  # bit for bit
    for g, opt in got["optimizers"].items():  # every group's Adam has the configured betas, fused
        assert tuple(opt["param_groups"][0]["betas"]) == betas, g
        assert opt["param_groups"][0]["fused"] is True, g
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
        progress=False)
    with open(tmp_path / "run/logs/version_0/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    cols = set(rows[0])
    assert {"loss", "loss/adv", "mi/infonce", "epoch/loss", "epoch/mi/infonce", "step"} <= cols
    steps = [int(r["step"]) for r in rows if r["loss"]]
    assert steps == list(range(1, 7))  # 96 items / 16: every step logged (log_every = 1 here)


def _logged(run_dir, key):
    import csv

    with open(run_dir / "logs/version_0/metrics.csv") as f:
        return [(int(r["step"]), float(r[key])) for r in csv.DictReader(f) if r.get(key)]


@pytest.mark.parametrize("probe_every, steps", [(1, [0, 6, 12, 18]), (2, [0, 12])], ids=["every", "every-2"])
def test_online_probe_is_logged_every_n_epochs_and_keeps_the_weights(toy, tmp_path, probe_every, steps):
    """3 epochs of 6 steps: the probe at step 0 (untrained) and after every probe_every-th epoch; the final
    weights are bit-identical to those of a run without the probe."""
    method_cfg, splits = toy.Config(), toy.toy_splits()
    weights = {}
    for every in (0, probe_every):
        cfg = TrainConfig(max_epochs=3, batch_size=16, seed=1, probe_every=every, probe_samples=48)
        run = tmp_path / f"run{every}"
        fit(build_method("toy", method_cfg, splits.info, 1), splits, cfg, run, "toy", method_cfg,
            progress=False)
        weights[every] = load_checkpoint(run / "checkpoints/last.pt")["method"]
    for layer in ("conv", "y"):
        logged = _logged(tmp_path / f"run{probe_every}", f"probe/linear_acc/{layer}")
        assert [s for s, _ in logged] == steps
        # accuracies on the 20 validation images (k / 20 exactly); 4 bright-quadrant classes are easy for
        # every layer, trained or not (measured 0.9-1.0; chance 0.25)
        assert all(a * 20 == pytest.approx(round(a * 20), abs=1e-4) and a >= 0.85 for _, a in logged), logged
    for k, v in weights[0].items():
        assert torch.equal(weights[probe_every][k], v), k
