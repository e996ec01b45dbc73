from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.bounds import dv, smile
from infomax.errors import UserError


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.5])
def test_hand_computed_3x3(s3: torch.Tensor, tau: float) -> None:
    S = s3.numpy()
    off = np.clip(S[~np.eye(3, dtype=bool)], -tau, tau)  # only the negative term is clipped
    expect = np.mean(np.diag(S)) - np.log(np.mean(np.exp(off)))
    assert float(smile(s3, tau=tau)) == pytest.approx(expect, abs=1e-12)


def test_no_tau_is_dv(s3: torch.Tensor) -> None:
    assert float(smile(s3, tau=None)) == pytest.approx(float(dv(s3)), abs=1e-12)


def test_large_tau_is_dv(s3: torch.Tensor) -> None:
    assert float(smile(s3, tau=50.0)) == pytest.approx(float(dv(s3)), abs=1e-12)


def test_bad_tau() -> None:
    with pytest.raises(UserError, match="tau"):
        smile(torch.randn(3, 3), tau=0.0)
