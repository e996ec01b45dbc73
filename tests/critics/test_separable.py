from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from infomax.critics import SeparableCritic
from infomax.errors import UserError


def test_dot_of_embeddings_and_shape() -> None:
    crit = SeparableCritic(3, 5, hidden=(7, 6), embed_dim=4)
    x, y = torch.randn(2, 3), torch.randn(9, 5)
    s = crit(x, y)
    assert s.shape == (2, 9)
    torch.testing.assert_close(s, crit.g(x) @ crit.h(y).T)
    assert len([m for m in crit.g if isinstance(m, torch.nn.Linear)]) == 3  # two hidden + output


def test_temperature_is_scaled_cosine() -> None:
    crit = SeparableCritic(3, 3, hidden=(8,), embed_dim=4, temperature=0.1)
    x, y = torch.randn(6, 3), torch.randn(6, 3)
    s = crit(x, y).detach()
    expect = F.cosine_similarity(crit.g(x)[:, None, :], crit.h(y)[None, :, :], dim=-1) / 0.1
    torch.testing.assert_close(s, expect, rtol=1e-5, atol=1e-5)
    assert float(s.abs().max()) <= 10.0 + 1e-4


@pytest.mark.parametrize("act", ["relu", "elu", "tanh"])
def test_activations(act: str) -> None:
    crit = SeparableCritic(2, 2, hidden=(4,), embed_dim=3, activation=act)
    assert crit(torch.randn(3, 2), torch.randn(3, 2)).shape == (3, 3)


def test_bad_options() -> None:
    with pytest.raises(UserError, match="activation"):
        SeparableCritic(2, 2, activation="swishy")
    with pytest.raises(UserError, match="temperature"):
        SeparableCritic(2, 2, temperature=0.0)


def test_dropout_zero_builds_the_same_network() -> None:
    torch.manual_seed(0)
    plain = SeparableCritic(3, 2, hidden=(8, 8), embed_dim=4)
    torch.manual_seed(0)
    zero = SeparableCritic(3, 2, hidden=(8, 8), embed_dim=4, dropout=0.0)
    assert list(plain.state_dict()) == list(zero.state_dict())
    x, y = torch.randn(5, 3), torch.randn(6, 2)
    torch.testing.assert_close(plain(x, y), zero(x, y), rtol=0, atol=0)


def test_dropout_acts_in_training_mode_only() -> None:
    torch.manual_seed(0)
    crit = SeparableCritic(3, 2, hidden=(64, 64), embed_dim=4, dropout=0.5)
    drops = [m for m in crit.g if isinstance(m, torch.nn.Dropout)]
    assert [m.p for m in drops] == [0.5, 0.5]  # one after each hidden activation, none on the output
    x, y = torch.randn(5, 3), torch.randn(6, 2)
    crit.eval()
    # eval mode: the whole network, by hand: Linear-GELU-Linear-GELU-Linear with the dropouts skipped
    lin = [m for m in crit.g if isinstance(m, torch.nn.Linear)]
    hand = lin[2](F.relu(lin[1](F.relu(lin[0](x)))))
    torch.testing.assert_close(crit.g(x), hand)
    torch.testing.assert_close(crit(x, y), crit(x, y), rtol=0, atol=0)
    crit.train()
    torch.manual_seed(1)
    a = crit(x, y)
    torch.manual_seed(2)
    assert not torch.equal(a, crit(x, y))  # a different mask each call


@pytest.mark.parametrize("p", [1.0, -0.5])
def test_bad_dropout(p: float) -> None:
    with pytest.raises(UserError, match=r"dropout must be in \[0, 1\)"):
        SeparableCritic(2, 2, dropout=p)
