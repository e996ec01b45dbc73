"""Image grids and interpolation rows as PNG files (Pillow), and the latent interpolations of source 002.

Sinha, Song, Ermon (source document 002, Figs. 2-4): for two images with latents z_0 = [y_0, yh_0] and
z_1 = [y_1, yh_1] (y: the contrastive channels, yh: the rest), decode, for t from 1 to 0,

- ``"z"``: ``t z_0 + (1 - t) z_1`` (the entire latent),
- ``"y"``: ``[t y_0 + (1 - t) y_1, yh_0]`` (only y),
- ``"y_hat"``: ``[y_0, t yh_0 + (1 - t) yh_1]`` (only the other part).

Example:
    >>> z = interpolate(torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4), 1, "y", n=3)
    >>> z[0, :, 0, 0, 0].tolist(), z[0, :, 1, 0, 0].tolist()
    ([0.0, 0.5, 1.0], [0.0, 0.0, 0.0])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from infomax.errors import UserError
from infomax.run import atomic_path

MODES = ("z", "y", "y_hat")


def interpolate(z0: Tensor, z1: Tensor, y_channels: int, mode: str, n: int = 8) -> Tensor:
    """Latents (P, n, C, S, S) along the path from z0 to z1 (P, C, S, S) in ``mode`` (see above)."""
    if mode not in MODES:
        raise UserError(f"unknown interpolation {mode!r}; choose one of: {', '.join(MODES)}")
    w = torch.linspace(0, 1, n, dtype=z0.dtype, device=z0.device).view(1, n, 1, 1, 1)  # 1 - t
    a, b = z0[:, None], z1[:, None]  # (P, 1, C, S, S)
    mix = (1 - w) * a + w * b  # (P, n, C, S, S)
    if mode == "z":
        return mix
    out = a.expand_as(mix).clone()
    sl = slice(0, y_channels) if mode == "y" else slice(y_channels, None)
    out[:, :, sl] = mix[:, :, sl]
    return out


def to_uint8(images: Tensor) -> np.ndarray:
    """float (N, C, H, W) in [0, 1] -> uint8 (N, C, H, W) (rounded, clipped)."""
    return (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def save_grid(images: Tensor, path: str | Path, nrow: int = 8, pad: int = 2, scale: int = 2) -> Path:
    """Write images (N, C, H, W) in [0, 1] (C = 1 or 3) as a PNG grid of ``nrow`` per row, atomically."""
    from PIL import Image

    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"expected images (N, 1 or 3, H, W), got {tuple(images.shape)}")
    x = to_uint8(images)
    n, c, h, w = x.shape
    rows = -(-n // nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = (
            x[i].transpose(1, 2, 0))
    img = Image.fromarray(grid[..., 0] if c == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
