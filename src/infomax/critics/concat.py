"""The concat (joint) critic T(x, y) = MLP([x, y]) over all pairs (MINE, Belghazi et al. 2018;
Poole et al. 2019's "concat" critic)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from infomax.critics._check import check_pair
from infomax.critics._mlp import activation as activation_module
from infomax.critics._mlp import mlp
from infomax.errors import UserError


class ConcatCritic(nn.Module):
    """``scores[i, j] = f([x_i, y_j])`` with an MLP f, evaluated on all N x M pairs.

    Memory-conscious: the first layer ``W [x; y] + b = W_x x + W_y y + b`` is applied to x and y
    separately and broadcast to the (N, M, H) pre-activations, so the (N*M, Dx+Dy) concatenation is
    never built. Cost and activations are still O(N*M*H); for large N score it in row chunks with
    :func:`infomax.bounds.chunked`.

    Args:
        x_dim: features of x.
        y_dim: features of y.
        hidden: hidden widths (at least one layer; Poole et al.'s concat critic: (256,)).
        activation: hidden activation name.
        dropout: dropout after every hidden activation, in [0, 1) (0: none).

    Example:
        >>> import torch
        >>> ConcatCritic(3, 2, hidden=(8,))(torch.randn(4, 3), torch.randn(5, 2)).shape
        torch.Size([4, 5])
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden: Sequence[int] = (256,),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not hidden:
            raise UserError("ConcatCritic needs at least one hidden layer")
        self.x_dim, self.y_dim = int(x_dim), int(y_dim)
        self.first = nn.Linear(self.x_dim + self.y_dim, hidden[0])  # acts on [x, y]
        self.act = activation_module(activation)
        self.rest = mlp(hidden[0], hidden[1:], 1, activation, dropout)  # checks dropout
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(N, Dx), (M, Dy) -> (N, M), ``scores[i, j] = f([x_i, y_j])``."""
        check_pair(x, y, self.x_dim, self.y_dim)
        w_x, w_y = self.first.weight[:, : self.x_dim], self.first.weight[:, self.x_dim :]  # (H, Dx), (H, Dy)
        pre = (x @ w_x.T)[:, None, :] + (y @ w_y.T + self.first.bias)[None, :, :]  # (N, M, H)
        return self.rest(self.drop(self.act(pre))).squeeze(-1)  # (N, M)
