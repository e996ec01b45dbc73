"""The moving average of the weights (``TrainConfig.ema``): the update rule against a hand-written loop,
the exported weights of a run against the average of its recorded steps, and resume (the toy method comes
from the ``toy`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from infomax.config import TrainConfig
from infomax.engine.averaging import WeightAverage, ema_decay
from infomax.engine.checkpoint import load_checkpoint
from infomax.engine.fit import build_method, fit
from infomax.errors import UserError


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"max_epochs": 2, "batch_size": 16, "seed": 3, "ema": 0.9, **kw})


def _train(toy, run_dir, train_cfg, resume=False):
    splits = toy.toy_splits()
    method = build_method("toy", toy.Config(), splits.info, train_cfg.seed)
    return fit(method, splits, train_cfg, run_dir, "toy", toy.Config(), resume=resume, progress=False)


def _hand_average(initial: dict, steps: list[dict], decay: float) -> dict:
    """The average written out: a_t = d_t a_{t-1} + (1 - d_t) w_t, d_t = min(decay, (1 + t) / (10 + t))."""
    avg = {k: v.double().clone() for k, v in initial.items()}
    for t, weights in enumerate(steps, start=1):
        d = min(decay, (1 + t) / (10 + t))
        for k in avg:
            avg[k] = d * avg[k] + (1 - d) * weights[k].double()
    return avg


@pytest.mark.parametrize(("decay", "step", "expected"), [
    (0.999, 1, 2 / 11), (0.999, 10, 11 / 20), (0.9, 80, 0.9), (0.999, 10_000, 0.999)])
def test_ema_decay_warms_up_then_holds(decay, step, expected):
    assert ema_decay(decay, step) == pytest.approx(expected)


def test_weight_average_follows_in_place_updates_as_the_hand_written_rule():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    initial = {k: v.clone() for k, v in net.state_dict().items() if v.is_floating_point()}
    avg, seen = WeightAverage(net, decay=0.8), []
    for t in range(1, 6):
        with torch.no_grad():  # in place, as the optimiser and BatchNorm change them
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(4, 3))  # moves the running statistics
        seen.append({k: v.clone() for k, v in net.state_dict().items() if v.is_floating_point()})
        avg.update(step=t)
    want = _hand_average(initial, seen, 0.8)
    assert set(avg.state) == set(want)  # float tensors only: num_batches_tracked is not averaged
    for k in want:
        torch.testing.assert_close(avg.state[k].double(), want[k], rtol=0, atol=1e-6)


def test_weight_average_refuses_a_state_of_another_module():
    with pytest.raises(ValueError, match="moving average"):
        WeightAverage(torch.nn.Linear(2, 2), 0.9, state={"weight": torch.zeros(2, 2)})


def test_a_run_exports_the_average_of_its_steps_and_checkpoints_the_last_weights(toy, tmp_path, monkeypatch):
    recorded = []
    def record(self):  # the weights after each optimiser step
        recorded.append({k: v.detach().clone() for k, v in self.state_dict().items()})

    monkeypatch.setattr(toy.Toy, "on_after_optimizer_step", record)
    splits = toy.toy_splits()
    initial = build_method("toy", toy.Config(), splits.info, 3).state_dict()
    run = tmp_path / "run"
    assert _train(toy, run, _cfg())["train"]["steps"] == len(recorded) == 12
    floats = [k for k, v in initial.items() if v.is_floating_point()]
    want = _hand_average({k: initial[k] for k in floats}, recorded, 0.9)
    exported, ckpt = load_file(str(run / "model.safetensors")), load_checkpoint(run / "checkpoints/last.pt")
    for k in floats:
        torch.testing.assert_close(exported[k].double(), want[k], rtol=0, atol=1e-6)
        assert torch.equal(ckpt["method"][k], recorded[-1][k])  # training's own weights stay the last ones
        torch.testing.assert_close(ckpt["ema"][k].double(), want[k], rtol=0, atol=1e-6)
    assert not torch.allclose(exported["w.weight"], recorded[-1]["w.weight"])  # the average is not the last
    assert torch.equal(exported["encoder.conv.1.num_batches_tracked"],
                       recorded[-1]["encoder.conv.1.num_batches_tracked"])


def test_resume_continues_the_same_average(toy, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    _train(toy, whole, _cfg())
    _train(toy, split, _cfg(max_epochs=1))
    _train(toy, split, _cfg(max_epochs=2), resume=True)
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(split / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("ema", [1.0, -0.1, 1.5])
def test_bad_ema_is_a_user_error(ema):
    with pytest.raises(UserError, match="ema must be 0"):
        _cfg(ema=ema).validate()


def test_resuming_a_finished_run_hands_back_the_average(toy, tmp_path):
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1))
    splits = toy.toy_splits()
    method = build_method("toy", toy.Config(), splits.info, 3)
    fit(method, splits, _cfg(max_epochs=1), run, "toy", toy.Config(), resume=True, progress=False)
    exported = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(method.state_dict()[k], exported[k]) for k in exported)
    last = load_checkpoint(run / "checkpoints/last.pt")["method"]
    assert not torch.equal(exported["w.weight"], last["w.weight"])


def test_resume_from_a_checkpoint_whose_average_does_not_fit_is_a_user_error(toy, tmp_path):
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1))
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    del ckpt["ema"]["w.weight"]  # e.g. an average copied from another run
    torch.save(ckpt, run / "checkpoints/last.pt")
    with pytest.raises(UserError, match="moving average of the weights .* copied from another run"):
        _train(toy, run, _cfg(max_epochs=2), resume=True)
