"""The early-stopped Donsker-Varadhan critic shared by MINE and NDM (``infomax.evaluation.dv_critic``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.errors import UserError
from infomax.evaluation.dv_critic import (
    DVSchedule,
    dv_estimate,
    dv_value,
    logmeanexp,
    standardize,
    train_dv_critic,
)
from infomax.evaluation.mine import MineCritic, shuffle_pairs


def gaussian_pairs(n: int, d: int, rho: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=g)
    return x, y


def test_dv_value_hand_computed():
    t_p = torch.tensor([1.0, 3.0])
    t_q = torch.tensor([0.0, math.log(3.0)])
    assert float(dv_value(t_p, t_q)) == pytest.approx(2.0 - math.log(2.0))  # mean 2, log((1 + 3) / 2)
    assert float(logmeanexp(torch.full((5,), 7.0))) == pytest.approx(7.0)
    # no overflow: log((e^1000 + e^990) / 2) = 1000 + log(1 + e^-10) - log 2
    big = float(logmeanexp(torch.tensor([1000.0, 990.0])))
    assert big == pytest.approx(1000 + math.log1p(math.exp(-10)) - math.log(2), abs=1e-4)


def test_standardize_uses_training_statistics():
    train = np.array([[0.0, 5.0], [2.0, 5.0]])  # column 1 constant: centred only
    a, b = standardize(train, np.array([[4.0, 6.0]]))
    assert a.tolist() == [[-1.0, 0.0], [1.0, 0.0]] and b.tolist() == [[3.0, 1.0]]
    assert a.dtype == torch.float32


def test_untrained_critic_estimates_exactly_zero():
    x, y = gaussian_pairs(50, 2, 0.9)
    assert dv_estimate(MineCritic((2,), 2, hidden=8), (x, y), shuffle_pairs) == 0.0


@pytest.mark.parametrize(
    "kw",
    [{"steps": 0}, {"batch_size": 1}, {"eval_every": 0}, {"patience": 0}, {"n_rounds": 0},
     {"val_fraction": 1.0}, {"lr_final": 0.0}, {"ema_rate": 1.0}],
    ids=["steps", "batch_size", "eval_every", "patience", "n_rounds", "val_fraction", "lr_final", "ema_rate"],
)
def test_schedule_rejects_bad_settings(kw):
    with pytest.raises(UserError, match=next(iter(kw))):
        DVSchedule(**kw)


def test_train_dv_critic_needs_two_rows_each():
    x, y = gaussian_pairs(3, 1, 0.5)
    with pytest.raises(UserError, match="validation rows"):
        train_dv_critic(MineCritic((1,), 1, 4), (x[:2], y[:2]), (x[2:], y[2:]), shuffle_pairs)


def test_early_stopping_restores_the_best_validation_critic():
    x, y = gaussian_pairs(300, 2, 0.8)
    p_fit, p_val = (x[:60], y[:60]), (x[60:], y[60:])  # few fit rows: the critic overfits them

    def flip(p):  # a fixed pairing, so the validation value can be recomputed exactly
        return p[0], p[1].flip(0)

    torch.manual_seed(0)
    critic = MineCritic((2,), 2, hidden=256)
    schedule = DVSchedule(steps=3000, lr=1e-2, lr_final=1e-2, eval_every=20, patience=5)
    t = train_dv_critic(critic, p_fit, p_val, flip, schedule)
    assert 0 < t.best_step and t.steps_run == t.best_step + 5 * 20 < 3000  # stopped 5 checks after the best
    assert t.best_val > 0.3
    assert dv_estimate(critic, p_val, flip, n_rounds=1) == pytest.approx(t.best_val, abs=1e-6)
