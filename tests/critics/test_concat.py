from __future__ import annotations

import pytest
import torch

from infomax.critics import ConcatCritic
from infomax.errors import UserError


@pytest.mark.parametrize("hidden", [(8,), (8, 5)])
def test_pairing_convention_against_explicit_concatenation(hidden: tuple[int, ...]) -> None:
    """scores[i, j] = f([x_i, y_j]) with f = rest(act(first(.))), evaluated pair by pair."""
    crit = ConcatCritic(3, 2, hidden=hidden)
    x, y = torch.randn(4, 3), torch.randn(5, 2)
    s = crit(x, y)
    assert s.shape == (4, 5)
    for i in range(4):
        for j in range(5):
            ref = crit.rest(crit.act(crit.first(torch.cat([x[i], y[j]]))))
            torch.testing.assert_close(s[i, j], ref[0], rtol=1e-5, atol=1e-6)


def test_asymmetric_in_x_and_y() -> None:
    crit = ConcatCritic(2, 2, hidden=(6,))
    x = torch.randn(3, 2)
    s = crit(x, x)
    assert not torch.allclose(s, s.T)


def test_no_hidden_layer() -> None:
    with pytest.raises(UserError, match="hidden"):
        ConcatCritic(2, 2, hidden=())
