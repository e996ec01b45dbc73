"""ProtoNet: the vectorized prototypical loss against a hand-written per-class loop."""

from __future__ import annotations

import math

import pytest
import torch

from infomax.config import TrainConfig
from infomax.errors import UserError
from infomax.methods import protonet
from infomax.methods.protonet import prototypical_loss


def reference_loss(z, labels, n_support):
    """Plain Python: support = first n_support items of each class (batch order), queries = the rest."""
    items = {}
    for i, y in enumerate(labels.tolist()):
        if y >= 0:
            items.setdefault(y, []).append(i)
    classes = sorted(c for c, idx in items.items() if len(idx) > n_support)
    protos = [sum(z[i] for i in items[c][:n_support]) / n_support for c in classes]
    total, n = 0.0, 0
    for ci, c in enumerate(classes):
        for q in items[c][n_support:]:
            d = [float(((z[q] - p) ** 2).sum()) for p in protos]
            log_norm = math.log(sum(math.exp(-dj) for dj in d))
            total += d[ci] + log_norm  # -log softmax(-d)[ci]
            n += 1
    return total / n, len(classes)


@pytest.mark.parametrize("dim", [3, protonet.BROADCAST_MAX_DIM + 44],
                         ids=["explicit-differences", "matmul-form"])
@pytest.mark.parametrize("n_support", [1, 2])
def test_loss_matches_the_reference(n_support, dim):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(14, dim, generator=g, dtype=torch.float64) / math.sqrt(dim)
    # class 5: 4 items, class 2: 3, class 7: 1 (never usable), class 9: 2 (usable only with 1 support), -1
    labels = torch.tensor([5, 2, 5, 7, 2, 9, 5, -1, 2, 9, 5, 4, 4, 4])
    loss, acc, c = prototypical_loss(z, labels, n_support)
    ref, ref_c = reference_loss(z, labels, n_support)
    assert c == ref_c == (5 - n_support if n_support == 2 else 4)
    assert float(loss) == pytest.approx(ref, rel=1e-12)


def test_two_well_separated_classes_give_zero_loss_and_one_class_gives_zero():
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [9.0, 9.0], [9.0, 9.1]], requires_grad=True)
    loss, acc, c = prototypical_loss(z, torch.tensor([0, 0, 1, 1]), 1)
    assert float(loss.detach()) < 1e-30 and float(acc) == 1.0 and c == 2
    loss, _, c = prototypical_loss(z, torch.tensor([0, 0, 0, 0]), 1)
    loss.backward()
    assert float(loss.detach()) == 0.0 and c == 0 and z.grad is not None


def test_balanced_batches_must_leave_queries():
    with pytest.raises(UserError, match="n_support"):
        protonet.check_train(protonet.Config(n_support=4), TrainConfig(sampler="balanced", batch_size=32,
                                                                        batch_classes=8))
    protonet.check_train(protonet.Config(n_support=3), TrainConfig(sampler="balanced", batch_size=32,
                                                                    batch_classes=8))


class _Identity(torch.nn.Module):
    """An encoder whose ``y`` feature is its input (B, D): the loss is computed on known embeddings."""

    layers = ("y",)
    output_layer = "y"

    def forward(self, x):
        return {"y": x}


def test_holdout_classes_never_enter_the_loss():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(12, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 3, 0, 1, 3, 0, 1, 2, 2, 3, 2])
    model = protonet.ProtoNet(_Identity(), "y", n_support=1, holdout_classes=(3, 2))
    out = model((z, labels))
    keep = labels < 2
    ref, ref_c = reference_loss(z[keep], labels[keep], 1)
    assert int(out["classes"]) == ref_c == 2
    assert float(out["loss"]) == pytest.approx(ref, rel=1e-12)
    # with the held-out classes in the loss it differs (the test would not notice a no-op filter otherwise)
    assert float(protonet.ProtoNet(_Identity(), "y")((z, labels))["loss"]) != pytest.approx(ref, rel=1e-3)
    assert model.holdout.tolist() == [2, 3]  # the buffer unseen_test_items reads
    only_held = model((z[labels == 3], labels[labels == 3]))
    assert float(only_held["loss"]) == 0.0 and int(only_held["classes"]) == 0


def test_holdout_classes_are_checked_against_the_data():
    from types import SimpleNamespace

    info = SimpleNamespace(name="x", num_classes=3, channels=1, image_size=28, mean=(0.5,), std=(0.5,))
    with pytest.raises(UserError, match="ProtoNet needs at least 2"):
        protonet.build(protonet.Config(holdout_classes=(0, 1)), info)
    with pytest.raises(UserError, match="label 3"):
        protonet.build(protonet.Config(holdout_classes=(3,)), info)
    assert protonet.build(protonet.Config(holdout_classes=(2,)), info).holdout.tolist() == [2]


def test_state_dict_has_the_holdout_buffer_only_when_classes_are_held_out():
    # runs trained before the option existed saved no `holdout` tensor: rebuilding them must match
    from types import SimpleNamespace

    info = SimpleNamespace(name="x", num_classes=3, channels=1, image_size=28, mean=(0.5,), std=(0.5,))
    plain = protonet.build(protonet.Config(), info)
    assert "holdout" not in plain.state_dict() and plain.holdout is None
    held = protonet.build(protonet.Config(holdout_classes=(2,)), info)
    assert held.state_dict()["holdout"].tolist() == [2]
    plain.load_state_dict({k: v for k, v in held.state_dict().items() if k != "holdout"})  # strict: no error
