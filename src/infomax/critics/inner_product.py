"""The inner-product critic T(x, y) = x . y (CPC/InfoNCE with shared embeddings, Deep InfoMax's dot)."""

from __future__ import annotations

from torch import Tensor, nn

from infomax.critics._check import check_pair
from infomax.errors import UserError


class InnerProductCritic(nn.Module):
    """``scores[i, j] = x_i . y_j``; no parameters.

    Example:
        >>> import torch
        >>> InnerProductCritic()(torch.eye(2), torch.ones(3, 2)).shape
        torch.Size([2, 3])
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(N, D), (M, D) -> (N, M)."""
        check_pair(x, y)
        if x.shape[1] != y.shape[1]:
            raise UserError(f"inner-product critic needs equal sizes, got {x.shape[1]} and {y.shape[1]}")
        return x @ y.T  # (N, M)
