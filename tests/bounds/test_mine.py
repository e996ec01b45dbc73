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


def test_batch_partition_is_clipped_before_the_average(s3: torch.Tensor) -> None:
    """A batch whose mean_neg e^s is 1e13 enters the average as 1e4 (the default range)."""
    d = 0.9
    mine = MINE(ema_decay=d).double()
    mine(s3.clone().requires_grad_(True))
    m1 = float(np.exp(s3.numpy()[~np.eye(3, dtype=bool)]).mean())
    s = (s3 + 30.0).clone().requires_grad_(True)  # partition ~ e^30 m1
    mine(s)
    assert float(mine.log_ema.exp()) == pytest.approx(d * m1 + (1 - d) * 1e4, rel=1e-10)


def test_unclipped_average_follows_the_outlier(s3: torch.Tensor) -> None:
    d = 0.9
    mine = MINE(ema_decay=d, partition_range=None).double()
    mine(s3.clone().requires_grad_(True))
    mine((s3 + 30.0).clone().requires_grad_(True))
    m = np.exp(s3.numpy()[~np.eye(3, dtype=bool)]).mean()
    assert float(mine.log_ema) == pytest.approx(float(np.log(d * m + (1 - d) * m * np.exp(30.0))), rel=1e-10)


def test_after_an_outlier_batch_the_negatives_are_still_pushed_down(s3: torch.Tensor) -> None:
    """The failure the clip prevents: after one batch at +30 the unclipped average is ~e^27.7 times the
    next ordinary batch's partition, so that batch's negative gradient all but vanishes (the runaway seen
    on the cubic staircase); clipped, it stays within 1e4 / e^1 of DV's."""
    grads = {}
    for rng in ((1e-4, 1e4), None):
        mine = MINE(ema_decay=0.9, partition_range=rng).double()
        mine((s3 + 30.0).clone().requires_grad_(True))
        s = (s3 + 1.0).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(mine(s), s)
        grads[rng] = g.numpy()[~np.eye(3, dtype=bool)]
    dv_neg = _dv_grad(s3 + 1.0).numpy()[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(grads[None]) < 1e-10 * np.abs(dv_neg))
    ratio = grads[(1e-4, 1e4)] / dv_neg
    assert np.all((ratio > 1e-5) & (ratio <= 1.0))


@pytest.mark.parametrize("bad", [(0.0, 1.0), (2.0, 1.0), (1.0, float("inf"))])
def test_bad_partition_range(bad: tuple[float, float]) -> None:
    with pytest.raises(UserError, match="partition_range"):
        MINE(partition_range=bad)


def test_a_runaway_partition_keeps_a_capped_negative_gradient(s3: torch.Tensor) -> None:
    """Negatives e^40 above the average: the factor on DV's negative gradient is capped at e^20, finite and
    not zero (clamping the exponent itself would zero the gradient exactly there)."""
    mine = MINE(ema_decay=0.9).double()
    mine(s3.clone().requires_grad_(True))
    s = s3.clone()
    off = ~torch.eye(3, dtype=torch.bool)
    s[off] += 40.0
    s.requires_grad_(True)
    (g,) = torch.autograd.grad(mine(s), s)
    dv_neg = _dv_grad(s.detach())[off]
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g[off], dv_neg * np.exp(20.0), rtol=1e-9, atol=0)


def test_surrogate_gradient_is_belghazis_below_the_cap() -> None:
    from infomax.bounds.mine import mine_surrogate

    pos = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    lme = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    mine_surrogate(pos, lme, torch.tensor(0.5, dtype=torch.float64)).backward()
    assert float(pos.grad) == 1.0
    assert float(lme.grad) == pytest.approx(-np.exp(1.0), rel=1e-12)
