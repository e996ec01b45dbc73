"""Random blocks of local features for Deep InfoMax's "multiple globals" (paper sec. 4.2).

Hjelm et al., ICLR 2019, CPC comparison: less-global features are computed from random blocks of the
local feature map (the rest zeroed, i.e. switched off after the ReLU), and each of them maximizes MI
with the full local map through one shared estimator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from infomax.errors import UserError


def random_block_masks(
    batch: int, map_size: int, block_size: int, device: torch.device | None = None
) -> Tensor:
    """Float masks (B, 1, S, S): 1 inside one random ``block_size`` x ``block_size`` block per image.

    Uses the global torch RNG.

    Example:
        >>> m = random_block_masks(3, 4, 2)
        >>> m.shape, m.sum(dim=(1, 2, 3)).tolist()
        (torch.Size([3, 1, 4, 4]), [4.0, 4.0, 4.0])
    """
    if not 1 <= block_size <= map_size:
        raise UserError(f"block_size must be in 1..{map_size} (the local map side), got {block_size}")
    top = torch.randint(0, map_size - block_size + 1, (batch,), device=device)  # (B,)
    left = torch.randint(0, map_size - block_size + 1, (batch,), device=device)  # (B,)
    idx = torch.arange(map_size, device=device)
    rows = (idx[None, :] >= top[:, None]) & (idx[None, :] < (top + block_size)[:, None])  # (B, S)
    cols = (idx[None, :] >= left[:, None]) & (idx[None, :] < (left + block_size)[:, None])  # (B, S)
    return (rows[:, :, None] & cols[:, None, :]).float()[:, None]  # (B, 1, S, S)
