from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.evaluation import ndm as ndm_module
from infomax.evaluation.dv_critic import DVSchedule, dv_estimate, train_dv_critic
from infomax.evaluation.ndm import (
    FactorCritic,
    gaussian_total_correlation,
    ndm_fit,
    ndm_protocol,
    ndm_value,
    shuffle_factors,
)
from infomax.evaluation.protocols import PROTOCOLS

#: A quick critic and schedule for the fast tests (the defaults train longer).
FAST_SCHEDULE = DVSchedule(steps=600, batch_size=512, lr=3e-3, lr_final=1e-4)
FAST = {"hidden": 32, "schedule": FAST_SCHEDULE}


def gaussian(n: int, cov: np.ndarray, seed: int = 0) -> torch.Tensor:
    """(n, D) rows of N(0, cov)."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.as_tensor(cov, dtype=torch.float64))
    return (torch.randn(n, len(cov), generator=g, dtype=torch.float64) @ chol.T).float()


def equicorrelated(d: int, r: float) -> np.ndarray:
    cov = np.full((d, d), r)
    np.fill_diagonal(cov, 1.0)
    return cov


def test_shuffle_factors_keeps_marginals_and_breaks_rows():
    torch.manual_seed(0)
    y = torch.arange(200.0).view(100, 2)
    (ys,) = shuffle_factors((y,))
    for j in range(2):
        assert torch.equal(ys[:, j].sort().values, y[:, j])  # same per-factor marginal
    assert (ys[:, 1] - ys[:, 0] != 1).float().mean() > 0.9  # rows no longer paired


def test_gaussian_total_correlation_closed_forms():
    rho = 0.6
    assert gaussian_total_correlation(np.array([[1.0, rho], [rho, 1.0]])) == pytest.approx(
        -0.5 * math.log(1 - rho**2)
    )
    # equicorrelated 4-D: det = (1 - r)^3 (1 + 3r)
    assert gaussian_total_correlation(equicorrelated(4, 0.3)) == pytest.approx(
        -0.5 * math.log(0.7**3 * 1.9)
    )
    assert gaussian_total_correlation(np.diag([1.0, 4.0, 9.0])) == pytest.approx(0.0, abs=1e-12)
    scale = np.diag([0.1, 30.0])  # invariant to per-factor scaling
    cov = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_total_correlation(scale @ cov @ scale) == pytest.approx(gaussian_total_correlation(cov))
    assert gaussian_total_correlation(np.ones((2, 2))) == math.inf  # y2 = y1


def test_untrained_critic_is_zero():
    c = FactorCritic(6, hidden=8)
    assert torch.equal(c(torch.randn(5, 6)), torch.zeros(5))


@pytest.mark.parametrize(("d", "n"), [(2, 3000), (64, 400)])
def test_ndm_near_zero_for_independent_factors(d, n):
    y = gaussian(n + n // 2, np.eye(d))
    fit = ndm_fit(y[:n], y[n:], **FAST)
    assert abs(fit.estimate) < 0.02


def test_overfit_prone_setting_no_large_negative():
    # 64 independent factors, 120 training rows, a big critic: it overfits the rows it sees
    y = gaussian(360, np.eye(64))
    schedule = DVSchedule(steps=400, batch_size=64, lr=3e-3, lr_final=1e-3)
    fit = ndm_fit(y[:120], y[120:], hidden=256, schedule=schedule)  # early-stopped on held-out rows
    assert fit.estimate > -0.05
    # selecting on the training rows themselves (as without a validation split) keeps the overfit critic,
    # whose held-out estimate of a zero KL is far below 0
    torch.manual_seed(0)
    critic = FactorCritic(64, hidden=256)
    training = train_dv_critic(critic, (y[:120],), (y[:120],), shuffle_factors, schedule)
    assert training.best_val > 1.0 and dv_estimate(critic, (y[120:],), shuffle_factors) < -1.0


def test_ndm_recovers_gaussian_total_correlation_2d():
    r = math.sqrt(1 - math.exp(-1.0))  # TC = -0.5 log(1 - r^2) = 0.5 nats
    cov = np.array([[1.0, r], [r, 1.0]])
    y = gaussian(4000, cov, seed=1)
    est = ndm_value(y[:3000], y[3000:], **FAST)
    assert est == pytest.approx(gaussian_total_correlation(cov), abs=0.1)


@pytest.mark.slow
def test_ndm_recovers_gaussian_total_correlation_4d():
    cov = equicorrelated(4, 0.463)  # TC = 0.497 nats
    y = gaussian(8000, cov, seed=2)
    est = np.mean([ndm_value(y[:6000], y[6000:], seed=s, hidden=64) for s in (0, 1)])
    assert est == pytest.approx(gaussian_total_correlation(cov), abs=0.06)


def test_ndm_invariant_to_per_factor_scaling():
    y = gaussian(1500, equicorrelated(3, 0.5), seed=3)
    scale = torch.tensor([1e-3, 1.0, 250.0])
    kw = {"hidden": 32, "schedule": DVSchedule(steps=200, batch_size=512, lr=3e-3, lr_final=1e-4)}
    a = ndm_value(y[:1000], y[1000:], **kw)
    b = ndm_value(y[:1000] * scale, y[1000:] * scale, **kw)
    assert a > 0.1 and b == pytest.approx(a, abs=1e-3)


def test_ndm_clearly_positive_for_duplicated_factors():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 4, generator=g)
    y = torch.cat([z, z + 0.1 * torch.randn(4000, 4, generator=g)], 1)  # each factor duplicated, plus noise
    assert ndm_value(y[:3000], y[3000:], **FAST) > 2.0  # true TC: 4 * -0.5 log(1 - 1/1.01) = 9.2 nats


def test_ndm_protocol(splits, pixel_encoder):
    kw = {"seeds": (0, 1), "steps": 300, "lr": 3e-3, "batch_size": 64, "hidden": 32}
    out = PROTOCOLS["ndm"](pixel_encoder, splits, "pixels", **kw)
    # neighbouring pixels of a band image are strongly dependent
    assert out["ndm"] > 3.0 and out["ndm"] == out["ndm_raw"] and "warning" not in out
    assert len(out["ndm_per_seed"]) == 2 and len(out["best_steps"]) == 2 and out["layer"] == "pixels"
    assert out["tc_gaussian"] > out["ndm"]  # 64 pixels, 200 rows: a near-singular covariance


def test_ndm_protocol_clips_negative_and_warns(monkeypatch):
    # train rows dependent, test rows independent: any trained critic scores below 0 on the test rows
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1000, 2, generator=g)
    f_train = torch.cat([z, z + 0.3 * torch.randn(1000, 2, generator=g)], 1).numpy()
    f_test = torch.randn(500, 4, generator=g).numpy()
    monkeypatch.setattr(ndm_module, "layer_features", lambda *a, **k: ("y", None, None, f_train, f_test))
    out = ndm_protocol(object(), None, seeds=(0,), steps=200, lr=3e-3, hidden=32)
    assert out["ndm_raw"] < -0.1 and out["ndm"] == 0.0 and "< 0" in out["warning"]
    assert out["ndm_per_seed"] == [out["ndm_raw"]]
    cov = np.cov(f_train, rowvar=False)
    assert out["tc_gaussian"] == pytest.approx(gaussian_total_correlation(cov))


def test_seeded():
    y = gaussian(500, equicorrelated(3, 0.6), seed=1)
    kw = {"hidden": 8, "schedule": DVSchedule(steps=40, eval_every=5, lr=1e-2)}
    a = ndm_value(y[:400], y[400:], seed=3, **kw)
    assert a != 0.0 and a == ndm_value(y[:400], y[400:], seed=3, **kw)
    assert a != ndm_value(y[:400], y[400:], seed=4, **kw)
