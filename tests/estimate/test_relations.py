"""infomax.estimate.relations: the exact-relation and column-pair checks on the data."""

from __future__ import annotations

import math

import numpy as np
import pytest

_NOISE = np.random.default_rng(1).standard_normal(400)


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda x: np.exp(-x[:, ::-1]), "y column 0 is an exact monotone function of x column 2 (3 of the 3"),
        (lambda x: np.c_[x[:, 1], _NOISE], "exact monotone function of x column 1 (1 of the 2"),
        (lambda x: x @ np.array([[1.0, 2, 0], [0, 1, 3], [1, 0, 1]]), "exact linear function of the x"),
    ],
)
def test_deterministic_relations_are_found_by_cheap_checks(make, what: str) -> None:
    # a decreasing elementwise map, one duplicated column beside noise, an invertible linear map
    from infomax.estimate.relations import _exact_relation

    x = np.random.default_rng(0).standard_normal((400, 3))
    found = _exact_relation(x, make(x))
    assert found is not None and what in found
    assert _exact_relation(x, np.random.default_rng(2).standard_normal((400, 3))) is None
    # discrete data (ties): X against itself has a finite MI, its entropy, and is not flagged
    k = np.random.default_rng(3).integers(0, 4, (400, 2)).astype(float)
    assert _exact_relation(k, k) is None


def test_pair_check_by_hand() -> None:
    from infomax.estimate.relations import _pair_check

    u = np.tile([1.0, -1.0], 50)  # (100,) orthogonal, zero-mean columns
    v = np.tile([1.0, 1.0, -1.0, -1.0], 25)
    noise = np.random.default_rng(0).standard_normal((100, 2))
    gx = np.c_[noise[:, 0], u]  # x column 1 is u
    gy = np.c_[u + v, noise[:, 1]]  # y column 0 is u + v: correlation with u exactly 1/sqrt(2)
    pc = _pair_check(gx, gy)
    assert (pc["x_column"], pc["y_column"]) == (1, 0)
    assert pc["rank_correlation"] == pytest.approx(1 / math.sqrt(2))
    assert pc["gaussian_mi_nats"] == pytest.approx(0.5 * math.log(2))  # -0.5 log(1 - 1/2)
    assert pc["significant"]  # 0.707 * sqrt(100) = 7.1 > sqrt(2 ln 4) + 3 = 4.67
    assert _pair_check(gx[:40], gy[:40]) is None  # fewer than 50 rows
