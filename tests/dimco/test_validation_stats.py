"""benchmarks/dimco/validation.py: the code statistics that diagnose collapsed, redundant DIMCO codes."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest


@pytest.fixture
def val(bench_script) -> ModuleType:
    return bench_script("dimco", "validation")


def _logprobs(codes: np.ndarray, k: int, p: float = 0.9) -> np.ndarray:
    """(N, d, k) log-probabilities with probability ``p`` on the given symbol, the rest spread evenly."""
    out = np.full(codes.shape + (k,), (1 - p) / (k - 1))
    np.put_along_axis(out, codes[..., None], p, axis=-1)
    return np.log(out)


@pytest.mark.parametrize(
    "codes,k,distinct,h_dim,mi",
    [
        # dim 1 copies dim 0 over 4 equiprobable symbols: H = log 4 each, I(dim0; dim1) = log 4
        (np.array([[0, 0], [1, 1], [2, 2], [3, 3]]), 4, 4, math.log(4), math.log(4)),
        # the 4 combinations of two independent fair bits: I = 0, H = log 2
        (np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), 2, 4, math.log(2), 0.0),
        # three items share one code, one differs in dim 0 only: H(dim0) = H(1/4, 3/4), H(dim1) = 0, I = 0
        (np.array([[0, 1], [0, 1], [0, 1], [1, 1]]), 2, 2,
         0.5 * (0.25 * math.log(4) + 0.75 * math.log(4 / 3)), 0.0),
    ],
)
def test_code_statistics_hand_computed(val, codes, k, distinct, h_dim, mi) -> None:
    s = val.code_statistics(_logprobs(codes, k), n_pairs=10)
    assert s["distinct_codes"] == distinct
    assert s["dim_entropy"] == pytest.approx(h_dim, abs=1e-12)
    assert s["pairwise_mi"] == pytest.approx(mi, abs=1e-12)
    assert s["median_max_prob"] == pytest.approx(0.9)


def test_top_ties_counts_items_sharing_the_best_code(val) -> None:
    # items 0-2 share code (0, 0), item 3 is (1, 1): a query among 0-2 ties with its 2 twins; item 3's
    # best other items are the three (0, 0) codes (equal scores), so the mean is (2 + 2 + 2 + 3) / 4
    lp = _logprobs(np.array([[0, 0], [0, 0], [0, 0], [1, 1]]), 2)
    assert val.top_ties(lp, queries=4) == pytest.approx(9 / 4)
