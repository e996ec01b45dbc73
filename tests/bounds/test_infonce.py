from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.bounds import infonce


def test_hand_computed_3x3(s3: torch.Tensor) -> None:
    S = s3.numpy()
    rows = [S[i, i] - np.log(np.exp(S[i]).sum()) for i in range(3)]
    assert float(infonce(s3)) == pytest.approx(np.mean(rows) + np.log(3), abs=1e-12)


def test_index_convention_transpose(s3: torch.Tensor) -> None:
    """Rows are x: InfoNCE(S) normalises along rows; InfoNCE(S.T) along the columns of S."""
    S = s3.numpy()
    cols = [S[j, j] - np.log(np.exp(S[:, j]).sum()) for j in range(3)]
    assert float(infonce(s3.T)) == pytest.approx(np.mean(cols) + np.log(3), abs=1e-12)
    assert abs(float(infonce(s3)) - float(infonce(s3.T))) > 0.1


@pytest.mark.parametrize("n,scale,seed", [(2, 1.0, 0), (5, 10.0, 1), (16, 100.0, 2), (64, 3.0, 3)])
def test_never_above_log_n(n: int, scale: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    s = scale * torch.randn(n, n, generator=g, dtype=torch.float64)
    assert float(infonce(s)) <= math.log(n) + 1e-12
    s_sep = s + (10 * scale + 40) * torch.eye(n)  # positives far above every negative: at the ceiling
    assert float(infonce(s_sep)) == pytest.approx(math.log(n), abs=1e-9)


def test_optimal_critic_recovers_known_mi(gaussian_pmi) -> None:
    scores, mi = gaussian_pmi(2000, 0.6)  # MI = 0.223 nats << log 2000
    assert float(infonce(scores)) == pytest.approx(mi, abs=0.05)


def test_identity_mask_equals_diagonal(s3: torch.Tensor) -> None:
    eye = torch.eye(3, dtype=torch.bool)
    assert float(infonce(s3, pos_mask=eye)) == pytest.approx(float(infonce(s3)), abs=1e-12)


def test_several_positives_per_row() -> None:
    """Local-DIM layout: 3 images x 2 locations; each positive vs itself + the row's 4 negatives."""
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 6, generator=g, dtype=torch.float64)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    for i in range(3):
        mask[i, 2 * i : 2 * i + 2] = True
    S, M = s.numpy(), mask.numpy()
    terms = []
    for i in range(3):
        negs = S[i][~M[i]]
        for k in np.flatnonzero(M[i]):
            terms.append(S[i, k] - np.log(np.exp(S[i, k]) + np.exp(negs).sum()) + np.log(1 + len(negs)))
    assert float(infonce(s, pos_mask=mask)) == pytest.approx(np.mean(terms), abs=1e-12)
    assert float(infonce(s, pos_mask=mask)) <= math.log(5)


def test_n_negatives_with_equal_negatives() -> None:
    """When a row's negatives are all equal the sample does not matter: n=1 gives a 2-way InfoNCE."""
    c = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    s = c[:, None].expand(3, 3).clone()
    s.diagonal().copy_(torch.tensor([1.0, 2.0, 0.0]))
    expect = np.mean([d - np.logaddexp(d, ci) for d, ci in zip([1.0, 2.0, 0.0], c.tolist(), strict=True)])
    got = infonce(s, n_negatives=1, generator=torch.Generator().manual_seed(0))
    assert float(got) == pytest.approx(expect + math.log(2), abs=1e-12)


def test_n_negatives_all_equals_full(s3: torch.Tensor) -> None:
    assert float(infonce(s3, n_negatives=2)) == pytest.approx(float(infonce(s3)), abs=1e-12)


def test_n_negatives_caps_at_log_1_plus_n() -> None:
    s = torch.randn(32, 32) + 100 * torch.eye(32)
    assert float(infonce(s, n_negatives=3)) == pytest.approx(math.log(4), abs=1e-5)
