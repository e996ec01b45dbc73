"""OnlineProbes (the linear + MLP probes AMDIM and others train on detached features): hand-computed
accuracies and cross-entropies, unlabelled rows ignored, no gradient into the features."""

from __future__ import annotations

import math

import pytest
import torch

from infomax.methods.probe_heads import OnlineProbes


def _probes() -> OnlineProbes:
    p = OnlineProbes(3, 3, hidden=4)
    with torch.no_grad():
        p.linear.weight.copy_(torch.eye(3))  # linear logits = the features
        p.linear.bias.zero_()
        p.mlp[-1].weight.zero_()  # MLP logits = its last bias, whatever BN and dropout do
        p.mlp[-1].bias.copy_(torch.tensor([2.0, 0.0, 0.0]))  # always predicts class 0
    return p


def _ce(logits: list[float], y: int) -> float:
    return -(logits[y] - math.log(sum(math.exp(v) for v in logits)))


def test_accuracies_and_loss_by_hand() -> None:
    feats = [[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    labels = [0, 1, 0, -1, 2]  # row 3 unlabelled: ignored
    x = torch.tensor(feats, requires_grad=True)
    loss, logs = _probes()(x, torch.tensor(labels))
    # kept rows 0, 1, 2, 4: linear predicts argmax(features) = 0, 1, 2, 0 vs labels 0, 1, 0, 2 -> 2/4;
    # the MLP predicts 0 everywhere, right on rows 0 and 2 -> 2/4
    assert float(logs["probe/linear_acc"]) == 0.5 and float(logs["probe/mlp_acc"]) == 0.5
    kept = [(f, y) for f, y in zip(feats, labels) if y >= 0]
    want = sum(_ce(f, y) for f, y in kept) / 4 + sum(_ce([2.0, 0.0, 0.0], y) for _, y in kept) / 4
    assert float(loss.detach()) == pytest.approx(want, rel=1e-6)
    loss.backward()
    assert x.grad is None  # the features are detached: the probes never train the encoder

    labels = [0, 1, 2, -1, 1]  # now the linear probe is right on rows 0, 1, 2 (3/4), the MLP on row 0 (1/4)
    _, logs = _probes()(torch.tensor(feats), torch.tensor(labels))
    assert float(logs["probe/linear_acc"]) == 0.75 and float(logs["probe/mlp_acc"]) == 0.25


def test_fewer_than_two_labelled_rows_give_a_zero_loss_and_no_accuracy() -> None:
    p = _probes()
    loss, logs = p(torch.randn(4, 3), torch.tensor([-1, 2, -1, -1]))
    assert logs == {} and float(loss.detach()) == 0.0
    loss.backward()  # keeps the graph: every parameter gets a (zero) gradient
    assert all(q.grad is not None and float(q.grad.abs().sum()) == 0.0 for q in p.parameters())
