"""MoCo v2: exact momentum update, no gradient into the key encoder, FIFO queue, InfoNCE = CE - log(1+K)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from infomax.errors import UserError
from infomax.methods import moco

INFO = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,))


def _method(**kw):
    return moco.build(moco.Config(**{"queue_size": 32, "proj_hidden": 16, "proj_dim": 8, "augment": False,
                                     **kw}), INFO)


@pytest.mark.parametrize("encoder", ["dim", "nvae"])
def test_momentum_update_is_exact_and_key_encoder_gets_no_gradient(encoder):
    m = _method(encoder=encoder, momentum=0.9)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    key_before = {k: v.clone() for k, v in m.moco.key_encoder.named_parameters()}
    out = m((torch.rand(8, 1, 8, 8), torch.zeros(8, dtype=torch.long)))
    out["loss"].backward()
    keys = [*m.moco.key_encoder.parameters(), *m.moco.key_head.parameters()]
    assert all(p.grad is None and not p.requires_grad for p in keys)
    opt.step()
    for k, v in m.moco.key_encoder.named_parameters():  # the optimiser did not touch the key encoder
        assert torch.equal(v, key_before[k])
    q = {k: v.detach().clone() for k, v in m.encoder.named_parameters()}
    assert any(not torch.equal(q[k], key_before[k]) for k in q)  # the query moved away
    m.on_after_optimizer_step()
    for k, v in m.moco.key_encoder.named_parameters():
        assert torch.equal(v, key_before[k] * 0.9 + q[k] * (1.0 - 0.9)), k


def test_queue_is_fifo():
    q = moco.KeyQueue(8, 2)
    a, b, c = (torch.full((4, 2), float(v)) for v in (1, 2, 3))
    q.enqueue(a)
    assert int(q.ptr) == 4 and torch.equal(q.keys[:4], a)
    q.enqueue(b)
    assert int(q.ptr) == 0 and torch.equal(q.keys[4:], b)
    q.enqueue(c)  # c replaces the oldest batch, a
    assert int(q.ptr) == 4 and torch.equal(q.keys[:4], c) and torch.equal(q.keys[4:], b)
    assert {"keys", "ptr"} <= set(q.state_dict())  # buffers: checkpointed with the method


def test_queue_size_must_be_a_multiple_of_the_batch():
    with pytest.raises(UserError, match="multiple of the batch size"):
        moco.KeyQueue(10, 2).enqueue(torch.zeros(4, 2))


def test_forward_enqueues_the_keys_of_the_batch():
    m = _method()
    m.eval()  # batch norm with running stats: the keys are a per-item function
    x = torch.rand(8, 1, 8, 8)
    m((x, torch.zeros(8, dtype=torch.long)))
    expected = F.normalize(m.moco.key_head(m.moco.key_encoder(x)["fc"]), dim=1)
    torch.testing.assert_close(m.moco.queue.keys[:8], expected)
    assert int(m.moco.queue.ptr) == 8


def test_infonce_is_cross_entropy_against_the_queue_minus_log_k_plus_1():
    m = _method(temperature=0.5)
    branch = m.moco
    h = torch.randn(6, 1024)
    k = F.normalize(torch.randn(6, 8), dim=1)
    mi, _ = branch.infonce_from_features(h, k)
    q = F.normalize(branch.head(h), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ branch.queue.keys.T], 1) / 0.5
    ce = F.cross_entropy(logits, torch.zeros(6, dtype=torch.long))
    torch.testing.assert_close(mi, math.log(1 + 32) - ce)


def test_shuffled_key_batches_are_unshuffled():
    m = _method(bn_splits=1)
    m.eval()
    x = torch.rand(8, 1, 8, 8)
    k1 = m.moco.keys(x)
    m.moco.bn_splits = 4
    torch.testing.assert_close(m.moco.keys(x), k1)


@pytest.mark.parametrize("kw, match", [
    ({"encoder": "resnet"}, "unknown encoder"),
    ({"momentum": 1.5}, "momentum"),
    ({"temperature": 0.0}, "temperature"),
])
def test_bad_config(kw, match):
    with pytest.raises(UserError, match=match):
        _method(**kw)


@pytest.mark.parametrize("queue_size, batch_size, suggestion", [
    (4096, 64, None), (128, 64, None), (64, 64, None), (100, 64, 64), (32, 64, 64), (4096, 48, 4080),
], ids=["4096/64", "128/64", "64/64", "100/64", "smaller-than-batch", "4096/48"])
def test_queue_size_is_checked_against_the_batch_size_before_training(queue_size, batch_size, suggestion):
    """The engine's settings check (run before the run directory, data or model exist) calls
    moco.check_train: queue % batch == 0, as the queue replaces whole batches of keys; the error suggests
    the nearest multiple below (at least one batch)."""
    from infomax.config import TrainConfig
    from infomax.engine.fit import check_settings

    cfg, train = moco.Config(queue_size=queue_size), TrainConfig(method="moco", batch_size=batch_size)
    if suggestion is None:
        check_settings("moco", cfg, train)
        return
    with pytest.raises(UserError) as e:
        check_settings("moco", cfg, train)
    assert str(e.value) == (f"the MoCo queue size ({queue_size}) must be a multiple of the batch size "
                            f"({batch_size}); set queue_size or batch_size accordingly, "
                            f"e.g. --set queue_size={suggestion}")
