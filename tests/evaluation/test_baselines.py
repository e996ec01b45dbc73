from __future__ import annotations

import torch

from infomax.encoders import DIMConvEncoder
from infomax.evaluation.baselines import random_encoder, supervised_encoder
from infomax.evaluation.protocols import PROTOCOLS


def test_random_encoder_is_a_fresh_copy():
    torch.manual_seed(0)
    enc = DIMConvEncoder(1, 8, y_dim=16)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(1.0)  # pretend it was trained
        enc.fc[1].running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    rnd = random_encoder(enc, seed=1)
    assert type(rnd) is DIMConvEncoder and rnd.y_dim == 16 and rnd is not enc
    assert all(torch.equal(v, enc.state_dict()[k]) for k, v in before.items())  # original untouched
    state = rnd.state_dict()
    assert state.keys() == before.keys()
    assert not torch.equal(state["y.weight"], before["y.weight"])
    assert torch.equal(state["fc.1.running_mean"], torch.zeros(1024))  # BN statistics reset
    assert torch.equal(state["mean"], before["mean"])  # buffers that are not parameters stay
    again = random_encoder(enc, seed=1)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in state.items())  # seeded


def test_random_encoder_init_matches_a_freshly_built_one():
    """reset_parameters gives the same initial weights as constructing the module anew."""
    torch.manual_seed(7)
    fresh = DIMConvEncoder(1, 8)
    rnd = random_encoder(DIMConvEncoder(1, 8), seed=7)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, rnd.state_dict()[k]), k


def test_supervised_encoder_beats_random_on_y(tiny):
    splits = tiny.make_splits(n_train=200, noise=90.0)
    enc = DIMConvEncoder(1, 8, y_dim=8)
    sup = supervised_encoder(enc, splits, steps=60, batch_size=32)
    sup_acc = PROTOCOLS["knn"](sup, splits, "y", k=5)["accuracy"]
    rnd_acc = PROTOCOLS["knn"](random_encoder(enc, seed=0), splits, "y", k=5)["accuracy"]
    assert sup_acc >= 0.9 and sup_acc > rnd_acc
    assert not sup.training
