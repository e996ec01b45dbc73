"""The critic-free estimators (Gaussian copula, KSG); ``combine``: the largest value and its interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infomax.data.synthetic import mi_to_rho, sample_correlated_gaussian_np
from infomax.estimate.nonparam import Z90, combine, gaussian_copula_mi, ksg_mi


@pytest.mark.parametrize(("mi", "d"), [(0.3, 1), (1.0, 3), (2.0, 5)])
def test_gaussian_copula_mi_reads_gaussian_truth(mi: float, d: int) -> None:
    x, y = sample_correlated_gaussian_np(4000, d, mi_to_rho(mi, d), seed=3)
    v, se = gaussian_copula_mi(x, y)
    assert abs(v - mi) < 4 * se + 0.01 and 0 < se < 0.05


def test_gaussian_copula_bias_correction_removes_the_high_dimensional_bias() -> None:
    # independent 20 + 20 dims from 500 samples: the plain plug-in MI is ~ dx dy / (2n) = 0.4 nats high
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((500, 20)), rng.standard_normal((500, 20))
    v, _ = gaussian_copula_mi(x, y)
    c = np.cov(np.concatenate([x, y], 1), rowvar=False)
    logdet = [np.linalg.slogdet(m)[1] for m in (c[:20, :20], c[20:, 20:], c)]
    plug_in = 0.5 * (logdet[0] + logdet[1] - logdet[2])
    assert plug_in > 0.3 and abs(v) < 0.05


@pytest.mark.parametrize(("mi", "d"), [(0.5, 1), (1.0, 2)])
def test_ksg_reads_gaussian_truth(mi: float, d: int) -> None:
    x, y = sample_correlated_gaussian_np(3000, d, mi_to_rho(mi, d), seed=4)
    v, se = ksg_mi(x, y, k=5)
    assert abs(v - mi) < 0.05 and 0 < se < 0.05


def test_ksg_sees_non_gaussian_dependence_the_copula_misses() -> None:
    # Y = X^2 + noise: no correlation, clear dependence
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 1))
    y = x**2 + 0.1 * rng.standard_normal((3000, 1))
    assert gaussian_copula_mi(x, y)[0] < 0.05 and ksg_mi(x, y)[0] > 1.0


def test_combine_reports_the_largest_and_widens_by_the_spread() -> None:
    name, v, se, (lo, hi) = combine({"gaussian": (0.2, 0.01), "ksg": (0.5, 0.02), "critic": (math.nan, 0.1)})
    assert (name, v, se) == ("ksg", 0.5, 0.02)
    assert lo == pytest.approx(0.5 - Z90 * 0.02) and hi == pytest.approx(0.5 + Z90 * 0.02 + 0.3)
    one = combine({"a": (1.0, 0.1)}, bias_allowance=2.0)[3]  # one estimator: no spread, noise only
    assert one == pytest.approx((1.0 - Z90 * 0.1, 1.0 + Z90 * 0.1))
    assert combine({"a": (math.nan, 0.1)})[0] == ""
    # a reading left out of the maximum still widens the interval by how far below it sits
    assert combine({"a": (1.0, 0.0)}, also_spread=(0.6, math.nan))[3] == pytest.approx((1.0, 1.4))
    assert combine({"a": (1.0, 0.0)}, also_spread=(-3.0,))[3] == pytest.approx((1.0, 2.0))  # below 0: as 0
