from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.bounds import interpolated_nce, nwj, tuba
from infomax.errors import UserError


def _brute_force(S: np.ndarray, alpha: float, lb: np.ndarray) -> float:
    """Poole et al.'s I_alpha with explicit leave-one-out loops (baseline a mean over x: a column)."""
    n = S.shape[0]

    def b(i: int, j: int) -> float:  # baseline for y_j when x_i is held out
        m = np.mean([np.exp(S[k, j]) for k in range(n) if k != i])
        return np.log(alpha * m + (1 - alpha) * np.exp(lb[j]))

    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    joint = np.mean([S[j, j] - b(i, j) for i, j in pairs])
    marg = np.mean([np.exp(S[i, j] - b(j, j)) for i, j in pairs])
    return 1 + joint - marg


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.5, 0.99, 1.0])
def test_hand_computed_3x3(s3: torch.Tensor, alpha: float) -> None:
    lb = np.array([0.3, -0.2, 1.0])
    got = float(interpolated_nce(s3, alpha, log_baseline=torch.tensor(lb)))
    assert got == pytest.approx(_brute_force(s3.numpy(), alpha, lb), abs=1e-10)


def test_alpha_0_is_tuba_and_nwj() -> None:
    s = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lb = torch.linspace(-1, 1, 6, dtype=torch.float64)
    assert float(interpolated_nce(s, 0.0, log_baseline=lb)) == pytest.approx(float(tuba(s, lb)), abs=1e-12)
    assert float(interpolated_nce(s, 0.0)) == pytest.approx(float(nwj(s)), abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n,seed,chunk", [(3, 0, None), (10, 1, None), (10, 2, 3)])
def test_alpha_1_below_log_n_minus_1(n: int, seed: int, chunk: int | None, dtype: torch.dtype) -> None:
    """Separated positives (30 nats) reach the ceiling: the leave-one-out means must not cancel."""
    s = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=dtype) + 30 * torch.eye(n)
    v = float(interpolated_nce(s, 1.0, chunk_size=chunk))
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert v <= math.log(n - 1) + tol
    assert v == pytest.approx(math.log(n - 1), abs=100 * tol)


def test_alpha_1_is_column_infonce_over_n_minus_1(s3: torch.Tensor) -> None:
    """I_1 = mean over (y_j, dropped x_i != x_j) of [s_jj - log mean_{k != i} exp(s_kj)]."""
    S = s3.numpy()
    terms = [
        S[j, j] - np.log(np.mean([np.exp(S[k, j]) for k in range(3) if k != i]))
        for i in range(3)
        for j in range(3)
        if i != j
    ]
    assert float(interpolated_nce(s3, 1.0)) == pytest.approx(np.mean(terms), abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("chunk", [None, 2])
def test_finite_value_and_gradient_for_huge_scores(alpha: float, chunk: int | None) -> None:
    """float32, positives 1000 nats above the negatives: nothing overflows (I_1 sits at log(N - 1))."""
    g0 = torch.Generator().manual_seed(0)
    s = (torch.randn(4, 4, generator=g0) + 1000 * torch.eye(4)).requires_grad_(True)
    v = interpolated_nce(s, alpha, log_baseline=0.0, chunk_size=chunk)
    (g,) = torch.autograd.grad(v, s)
    assert torch.isfinite(v) and torch.isfinite(g).all()
    if alpha == 1.0:
        assert float(v.detach()) == pytest.approx(math.log(3), abs=1e-3)  # float32 eps * 1000


def test_bad_alpha(s3: torch.Tensor) -> None:
    with pytest.raises(UserError, match="alpha"):
        interpolated_nce(s3, 1.5)
