from __future__ import annotations

import math

import pytest
import torch

from infomax.critics import ScoreMap, SeparableCritic
from infomax.errors import UserError


def _inner() -> SeparableCritic:
    torch.manual_seed(0)
    return SeparableCritic(3, 2, hidden=(8,), embed_dim=4)


def test_identity_until_trained() -> None:
    inner = _inner()
    crit = ScoreMap(inner, hidden=5)
    x, y = torch.randn(6, 3), torch.randn(4, 2)
    assert torch.equal(crit(x, y), inner(x, y))


def test_each_entry_through_the_scalar_map_by_hand() -> None:
    crit = ScoreMap(_inner(), hidden=2, activation="tanh")
    first, last = crit.phi[0], crit.phi[2]
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[0.5], [-1.0]]))
        first.bias.copy_(torch.tensor([0.1, 0.2]))
        last.weight.copy_(torch.tensor([[2.0, 3.0]]))
        last.bias.copy_(torch.tensor([-0.5]))
    x, y = torch.randn(3, 3), torch.randn(5, 2)
    s = crit.critic(x, y).detach()
    out = crit(x, y).detach()
    for i in range(3):
        for j in range(5):
            v = float(s[i, j])
            expect = v + 2.0 * math.tanh(0.5 * v + 0.1) + 3.0 * math.tanh(-v + 0.2) - 0.5
            assert float(out[i, j]) == pytest.approx(expect, rel=1e-5, abs=1e-5)


def test_gradients_reach_both_parts() -> None:
    crit = ScoreMap(_inner(), hidden=4)
    crit(torch.randn(5, 3), torch.randn(5, 2)).sum().backward()
    assert crit.phi[-1].weight.grad is not None and crit.phi[-1].weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in crit.critic.parameters())


def test_bad_width() -> None:
    with pytest.raises(UserError, match="hidden"):
        ScoreMap(_inner(), hidden=0)
