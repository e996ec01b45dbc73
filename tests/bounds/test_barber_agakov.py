from __future__ import annotations

import math

import pytest
import torch

from infomax.bounds import barber_agakov, gaussian_log_likelihood, hybrid_bound, infonce
from infomax.errors import UserError


@pytest.mark.parametrize("sigma", [1.0, 0.3, 2.0])
def test_gaussian_log_likelihood_matches_torch_distributions(sigma: float) -> None:
    x, x_hat = torch.randn(4, 2, 3, dtype=torch.float64), torch.randn(4, 2, 3, dtype=torch.float64)
    expect = torch.distributions.Normal(x_hat, sigma).log_prob(x).reshape(4, -1).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, x_hat, sigma), expect)


def test_ba_is_exact_for_the_true_gaussian_posterior() -> None:
    """X ~ N(0,1), Y = X + N(0, s^2): with the true posterior q(x|y) = N(y/(1+s^2), s^2/(1+s^2)),
    BA = E log q + H(X) equals the true MI 0.5 log(1 + 1/s^2) (up to sampling noise)."""
    g = torch.Generator().manual_seed(0)
    s2 = 0.5
    x = torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    y = x + math.sqrt(s2) * torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    post_mean, post_sd = y / (1 + s2), math.sqrt(s2 / (1 + s2))
    h_x = 0.5 * math.log(2 * math.pi * math.e)
    ba = barber_agakov(gaussian_log_likelihood(x, post_mean, post_sd), h_x)
    assert float(ba) == pytest.approx(0.5 * math.log(1 + 1 / s2), abs=0.01)


def test_hybrid_endpoints_and_midpoint(s3: torch.Tensor) -> None:
    ba, nce = torch.tensor(0.7, dtype=torch.float64), infonce(s3)
    assert float(hybrid_bound(ba, nce, 1.0)) == pytest.approx(0.7)
    assert float(hybrid_bound(ba, nce, 0.0)) == pytest.approx(float(nce))
    assert float(hybrid_bound(ba, nce, 0.25)) == pytest.approx(0.25 * 0.7 + 0.75 * float(nce))


@pytest.mark.parametrize("alpha", [-0.1, 1.1])
def test_hybrid_bad_alpha(alpha: float) -> None:
    with pytest.raises(UserError, match="alpha"):
        hybrid_bound(torch.tensor(0.0), torch.tensor(0.0), alpha)


def test_bad_inputs() -> None:
    with pytest.raises(UserError):
        gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(UserError):
        gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 3), sigma=0.0)
    with pytest.raises(UserError):
        barber_agakov(torch.zeros(2, 3), 1.0)
