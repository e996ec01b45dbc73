"""The Frechet distance of FID and classifier-FD (``infomax.evaluation.frechet``) against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.evaluation.frechet import frechet_distance, gaussian_stats


def test_one_dimensional_closed_form():
    # W2^2 of N(m1, s1^2), N(m2, s2^2) = (m1 - m2)^2 + (s1 - s2)^2
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    assert d == pytest.approx(9.0 + (2.0 - 0.5) ** 2)


def test_diagonal_and_rotation_invariance():
    rng = np.random.default_rng(0)
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    mu1, mu2 = rng.normal(size=3), rng.normal(size=3)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(np.diag(s1)) - np.sqrt(np.diag(s2))) ** 2).sum()
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # the distance is invariant under a rotation of both
    assert frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T) == pytest.approx(expected)


def test_stats_of_samples():
    f = np.random.default_rng(1).normal(2.0, 3.0, size=(20000, 2))
    mu, cov = gaussian_stats(f)
    np.testing.assert_allclose(mu, [2.0, 2.0], atol=0.1)
    np.testing.assert_allclose(cov, 9.0 * np.eye(2), atol=0.3)
    with pytest.raises(UserError):
        gaussian_stats(np.zeros(3))
