from __future__ import annotations

import math

import pytest
import torch

from infomax.errors import UserError
from infomax.methods.dim_prior import PriorMatching, sample_prior


def test_prior_samples_have_the_right_moments() -> None:
    u = sample_prior("uniform", 20000, 4)
    g = sample_prior("gaussian", 20000, 4)
    assert 0 <= float(u.min()) and float(u.max()) <= 1
    torch.testing.assert_close(u.mean(0), torch.full((4,), 0.5), atol=0.02, rtol=0)
    torch.testing.assert_close(g.std(0), torch.ones(4), atol=0.03, rtol=0)
    with pytest.raises(UserError, match="unknown prior"):
        sample_prior("cauchy", 2, 2)


def test_losses_at_an_uninformed_discriminator_are_log_two() -> None:
    # D == 0 everywhere: BCE of the discriminator is 2 log 2, the generator's softplus(0) = log 2
    pm = PriorMatching(3)
    with torch.no_grad():
        for p in pm.discriminator.parameters():
            p.zero_()
    enc, d = pm(torch.randn(5, 3))
    torch.testing.assert_close(d, torch.tensor(2 * math.log(2)))
    torch.testing.assert_close(enc, torch.tensor(math.log(2)))


def test_gradients_do_not_cross() -> None:
    pm = PriorMatching(3, prior="gaussian")
    y = torch.randn(8, 3, requires_grad=True)
    enc, d = pm(y)
    params = list(pm.discriminator.parameters())
    assert all(g is None for g in torch.autograd.grad(enc, params, retain_graph=True, allow_unused=True))
    assert torch.autograd.grad(d, y, retain_graph=True, allow_unused=True)[0] is None
    assert torch.autograd.grad(enc, y)[0].abs().sum() > 0
