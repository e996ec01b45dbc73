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


@pytest.mark.parametrize("n_support", [1, 2])
def test_loss_matches_the_reference(n_support):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(14, 3, generator=g, dtype=torch.float64)
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
