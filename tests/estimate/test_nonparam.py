"""The critic-free estimators (Gaussian copula, KSG, radial KSG); ``combine``: the largest value and its
interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.data.synthetic import mi_to_rho, sample_correlated_gaussian_np, sample_student_t, student_t_mi
from infomax.estimate.data import radial_feature, rank_gauss
from infomax.estimate.nonparam import Z90, combine, gaussian_copula_mi, ksg_mi, radial_mi


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


def test_radial_feature_by_hand_and_invariant_to_column_shift_and_scale() -> None:
    # columns with medians (0, 0) and MADs (1, 2): robust rows (0, 0), (1, 1), (-1, -1), (3, 0), (0, 2.5)
    # have norms 0, 1.41, 1.41, 3, 2.5: ranks 1, 2.5, 2.5, 5, 4 of 5 (unscaled norms would rank 1, 2.5, 2.5,
    # 4, 5)
    a = np.array([[0.0, 0.0], [1.0, 2.0], [-1.0, -2.0], [3.0, 0.0], [0.0, 5.0]])
    want = rank_gauss(np.array([[1.0], [2.5], [2.5], [5.0], [4.0]]))
    np.testing.assert_allclose(radial_feature(a), want)
    np.testing.assert_allclose(radial_feature(a * np.array([10.0, 0.1]) + np.array([5.0, -7.0])), want)
    const = np.c_[a, np.ones(5)]  # a constant column adds nothing
    np.testing.assert_allclose(radial_feature(const), want)


@pytest.mark.parametrize(("d", "dof"), [(2, 2.0), (3, 2.0), (5, 3.0)])
def test_radial_ksg_reads_a_shared_scale_the_others_miss(d: int, dof: float) -> None:
    # Student-t pair with identity dispersion: uncorrelated, dependent only through the shared scale
    # (true MI 0.193, 0.291, 0.299 nats). I(X; Y) = I(|X|; |Y|), so KSG on the two norms reads it; the
    # Gaussian copula reads ~0 and KSG on all 2d columns reads far lower (0.15, 0.18, 0.17 here; the radial
    # KSG 0.200, 0.292, 0.277, standard error 0.013).
    g = torch.Generator().manual_seed(0)
    x, y = (t.numpy() for t in sample_student_t(4000, d, 0.0, dof, generator=g))
    true = student_t_mi(0.0, d, dof)
    v, se = radial_mi(x, y)
    assert abs(v - true) < 3 * se and 0.005 < se < 0.03
    assert gaussian_copula_mi(rank_gauss(x), rank_gauss(y))[0] < 0.02
    assert ksg_mi(rank_gauss(x), rank_gauss(y))[0] < v - 3 * se


def test_radial_ksg_stays_a_lower_bound_where_the_dependence_is_not_radial() -> None:
    # a 3 + 3 Gaussian at 1 nat: the norms carry little of it (the data-processing inequality)
    x, y = sample_correlated_gaussian_np(4000, 3, mi_to_rho(1.0, 3), seed=5)
    assert radial_mi(x, y)[0] < 0.4


def test_combine_keeps_the_radial_reading_out_of_the_spread() -> None:
    # the radial reading (the MI of one feature a side) counts for the maximum, not for the spread
    vals = {"gaussian": (0.9, 0.01), "ksg": (0.7, 0.02), "radial": (0.05, 0.01)}
    name, v, se, (lo, hi) = combine(vals)
    assert (name, v) == ("gaussian", 0.9) and hi == pytest.approx(0.9 + Z90 * 0.01 + 0.2)
    name, v, se, (lo, hi) = combine({"gaussian": (0.01, 0.01), "radial": (0.3, 0.02)})
    assert (name, v) == ("radial", 0.3) and hi == pytest.approx(0.3 + Z90 * 0.02 + 0.29)
    assert combine({"radial": (0.3, 0.0)})[3] == pytest.approx((0.3, 0.3))  # alone: noise only
