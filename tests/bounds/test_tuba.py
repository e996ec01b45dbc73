from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.bounds import nwj, tuba
from infomax.errors import UserError


def test_hand_computed_3x3_per_column_baseline(s3: torch.Tensor) -> None:
    S = s3.numpy()
    lb = np.array([0.3, -0.2, 1.0])
    neg = [np.exp(S[i, j] - lb[j]) for i in range(3) for j in range(3) if i != j]
    expect = np.mean(np.diag(S)) - np.mean(neg) - np.mean(lb) + 1
    assert float(tuba(s3, torch.tensor(lb))) == pytest.approx(expect, abs=1e-12)


@pytest.mark.parametrize("n,seed", [(2, 0), (7, 1), (33, 2)])
def test_nwj_is_tuba_with_baseline_e(n: int, seed: int) -> None:
    s = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2
    assert float(nwj(s)) == pytest.approx(float(tuba(s, 1.0)), abs=1e-12)
    assert float(nwj(s)) == pytest.approx(float(tuba(s, torch.ones(n, dtype=torch.float64))), abs=1e-12)


def test_baseline_gradient_flows() -> None:
    lb = torch.zeros(4, requires_grad=True)
    tuba(torch.randn(4, 4), lb).backward()
    assert lb.grad is not None and torch.all(lb.grad != 0)


def test_bad_baseline_shape() -> None:
    with pytest.raises(UserError, match="log_baseline"):
        tuba(torch.randn(3, 3), torch.zeros(4))


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_negative_term_survives_a_single_overflowing_exp(chunk_size: int | None) -> None:
    # exp(95) overflows float32 (max ~3.4e38) but its mean over the 64*63 negatives (~4.5e37) does not:
    # the bound and its gradient must stay finite and match a float64 reference.
    s = torch.zeros(64, 64)
    s[3, 5] = 95.0
    s.requires_grad_(True)
    v = tuba(s, log_baseline=0.0, chunk_size=chunk_size)
    v.backward()
    ref = 0.0 - (torch.tensor(95.0, dtype=torch.float64).exp() + (64 * 63 - 1)) / (64 * 63) + 1.0
    assert torch.isfinite(v) and torch.isfinite(s.grad).all()
    assert v.item() == pytest.approx(float(ref), rel=1e-5)
