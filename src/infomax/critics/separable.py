"""The separable critic T(x, y) = g(x)^T h(y) with MLP embeddings (Poole et al. 2019, section 4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from infomax.critics._check import check_pair
from infomax.critics._mlp import mlp
from infomax.errors import UserError


class SeparableCritic(nn.Module):
    """``scores[i, j] = g(x_i) . h(y_j)``: two MLPs embed x and y, scored by a dot product (cost O(N + M)
    network evaluations for all N x M pairs).

    With ``temperature=t`` the embeddings are L2-normalised first and the cosine similarity divided by t
    (scores in [-1/t, 1/t], as in SimCLR/MoCo); with None the raw dot product is used.

    Args:
        x_dim: features of x.
        y_dim: features of y.
        hidden: hidden layer widths of each MLP (Poole et al.: two layers of 256).
        embed_dim: embedding size (Poole et al.: 32).
        temperature: cosine-similarity temperature (> 0), or None for the plain dot product.
        activation: hidden activation name (see ``infomax.critics._mlp.ACTIVATIONS``).
        dropout: dropout after every hidden activation of both MLPs, in [0, 1) (0: none).

    Example:
        >>> import torch
        >>> c = SeparableCritic(5, 5, hidden=(16,), embed_dim=8)
        >>> c(torch.randn(4, 5), torch.randn(7, 5)).shape
        torch.Size([4, 7])
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden: Sequence[int] = (256, 256),
        embed_dim: int = 32,
        temperature: float | None = None,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if temperature is not None and not temperature > 0:
            raise UserError(f"temperature must be > 0 or None, got {temperature}")
        self.x_dim, self.y_dim = int(x_dim), int(y_dim)
        self.temperature = temperature
        self.g = mlp(x_dim, hidden, embed_dim, activation, dropout)
        self.h = mlp(y_dim, hidden, embed_dim, activation, dropout)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(N, Dx), (M, Dy) -> (N, M)."""
        check_pair(x, y, self.x_dim, self.y_dim)
        gx, hy = self.g(x), self.h(y)  # (N, E), (M, E)
        if self.temperature is not None:
            return F.normalize(gx, dim=1) @ F.normalize(hy, dim=1).T / self.temperature
        return gx @ hy.T  # (N, M)
