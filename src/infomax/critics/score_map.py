"""A critic whose scores pass through a learned scalar function: T'(x, y) = s + phi(s), s = T(x, y).

A separable critic g(x)^T h(y) is a sum of products, and some log density ratios are not: when a share
``pi`` of the pairs is independent (a mixture of a dependent distribution with ratio r(x, y) and the
product of the marginals), the ratio is ``log((1 - pi) r(x, y) + pi)``, a scalar function of a separable
score but not separable itself. ``ScoreMap`` adds that scalar function, a one-input MLP applied to every
entry of the score matrix, at the cost of one small MLP over N x M scalars. Its output layer starts at
zero, so the wrapped critic starts as it was. Any function of (x, y) is a critic, so every bound computed
from the mapped scores stays a bound.

Example:
    >>> import torch
    >>> from infomax.critics.separable import SeparableCritic
    >>> inner = SeparableCritic(3, 2, hidden=(8,), embed_dim=4)
    >>> c = ScoreMap(inner, hidden=16)
    >>> x, y = torch.randn(5, 3), torch.randn(7, 2)
    >>> c(x, y).shape, torch.equal(c(x, y), inner(x, y))  # the identity until trained
    (torch.Size([5, 7]), True)
"""

from __future__ import annotations

from torch import Tensor, nn

from infomax.critics._mlp import mlp
from infomax.errors import UserError


class ScoreMap(nn.Module):
    """``scores = s + phi(s)`` with ``s = critic(x, y)`` (N, M) and ``phi`` an MLP ``1 -> hidden -> 1``
    applied entry by entry; ``phi``'s output layer is initialised to zero.

    Args:
        critic: any critic, ``(N, Dx), (M, Dy) -> (N, M)``.
        hidden: width of ``phi``'s one hidden layer (>= 1).
        activation: ``phi``'s hidden activation (``infomax.critics._mlp.ACTIVATIONS``' names).
    """

    def __init__(self, critic: nn.Module, hidden: int = 16, activation: str = "gelu") -> None:
        super().__init__()
        if hidden < 1:
            raise UserError(f"hidden must be >= 1, got {hidden}")
        self.critic = critic
        self.phi = mlp(1, (hidden,), 1, activation)
        nn.init.zeros_(self.phi[-1].weight)
        nn.init.zeros_(self.phi[-1].bias)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(N, Dx), (M, Dy) -> (N, M)."""
        s = self.critic(x, y)  # (N, M)
        return s + self.phi(s.unsqueeze(-1)).squeeze(-1)
