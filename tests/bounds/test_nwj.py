from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.bounds import nwj


def test_hand_computed_3x3(s3: torch.Tensor) -> None:
    S = s3.numpy()
    off = S[~np.eye(3, dtype=bool)]
    assert float(nwj(s3)) == pytest.approx(np.mean(np.diag(S)) - np.mean(np.exp(off - 1)), abs=1e-12)


def test_index_convention_mask_rows() -> None:
    """A (2, 3) matrix with an explicit mask: positives/negatives averaged over the marked entries."""
    s = torch.tensor([[1.0, 0.0, 2.0], [3.0, -1.0, 0.5]], dtype=torch.float64)
    mask = torch.tensor([[False, False, True], [True, False, False]])
    expect = (2.0 + 3.0) / 2 - np.mean(np.exp(np.array([1.0, 0.0, -1.0, 0.5]) - 1))
    assert float(nwj(s, pos_mask=mask)) == pytest.approx(expect, abs=1e-12)


def test_optimal_critic_recovers_known_mi(gaussian_pmi) -> None:
    scores, mi = gaussian_pmi(2000, 0.6)
    assert float(nwj(1 + scores)) == pytest.approx(mi, abs=0.05)  # NWJ's optimum is 1 + log p(y|x)/p(y)
