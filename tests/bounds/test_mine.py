from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.bounds import MINE, dv
from infomax.errors import UserError


def _dv_grad(s: torch.Tensor) -> torch.Tensor:
    s = s.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(dv(s), s)
    return g


def test_first_call_is_dv_value_and_gradient(s3: torch.Tensor) -> None:
    mine = MINE(ema_decay=0.9)
    s = s3.clone().requires_grad_(True)
    v = mine(s)
    (g,) = torch.autograd.grad(v, s)
    assert float(v.detach()) == pytest.approx(float(dv(s3)), abs=1e-12)
    torch.testing.assert_close(g, _dv_grad(s3))


def test_second_call_uses_moving_average(s3: torch.Tensor) -> None:
    """Gradient of the negatives: -e^{s_ij} / (n_neg * ema) with ema = d * m1 + (1 - d) * m2."""
    d = 0.9
    mine = MINE(ema_decay=d).double()
    mine(s3.clone().requires_grad_(True))
    s2 = s3 * 0.5 + 1.0
    s = s2.clone().requires_grad_(True)
    v = mine(s)
    (g,) = torch.autograd.grad(v, s)
    off = ~np.eye(3, dtype=bool)
    m1, m2 = np.exp(s3.numpy()[off]).mean(), np.exp(s2.numpy()[off]).mean()
    ema = d * m1 + (1 - d) * m2
    expect = np.where(off, -np.exp(s2.numpy()) / (6 * ema), 1 / 3)
    assert float(v.detach()) == pytest.approx(float(dv(s2)), abs=1e-12)  # value: DV on this batch
    np.testing.assert_allclose(g.numpy(), expect, atol=1e-12)
    assert float(mine.log_ema.exp()) == pytest.approx(ema, rel=1e-12)
    # DV's negative gradient, rescaled by m2 / ema: the documented difference
    np.testing.assert_allclose(g.numpy()[off], _dv_grad(s2).numpy()[off] * m2 / ema, atol=1e-12)
    assert not np.allclose(g.numpy(), _dv_grad(s2).numpy())


def test_eval_mode_does_not_update(s3: torch.Tensor) -> None:
    mine = MINE().double()
    mine(s3.clone().requires_grad_(True))
    before = mine.log_ema.clone()
    mine.eval()
    v = mine(s3 + 3.0)
    assert torch.equal(mine.log_ema, before)
    assert float(v) == pytest.approx(float(dv(s3)), abs=1e-12)
    assert "log_ema" in mine.state_dict()


def test_bad_decay() -> None:
    with pytest.raises(UserError, match="ema_decay"):
        MINE(ema_decay=1.0)
