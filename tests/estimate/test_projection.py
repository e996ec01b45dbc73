"""The canonical projection that the projected critic of ``estimate_mi`` reads (issue 20)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infomax.estimate import estimate_mi
from infomax.estimate.projection import canonical_projection


def _planted(n: int, k: int, d: int = 12, noise: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x, y (n, d): k shared Gaussian factors, in the first k columns of x and the last k of y; every other
    column independent noise. Canonical correlations 1 / sqrt(1 + noise^2) (k of them), then 0."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    x = np.hstack([z, rng.standard_normal((n, d - k))])
    y = np.hstack([rng.standard_normal((n, d - k)), z + noise * rng.standard_normal((n, k))])
    return x, y


def test_correlations_match_the_eigenvalue_reference() -> None:
    # independent reference: the squared canonical correlations are the eigenvalues of
    # Cxx^-1 Cxy Cyy^-1 Cyx (no whitening, no SVD)
    x, y = _planted(4000, 3)
    wx, wy, r = canonical_projection(x, y)
    c = np.cov(np.hstack([x, y]).T)
    cxx, cxy, cyy = c[:12, :12], c[:12, 12:], c[12:, 12:]
    ev = np.sort(np.linalg.eigvals(np.linalg.solve(cxx, cxy) @ np.linalg.solve(cyy, cxy.T)).real)[::-1]
    np.testing.assert_allclose(r, np.sqrt(ev[: len(r)]), rtol=1e-8)


def test_variates_are_white_and_pairwise_correlated_by_r() -> None:
    x, y = _planted(4000, 2)
    wx, wy, r = canonical_projection(x, y)
    u, v = (x - x.mean(0)) @ wx, (y - y.mean(0)) @ wy  # (n, m) each
    c = np.cov(np.hstack([u, v]).T)
    m = len(r)
    np.testing.assert_allclose(c[:m, :m], np.eye(m), atol=1e-8)  # unit variance, uncorrelated
    np.testing.assert_allclose(c[m:, m:], np.eye(m), atol=1e-8)
    np.testing.assert_allclose(c[:m, m:], np.diag(r), atol=1e-8)  # the i-th pair correlates by r_i only


@pytest.mark.parametrize("k", [1, 2, 3])
def test_keeps_the_planted_directions_only(k: int) -> None:
    # the planted correlations are 1 / sqrt(1.25) = 0.894; the noise ones stay below 1.5 x the noise level
    # sqrt(12/4000) + sqrt(12/4000) = 0.11
    x, y = _planted(4000, k)
    _, _, r = canonical_projection(x, y)
    assert len(r) == k
    np.testing.assert_allclose(r, 1 / math.sqrt(1.25), atol=0.02)


def test_independent_sides_keep_one_direction() -> None:
    rng = np.random.default_rng(1)
    wx, wy, r = canonical_projection(rng.standard_normal((3000, 10)), rng.standard_normal((3000, 8)))
    assert wx.shape == (10, 1) and wy.shape == (8, 1) and r[0] < 0.15


def test_auto_adds_the_projected_critic_in_many_dimensions() -> None:
    # 11 + 11 columns (dx + dy > 20, so no KSG): two planted factors, true MI 2 x 0.5 log(1.25 / 0.25)
    # = 1.609 nats; the critic on the 2 canonical directions (and the radial features) reads it
    x, y = _planted(2000, 2, d=11)
    true = 2 * 0.5 * math.log(1.25 / 0.25)
    e = estimate_mi(x, y, max_steps=300, eval_every=50, hidden=(64, 64), progress=False)
    assert set(e.estimates) == {"gaussian", "radial", "projected", "critic"}
    assert abs(e.estimates["projected"] - true) < 0.15 * true
    # fewer than 10 training rows per input dimension: no projection
    few = estimate_mi(x[:300], y[:300], max_steps=60, eval_every=20, hidden=(32,), progress=False)
    assert "projected" not in few.estimates
