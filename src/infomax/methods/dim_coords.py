"""Deep InfoMax coordinate prediction tasks (paper sec. 4.3, appendix A.7).

Hjelm et al., ICLR 2019. Both tasks maximize a conditional MI through a classifier's cross-entropy:

- absolute: predict the (row, column) of a local feature ``l_(r,c)`` from ``(y, l_(r,c))``, row and
  column as two independent categorical variables (sum of two cross-entropies);
- relative: predict the offset ``(r_t - r_s, c_t - c_s)`` between a source feature (one sampled location
  per image) and a target feature from ``(y, l_s, l_t)``.

As in the paper, the objective is marginalised over all local locations (absolute) or all targets
(relative). Predictors are MLPs with two hidden layers (ReLU, batch norm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim),
    )


def _two_ce(logits: Tensor, rows: Tensor, cols: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Sum of row and column cross-entropies (nats) and the mean accuracy of both heads."""
    lr, lc = logits[:, :n], logits[:, n:]
    loss = F.cross_entropy(lr, rows) + F.cross_entropy(lc, cols)
    acc = 0.5 * ((lr.argmax(1) == rows).float().mean() + (lc.argmax(1) == cols).float().mean())
    return loss, acc.detach()


class AbsoluteCoordPredictor(nn.Module):
    """Predicts (row, col) of every local feature from (y, local feature).

    Args:
        y_dim: Width of the global feature y.
        local_channels: Channels of the local map.
        map_size: Side S of the (square) local map; S row classes and S column classes.
        hidden: Width of the two hidden layers.

    Example:
        >>> pred = AbsoluteCoordPredictor(4, 3, map_size=2, hidden=8)
        >>> loss, acc = pred(torch.randn(5, 4), torch.randn(5, 3, 2, 2))
        >>> loss.shape
        torch.Size([])
    """

    def __init__(self, y_dim: int, local_channels: int, map_size: int, hidden: int = 256) -> None:
        super().__init__()
        self.map_size = map_size
        self.net = _mlp(y_dim + local_channels, hidden, 2 * map_size)

    def forward(self, y: Tensor, local: Tensor) -> tuple[Tensor, Tensor]:
        """``(loss, accuracy)`` for y (B, Dy) and local (B, C, S, S)."""
        b, _, s, _ = local.shape
        loc = local.flatten(2).transpose(1, 2)  # (B, L, C)
        inp = torch.cat([y[:, None, :].expand(-1, s * s, -1), loc], dim=2).reshape(b * s * s, -1)
        idx = torch.arange(s * s, device=local.device).repeat(b)  # (B*L,)
        return _two_ce(self.net(inp), idx // s, idx % s, s)


class RelativeCoordPredictor(nn.Module):
    """Predicts the offset of every target feature from one random source feature, given y.

    Offsets range over ``-(S-1) .. S-1`` per axis (2S - 1 classes each).

    Args:
        y_dim: Width of y.
        local_channels: Channels of the local map.
        map_size: Side S of the local map.
        hidden: Width of the two hidden layers.

    Example:
        >>> pred = RelativeCoordPredictor(4, 3, map_size=2, hidden=8)
        >>> loss, acc = pred(torch.randn(5, 4), torch.randn(5, 3, 2, 2))
        >>> loss.shape
        torch.Size([])
    """

    def __init__(self, y_dim: int, local_channels: int, map_size: int, hidden: int = 256) -> None:
        super().__init__()
        self.map_size = map_size
        self.net = _mlp(y_dim + 2 * local_channels, hidden, 2 * (2 * map_size - 1))

    def forward(self, y: Tensor, local: Tensor, source: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(loss, accuracy)``; ``source`` (B,) location indices, sampled uniformly when None."""
        b, _, s, _ = local.shape
        n_loc = s * s
        loc = local.flatten(2).transpose(1, 2)  # (B, L, C)
        if source is None:
            source = torch.randint(0, n_loc, (b,), device=local.device)
        src = loc[torch.arange(b, device=local.device), source]  # (B, C)
        inp = torch.cat(
            [y[:, None, :].expand(-1, n_loc, -1), src[:, None, :].expand(-1, n_loc, -1), loc], dim=2
        ).reshape(b * n_loc, -1)  # (B*L, Dy + 2C)
        tgt = torch.arange(n_loc, device=local.device).repeat(b)  # (B*L,)
        src_rep = source.repeat_interleave(n_loc)  # (B*L,)
        d_rows = tgt // s - src_rep // s + (s - 1)
        d_cols = tgt % s - src_rep % s + (s - 1)
        return _two_ce(self.net(inp), d_rows, d_cols, 2 * s - 1)
