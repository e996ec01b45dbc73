from __future__ import annotations

import pytest
import torch

from infomax.critics import InnerProductCritic
from infomax.errors import UserError


def test_values_and_convention() -> None:
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    y = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    expect = torch.tensor([[3.0, 3.0, 4.0], [0.0, -1.0, -2.0]])  # scores[i, j] = x_i . y_j
    torch.testing.assert_close(InnerProductCritic()(x, y), expect)


@pytest.mark.parametrize("x,y", [(torch.zeros(2, 3), torch.zeros(2, 4)), (torch.zeros(3), torch.zeros(3, 3))])
def test_bad_shapes(x: torch.Tensor, y: torch.Tensor) -> None:
    with pytest.raises(UserError):
        InnerProductCritic()(x, y)
