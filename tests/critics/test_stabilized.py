from __future__ import annotations

import math

import pytest
import torch

from infomax.critics import StabilizedScore
from infomax.errors import UserError


def test_hand_computed_score_and_penalty() -> None:
    x = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    crit = StabilizedScore(4, clip=1.5, l2_weight=0.1)
    s, pen = crit.score_and_penalty(x, y)
    raw = torch.tensor([[2.0 / 2.0, 0.0]])  # dot / sqrt(4)
    torch.testing.assert_close(s, 1.5 * torch.tanh(raw / 1.5))
    assert float(pen) == pytest.approx(0.1 * (1.0**2 + 0.0) / 2)
    torch.testing.assert_close(crit(x, y), s)


@pytest.mark.parametrize("clip", [1.0, 20.0])
def test_scores_strictly_inside_clip(clip: float) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=g, dtype=torch.float64)
    y = torch.randn(64, 16, generator=g, dtype=torch.float64)
    for scale in (1.0, clip, 1e3):  # raw scores up to ~4 clip at scale=clip: inside; 1e3: saturated
        s = StabilizedScore(16, clip=clip)(scale * x, y)
        assert float(s.abs().max()) <= clip
        if scale <= clip:
            assert float(s.abs().max()) < clip
    assert float(s.abs().max()) > 0.99 * clip  # the large scores do saturate


def test_no_clip_is_scaled_dot() -> None:
    x, y = torch.randn(3, 9), torch.randn(4, 9)
    torch.testing.assert_close(StabilizedScore(9, clip=None)(x, y), x @ y.T / math.sqrt(9))


def test_penalty_gradient_pushes_scores_down() -> None:
    x = torch.randn(5, 8, requires_grad=True)
    y = torch.randn(5, 8)
    _, pen = StabilizedScore(8).score_and_penalty(x, y)
    pen.backward()
    raw = (x @ y.T / math.sqrt(8)).detach()
    expect = 4e-2 * 2 * raw @ y / math.sqrt(8) / 25  # d/dx of l2 * mean(raw^2)
    torch.testing.assert_close(x.grad, expect)


def test_bad_args() -> None:
    with pytest.raises(UserError):
        StabilizedScore(4, clip=0.0)
    with pytest.raises(UserError):
        StabilizedScore(4)(torch.randn(2, 3), torch.randn(2, 3))
