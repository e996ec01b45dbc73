"""Critics: ``nn.Module``s that only produce score matrices, ``(N, Dx), (M, Dy) -> (N, M)`` with
``scores[i, j] = T(x_i, y_j)``.

``CRITICS`` maps names to classes (for the CLI and ``estimate_mi``).

Example:
    >>> import torch
    >>> from infomax.critics import CRITICS
    >>> critic = CRITICS["separable"](x_dim=3, y_dim=3, hidden=(16,), embed_dim=8)
    >>> critic(torch.randn(5, 3), torch.randn(5, 3)).shape
    torch.Size([5, 5])
"""

from __future__ import annotations

from torch import nn

from infomax.critics.bilinear import BilinearCritic
from infomax.critics.concat import ConcatCritic
from infomax.critics.inner_product import InnerProductCritic
from infomax.critics.score_map import ScoreMap
from infomax.critics.separable import SeparableCritic
from infomax.critics.stabilized import StabilizedScore, soft_clip

#: name -> critic class.
CRITICS: dict[str, type[nn.Module]] = {
    "inner": InnerProductCritic,
    "bilinear": BilinearCritic,
    "separable": SeparableCritic,
    "concat": ConcatCritic,
    "stabilized": StabilizedScore,
}

__all__ = [
    "CRITICS",
    "BilinearCritic",
    "ConcatCritic",
    "InnerProductCritic",
    "ScoreMap",
    "SeparableCritic",
    "StabilizedScore",
    "soft_clip",
]
