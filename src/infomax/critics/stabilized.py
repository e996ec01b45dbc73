"""AMDIM's stabilized score (Bachman et al. 2019, "Learning Representations by Maximizing Mutual
Information Across Views", section 3.3): scaled dot product, L2 penalty, soft tanh clipping."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infomax.critics._check import check_pair
from infomax.errors import UserError


def soft_clip(scores: Tensor, clip: float) -> Tensor:
    """``clip * tanh(scores / clip)``: any shape, values in (-clip, clip), the identity's slope at 0.

    Example:
        >>> soft_clip(torch.tensor([0.0, 10.0, 1000.0]), 20.0)
        tensor([ 0.0000,  9.2423, 20.0000])
    """
    return clip * torch.tanh(scores / clip)


class StabilizedScore(nn.Module):
    """``raw = x y^T / sqrt(D)``; scores ``c * tanh(raw / c)`` in (-c, c); regularizer
    ``l2_weight * mean(raw^2)``.

    API: ``forward(x, y)`` returns only the clipped scores and stores nothing (usable anywhere a critic
    is); :meth:`score_and_penalty` returns ``(scores, penalty)`` so the caller adds the penalty to its
    loss (AMDIM adds it to the minimised loss). No learned parameters.

    Args:
        dim: feature size D of x and y.
        clip: soft-clip level c (> 0), or None for no clipping.
        l2_weight: weight lambda of the raw-score L2 penalty (AMDIM's code: 4e-2 / 5e-2).

    Example:
        >>> import torch
        >>> crit = StabilizedScore(16)
        >>> s, pen = crit.score_and_penalty(torch.randn(4, 16), torch.randn(6, 16))
        >>> s.shape, pen.shape
        (torch.Size([4, 6]), torch.Size([]))
    """

    def __init__(self, dim: int, clip: float | None = 20.0, l2_weight: float = 4e-2) -> None:
        super().__init__()
        if clip is not None and not clip > 0:
            raise UserError(f"clip must be > 0 or None, got {clip}")
        if l2_weight < 0:
            raise UserError(f"l2_weight must be >= 0, got {l2_weight}")
        self.dim, self.clip, self.l2_weight = int(dim), clip, float(l2_weight)

    def score_and_penalty(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(N, D), (M, D) -> (scores (N, M) in (-c, c), penalty scalar ``l2_weight * mean(raw^2)``)."""
        check_pair(x, y, self.dim, self.dim)
        raw = x @ y.T / math.sqrt(self.dim)  # (N, M)
        penalty = self.l2_weight * raw.pow(2).mean()
        scores = raw if self.clip is None else soft_clip(raw, self.clip)
        return scores, penalty

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(N, D), (M, D) -> clipped scores (N, M)."""
        return self.score_and_penalty(x, y)[0]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, clip={self.clip}, l2_weight={self.l2_weight}"
