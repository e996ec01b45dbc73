"""The bilinear critic T(x, y) = x^T W y (CPC's log-bilinear model, van den Oord et al. 2018, eq. 3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from infomax.critics._check import check_pair


class BilinearCritic(nn.Module):
    """``scores[i, j] = x_i^T W y_j`` with a learned W (x_dim, y_dim), initialised to the (rectangular)
    identity so training starts from the inner product.

    Args:
        x_dim: features of x.
        y_dim: features of y.

    Example:
        >>> import torch
        >>> BilinearCritic(4, 3)(torch.randn(5, 4), torch.randn(6, 3)).shape
        torch.Size([5, 6])
    """

    def __init__(self, x_dim: int, y_dim: int) -> None:
        super().__init__()
        self.x_dim, self.y_dim = int(x_dim), int(y_dim)
        self.weight = nn.Parameter(torch.eye(self.x_dim, self.y_dim))  # (Dx, Dy)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(N, Dx), (M, Dy) -> (N, M)."""
        check_pair(x, y, self.x_dim, self.y_dim)
        return (x @ self.weight) @ y.T  # (N, M)

    def extra_repr(self) -> str:
        return f"x_dim={self.x_dim}, y_dim={self.y_dim}"
