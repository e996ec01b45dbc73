"""Fixtures for the bound tests: a hand-checkable asymmetric 3x3 score matrix and Gaussian scores
with a known optimal critic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch


@pytest.fixture
def s3() -> torch.Tensor:
    """Asymmetric 3x3 scores, S[i, j] = T(x_i, y_j), float64; S != S.T."""
    return torch.tensor([[1.0, 2.0, 0.0], [0.5, 3.0, -1.0], [2.0, 1.0, 0.5]], dtype=torch.float64)


def _gaussian_pmi(n: int, rho: float, seed: int = 0) -> tuple[torch.Tensor, float]:
    g = np.random.default_rng(seed)
    x = g.standard_normal(n)
    y = rho * x + np.sqrt(1 - rho**2) * g.standard_normal(n)
    v = 1 - rho**2
    pmi = -0.5 * np.log(v) - (y[None, :] - rho * x[:, None]) ** 2 / (2 * v) + y[None, :] ** 2 / 2
    return torch.tensor(pmi), float(-0.5 * np.log(1 - rho**2))


@pytest.fixture
def gaussian_pmi() -> Callable[..., tuple[torch.Tensor, float]]:
    """``f(n, rho, seed=0) -> (scores (n, n), true MI)``: scores[i, j] = log p(y_j | x_i) / p(y_j) for n
    samples of a 1-d Gaussian pair with correlation rho (the optimal critic), MI = -log(1 - rho^2) / 2."""
    return _gaussian_pmi
