from __future__ import annotations

import pytest
import torch

from infomax.critics import BilinearCritic, InnerProductCritic
from infomax.errors import UserError


def test_identity_weight_is_inner_product() -> None:
    x, y = torch.randn(5, 4), torch.randn(6, 4)
    torch.testing.assert_close(BilinearCritic(4, 4)(x, y), InnerProductCritic()(x, y))


def test_general_weight_matches_einsum() -> None:
    crit = BilinearCritic(3, 2)
    with torch.no_grad():
        crit.weight.copy_(torch.randn(3, 2))
    x, y = torch.randn(4, 3), torch.randn(5, 2)
    expect = torch.einsum("id,de,je->ij", x, crit.weight, y)
    torch.testing.assert_close(crit(x, y), expect)
    assert crit(x, y).shape == (4, 5)


def test_wrong_feature_size() -> None:
    with pytest.raises(UserError, match="3 features"):
        BilinearCritic(3, 2)(torch.randn(4, 2), torch.randn(4, 2))
