"""Closed-form discrete MI (DIMCO) and the pairwise independence regularizer."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from infomax.bounds.discrete import discrete_mi, pairwise_independence, sample_pairs
from infomax.errors import UserError


def _plugin_mi(x: np.ndarray, y: np.ndarray) -> float:
    """Brute-force plug-in MI (nats) of the joint histogram of two integer arrays."""
    joint = np.zeros((x.max() + 1, y.max() + 1))
    np.add.at(joint, (x, y), 1.0)
    joint /= joint.sum()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (px @ py)[nz])).sum())


def _onehot(sym: np.ndarray, k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(sym), k).double()


@pytest.mark.parametrize("d,k,n_classes", [(1, 2, 2), (3, 4, 5), (5, 16, 3)])
def test_one_hot_equals_plugin_mi_of_histogram(d: int, k: int, n_classes: int) -> None:
    rng = np.random.default_rng(d)
    y = rng.integers(0, n_classes, 200)
    # symbols depend on the label in some dimensions, partly random elsewhere
    informative = (y[:, None] * (np.arange(d) + 1)) % k
    sym = np.where(rng.random((200, d)) < 0.6, informative, rng.integers(0, k, (200, d)))
    got = discrete_mi(_onehot(sym, k), torch.as_tensor(y)).item()
    want = sum(_plugin_mi(sym[:, i], y) for i in range(d))
    assert got == pytest.approx(want, abs=1e-10)
    assert got > 0.1


def test_hand_computed_soft_case() -> None:
    # d=1, k=2; class 0: p=(0.9,0.1),(0.7,0.3) -> mean (0.8,0.2); class 1: (0.2,0.8) -> mean (0.2,0.8)
    p = torch.tensor([[[0.9, 0.1]], [[0.7, 0.3]], [[0.2, 0.8]]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    h = lambda q: -sum(v * math.log(v) for v in q)  # noqa: E731
    want = h([0.6, 0.4]) - (2 / 3) * h([0.8, 0.2]) - (1 / 3) * h([0.2, 0.8])
    assert discrete_mi(p, y).item() == pytest.approx(want, abs=1e-12)


def test_label_independent_codes_have_zero_mi() -> None:
    # every class has exactly the same code distribution (each class sees each symbol pattern once)
    k, d = 4, 3
    base = torch.softmax(torch.randn(8, d, k, dtype=torch.float64), -1)
    probs = base.repeat(3, 1, 1)  # (24, d, k): class c holds a copy of base
    y = torch.arange(3).repeat_interleave(8)
    assert discrete_mi(probs, y).item() == pytest.approx(0.0, abs=1e-12)


def test_never_exceeds_d_log_k() -> None:
    g = torch.Generator().manual_seed(0)
    b, d, k = 63, 6, 3  # b divisible by k: uniform marginal
    probs = torch.softmax(5 * torch.randn(b, d, k, generator=g), -1)
    y = torch.randint(0, 40, (b,), generator=g)
    mi = discrete_mi(probs, y).item()
    assert 0.0 <= mi <= d * math.log(k) + 1e-6
    # with perfectly separated one-hot codes and many classes the bound is attained
    sym = torch.arange(b) % k
    one = torch.nn.functional.one_hot(sym, k).double()[:, None].repeat(1, d, 1)
    assert discrete_mi(one, torch.arange(b)).item() == pytest.approx(d * math.log(k), abs=1e-9)


def test_single_class_warns_and_is_zero() -> None:
    probs = torch.softmax(torch.randn(5, 2, 3), -1).requires_grad_()
    with pytest.warns(UserWarning, match="single class"):
        mi = discrete_mi(probs, torch.zeros(5, dtype=torch.long))
    assert mi.item() == pytest.approx(0.0, abs=1e-6)
    mi.backward()
    assert torch.isfinite(probs.grad).all()


def test_gradient_finite_at_exact_zeros() -> None:
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], requires_grad=True)
    discrete_mi(probs, torch.tensor([0, 1])).backward()
    assert torch.isfinite(probs.grad).all()


@pytest.mark.parametrize(
    "probs,labels,match",
    [
        (torch.rand(4, 3), torch.zeros(4, dtype=torch.long), r"\(B, d, k\)"),
        (torch.rand(4, 2, 1), torch.zeros(4, dtype=torch.long), "k must be >= 2"),
        (torch.rand(4, 0, 3), torch.zeros(4, dtype=torch.long), "d must be >= 1"),
        (torch.rand(4, 2, 3), torch.zeros(3, dtype=torch.long), "labels must be"),
        (torch.rand(4, 2, 3), torch.tensor([0, 1, -1, 1]), "unlabelled"),
        (torch.rand(4, 2, 3), torch.zeros(4), "integer"),
    ],
)
def test_bad_input(probs: torch.Tensor, labels: torch.Tensor, match: str) -> None:
    with pytest.raises(UserError, match=match):
        discrete_mi(probs, labels)


def test_independence_zero_for_independent_symbols() -> None:
    k = 3
    # one-hot codes covering the full factorial design: dims 0 and 1 are exactly independent
    a, c = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    sym = np.stack([a.ravel(), c.ravel()], 1)
    reg = pairwise_independence(_onehot(sym, k), pairs=torch.tensor([[0, 1], [1, 0]]))
    assert reg.item() == pytest.approx(0.0, abs=1e-12)
    # soft but item-constant distributions: joint = product of marginals
    p = torch.softmax(torch.randn(1, 4, k, dtype=torch.float64), -1).repeat(10, 1, 1)
    assert pairwise_independence(p, n_pairs=5).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 5])
def test_independence_duplicated_dims_is_log_k(k: int) -> None:
    sym = np.arange(4 * k) % k
    p = _onehot(np.stack([sym, sym], 1), k)  # dim 1 duplicates dim 0, uniform over k symbols
    assert pairwise_independence(p, pairs=torch.tensor([[0, 1]])).item() == pytest.approx(math.log(k))
    soft = torch.softmax(torch.randn(30, 1, k, dtype=torch.float64), -1).repeat(1, 2, 1)
    assert pairwise_independence(soft, n_pairs=3).item() > 1e-3


def test_independence_hand_computed() -> None:
    # two items, k=2: dims (0,1) with p = [(1,0),(0.5,0.5)] and [(0,1),(0,1)]
    p = torch.tensor([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    joint = np.array([[0.25, 0.25], [0.0, 0.5]])
    prod = np.outer([0.5, 0.5], [0.25, 0.75])
    nz = joint > 0
    want = float((joint[nz] * np.log(joint[nz] / prod[nz])).sum())
    assert pairwise_independence(p, pairs=torch.tensor([[0, 1]])).item() == pytest.approx(want)


def test_sample_pairs_distinct_and_seeded() -> None:
    a = sample_pairs(5, 200, torch.Generator().manual_seed(3))
    b = sample_pairs(5, 200, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert (a[:, 0] != a[:, 1]).all() and a.min() >= 0 and a.max() < 5
    assert len({tuple(r) for r in a.tolist()}) == 20  # every ordered pair of 5 dims appears


def test_independence_bad_input_and_d1() -> None:
    p = torch.softmax(torch.randn(4, 3, 2), -1)
    with pytest.raises(UserError, match="different dimensions"):
        pairwise_independence(p, pairs=torch.tensor([[1, 1]]))
    with pytest.raises(UserError, match="exactly one"):
        pairwise_independence(p)
    with pytest.raises(UserError, match=r"\[0, 3\)"):
        pairwise_independence(p, pairs=torch.tensor([[0, 3]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pairwise_independence(p[:, :1], n_pairs=4).item() == 0.0
