from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.bounds import dv, nwj


def test_hand_computed_3x3(s3: torch.Tensor) -> None:
    S = s3.numpy()
    off = S[~np.eye(3, dtype=bool)]
    assert float(dv(s3)) == pytest.approx(np.mean(np.diag(S)) - np.log(np.mean(np.exp(off))), abs=1e-12)


@pytest.mark.parametrize("n,scale,seed", [(2, 1.0, 0), (8, 3.0, 1), (40, 0.3, 2)])
def test_dv_at_least_nwj(n: int, scale: float, seed: int) -> None:
    s = scale * torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert float(dv(s)) >= float(nwj(s)) - 1e-12


def test_dv_is_shift_invariant_nwj_is_not(s3: torch.Tensor) -> None:
    assert float(dv(s3 + 2.5)) == pytest.approx(float(dv(s3)), abs=1e-12)
    assert float(nwj(s3 + 2.5)) != pytest.approx(float(nwj(s3)), abs=1e-3)


def test_optimal_critic_recovers_known_mi(gaussian_pmi) -> None:
    scores, mi = gaussian_pmi(2000, 0.6)
    assert float(dv(scores)) == pytest.approx(mi, abs=0.05)
