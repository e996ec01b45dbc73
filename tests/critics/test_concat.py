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


def test_dropout_is_the_plain_critic_in_eval_mode() -> None:
    torch.manual_seed(0)
    drop = ConcatCritic(3, 2, hidden=(16, 16), dropout=0.4)
    plain = ConcatCritic(3, 2, hidden=(16, 16))
    src = [m for m in drop.modules() if isinstance(m, torch.nn.Linear)]
    dst = [m for m in plain.modules() if isinstance(m, torch.nn.Linear)]
    for a, b in zip(src, dst, strict=True):
        b.load_state_dict(a.state_dict())
    assert sum(isinstance(m, torch.nn.Dropout) for m in drop.modules()) == 2  # after each hidden activation
    x, y = torch.randn(4, 3), torch.randn(5, 2)
    drop.eval()
    torch.testing.assert_close(drop(x, y), plain(x, y))
    drop.train()
    assert not torch.allclose(drop(x, y), plain(x, y))
