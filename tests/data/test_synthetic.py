"""Known-MI synthetic tasks: closed forms, sampling statistics, invariance under invertible maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.data.synthetic import (
    STAIRCASE_LEVELS,
    TRANSFORMS,
    mi_to_rho,
    rho_to_mi,
    sample_correlated_gaussian,
    sample_correlated_gaussian_np,
    sample_student_t,
    staircase_mi,
    staircase_rho,
    student_t_mi,
)
from infomax.errors import UserError


def test_rho_to_mi_hand_computed() -> None:
    # -d/2 log(1 - rho^2): rho = 0.6 -> 1 - 0.36 = 0.64; d = 5 -> -2.5 * log(0.64)
    assert rho_to_mi(0.6, 5) == pytest.approx(-2.5 * math.log(0.64), rel=1e-12)
    assert rho_to_mi(0.0, 7) == 0.0
    # per-coordinate rhos add up; zeros contribute nothing (sparse dependence)
    assert rho_to_mi([0.6, 0.0, 0.8]) == pytest.approx(-0.5 * (math.log(0.64) + math.log(0.36)))


@pytest.mark.parametrize(("mi", "d"), [(0.01, 1), (1.0, 1), (1.0, 5), (2.0, 20), (10.0, 20), (40.0, 20)])
def test_mi_rho_round_trip(mi: float, d: int) -> None:
    rho = mi_to_rho(mi, d)
    assert 0.0 < rho < 1.0
    assert rho_to_mi(rho, d) == pytest.approx(mi, rel=1e-9)


def test_staircase_schedule() -> None:
    assert STAIRCASE_LEVELS == (2.0, 4.0, 6.0, 8.0, 10.0)
    steps = [0, 3999, 4000, 7999, 8000, 12000, 16000, 19999, 25000]
    assert [staircase_mi(s) for s in steps] == [2, 2, 4, 4, 6, 8, 10, 10, 10]
    assert staircase_mi(5, levels=(1.0, 3.0), steps_per_level=5) == 3.0
    # the published per-dimension correlation for 2 nats at d = 20
    assert staircase_rho(0) == pytest.approx(math.sqrt(1 - math.exp(-0.2)), rel=1e-12)
    assert rho_to_mi(staircase_rho(19999), 20) == pytest.approx(10.0)


def test_empirical_correlation_matches_rho() -> None:
    g = torch.Generator().manual_seed(1)
    rho = [0.9, 0.5, 0.0]
    x, y = sample_correlated_gaussian(200_000, 3, rho, generator=g, dtype=torch.float64)
    c = np.corrcoef(x.numpy().T, y.numpy().T)  # (6, 6)
    # 200k samples: the standard error of a correlation is (1 - rho^2)/sqrt(n) <= 0.0023
    np.testing.assert_allclose(np.diag(c[:3, 3:]), rho, atol=0.01)
    # coordinates are independent across pairs
    assert abs(c[0, 4]) < 0.01 and abs(c[0, 1]) < 0.01
    np.testing.assert_allclose(x.std(0).numpy(), 1.0, atol=0.01)
    np.testing.assert_allclose(y.std(0).numpy(), 1.0, atol=0.01)


def test_generator_reproducible_and_numpy_twin() -> None:
    a = sample_correlated_gaussian(50, 2, 0.5, generator=torch.Generator().manual_seed(3))
    b = sample_correlated_gaussian(50, 2, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    xn, yn = sample_correlated_gaussian_np(100_000, 2, 0.8, seed=0)
    xn2, _ = sample_correlated_gaussian_np(100_000, 2, 0.8, seed=0)
    np.testing.assert_array_equal(xn, xn2)
    assert np.corrcoef(xn[:, 0], yn[:, 0])[0, 1] == pytest.approx(0.8, abs=0.01)


def _plugin_mi_2d(a: np.ndarray, b: np.ndarray, bins: int = 12) -> float:
    """Plug-in MI of two scalar variables on a quantile (equal-count) histogram."""
    qa = np.quantile(a, np.linspace(0, 1, bins + 1)[1:-1])
    qb = np.quantile(b, np.linspace(0, 1, bins + 1)[1:-1])
    ia, ib = np.searchsorted(qa, a), np.searchsorted(qb, b)
    joint = np.zeros((bins, bins))
    np.add.at(joint, (ia, ib), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa * pb)[nz])).sum())


@pytest.mark.parametrize("name", [t for t in TRANSFORMS if t != "identity"])
def test_invertible_transforms_keep_plugin_mi(name: str) -> None:
    # A quantile-binned plug-in MI depends only on ranks, so a strictly increasing map leaves it
    # EXACTLY unchanged; and it lands near the true MI of 0.51 nats (rho = 0.8, d = 1).
    x, y = sample_correlated_gaussian_np(50_000, 1, 0.8, seed=0)
    _, yt = sample_correlated_gaussian_np(50_000, 1, 0.8, seed=0, transform=name)
    assert not np.allclose(y, yt)
    base = _plugin_mi_2d(x[:, 0], y[:, 0])
    assert _plugin_mi_2d(x[:, 0], yt[:, 0]) == pytest.approx(base, abs=1e-12)
    assert base == pytest.approx(rho_to_mi(0.8, 1), abs=0.05)  # binning loses a little


def test_cube_changes_moments_but_keeps_ranks() -> None:
    _, y = sample_correlated_gaussian_np(100_000, 1, 0.5, seed=2)
    _, yc = sample_correlated_gaussian_np(100_000, 1, 0.5, seed=2, transform="cube")
    np.testing.assert_allclose(yc, y**3)
    # E[z^6] = 15 for a standard normal: the cube is long-tailed
    assert yc.var() == pytest.approx(15.0, rel=0.1)
    np.testing.assert_array_equal(np.argsort(yc[:, 0]), np.argsort(y[:, 0]))


def _log_t_density(z: torch.Tensor, scale: torch.Tensor, dof: float) -> torch.Tensor:
    p = z.shape[1]
    chol = torch.linalg.cholesky(scale)
    q = (z * torch.cholesky_solve(z.T, chol).T).sum(1)  # (n,) Mahalanobis
    return (
        math.lgamma((dof + p) / 2)
        - math.lgamma(dof / 2)
        - p / 2 * math.log(dof * math.pi)
        - torch.log(torch.diag(chol)).sum()
        - (dof + p) / 2 * torch.log1p(q / dof)
    )


@pytest.mark.parametrize(("d", "rho", "dof"), [(1, 0.0, 1.0), (3, 0.5, 4.0)])
def test_student_t_mi_closed_form_matches_monte_carlo(d: int, rho: float, dof: float) -> None:
    # Two implementations agree: the closed form vs the Monte-Carlo mean of the exact log density ratio.
    g = torch.Generator().manual_seed(0)
    x, y = sample_student_t(200_000, d, rho, dof, generator=g, dtype=torch.float64)
    joint = torch.eye(2 * d, dtype=torch.float64)
    for k in range(d):
        joint[k, d + k] = joint[d + k, k] = rho
    eye = torch.eye(d, dtype=torch.float64)
    pmi = _log_t_density(torch.cat([x, y], 1), joint, dof) - _log_t_density(x, eye, dof)
    pmi = pmi - _log_t_density(y, eye, dof)  # (n,) pointwise MI
    se = pmi.std().item() / math.sqrt(len(pmi))
    assert student_t_mi(rho, d, dof) == pytest.approx(pmi.mean().item(), abs=4 * se + 1e-3)
    assert student_t_mi(rho, d, dof) > rho_to_mi(rho, d)  # the shared scale adds dependence


def test_student_t_tends_to_gaussian() -> None:
    assert student_t_mi(0.7, 4, 1e6) == pytest.approx(rho_to_mi(0.7, 4), abs=1e-5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: rho_to_mi(1.0, 2),
        lambda: rho_to_mi([0.1, 0.2], 3),
        lambda: mi_to_rho(-1.0, 2),
        lambda: mi_to_rho(1.0, 0),
        lambda: sample_correlated_gaussian(10, 2, 0.5, transform="square"),
        lambda: staircase_mi(-1),
        lambda: student_t_mi(0.5, 2, 0.0),
    ],
)
def test_bad_arguments_raise_user_error(call) -> None:
    with pytest.raises(UserError):
        call()
