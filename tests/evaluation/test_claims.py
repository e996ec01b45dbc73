"""The claims rule: beats / level / behind beyond two seed-to-seed standard errors, hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.evaluation.claims import compare


@pytest.mark.parametrize(("a", "b", "verdict", "diff", "se"), [
    # a: mean 4, var 1 (ddof=1); b: mean 1, var 0 -> diff 3, se sqrt(1/3) = 0.577, 2 se = 1.155
    ([3.0, 4.0, 5.0], [1.0, 1.0, 1.0], "beats", 3.0, math.sqrt(1 / 3)),
    # mirror image: diff -3
    ([1.0, 1.0, 1.0], [3.0, 4.0, 5.0], "behind", -3.0, math.sqrt(1 / 3)),
    # a: mean 2, var 1; b: mean 1, var 1 -> diff 1, se sqrt(2/3) = 0.816, 2 se = 1.63
    ([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], "level", 1.0, math.sqrt(2 / 3)),
    # boundary: a = [1, 1, 4]: mean 2, squared deviations 1+1+4 = 6, var 3, se sqrt(3/3) = 1; diff = 2 SE
    ([1.0, 1.0, 4.0], [0.0, 0.0, 0.0], "level", 2.0, 1.0),
    # just beyond the boundary: shift a by 0.5 (spread unchanged) -> diff 2.5 > 2
    ([1.5, 1.5, 4.5], [0.0, 0.0, 0.0], "beats", 2.5, 1.0),
    ([-2.5, -2.5, 0.5], [1.0, 1.0, 1.0], "behind", -2.5, 1.0),
    # unequal sizes: a 4 seeds mean 1.5 var 5/3; b 3 seeds mean 0 var 1 -> se sqrt(5/12 + 1/3) = 0.866
    ([0.0, 1.0, 2.0, 3.0], [-1.0, 0.0, 1.0], "level", 1.5, math.sqrt(5 / 12 + 1 / 3)),
])
def test_hand_computed(a, b, verdict, diff, se):
    c = compare(a, b)
    assert c.verdict == verdict
    assert c.diff == pytest.approx(diff, abs=1e-12)
    assert c.se == pytest.approx(se, rel=1e-12)
    assert (c.n_a, c.n_b) == (len(a), len(b))


def test_se_matches_numpy_reference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.02, 5), rng.normal(0.68, 0.03, 9)
    c = compare(list(a), list(b))
    assert c.diff == pytest.approx(a.mean() - b.mean())
    assert c.se == pytest.approx(math.sqrt(a.var(ddof=1) / 5 + b.var(ddof=1) / 9))


@pytest.mark.parametrize(("a", "b"), [
    ([0.9, 0.9], [0.1, 0.1, 0.1]),  # a huge gap, but two seeds on one side
    ([0.9, 0.91, 0.92], [0.1]),
    ([0.9], [0.1]),
])
def test_too_few_seeds(a, b):
    c = compare(a, b)
    assert c.verdict == "not enough seeds"
    assert c.diff == pytest.approx(np.mean(a) - np.mean(b))


@pytest.mark.parametrize(("a", "b"), [
    ([], [1.0, 2.0, 3.0]),
    ([1.0, 2.0, 3.0], []),
    ([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0]),
    ([1.0, 2.0, 3.0], [1.0, float("inf"), 3.0]),
    (["a", "b", "c"], [1.0, 2.0, 3.0]),
])
def test_bad_input_is_user_error(a, b):
    with pytest.raises(UserError):
        compare(a, b)


def test_str_names_verdict_and_seeds():
    assert str(compare([3.0, 4.0, 5.0], [1.0, 1.0, 1.0])) == "beats: +3 +- 0.577 (2 SE = 1.15; 3 vs 3 seeds)"
