"""A small U-Net for noise prediction on a spatial latent (B, C, S, S), conditioned on the diffusion step.

The DDPM/DDIM architecture (Ho et al. 2020, appendix B; Song, Meng, Ermon, "Denoising Diffusion Implicit
Models", ICLR 2021, use the same network) reduced to one resolution change: residual blocks with group
norm, SiLU and a learned projection of a sinusoidal step embedding, a stride-2 down-sampling, a middle
block, nearest up-sampling and a skip connection. The output layer starts at zero (the first prediction
is 0 noise).

Example:
    >>> net = LatentUNet(6, base=16)
    >>> tuple(net(torch.randn(2, 6, 16, 16), torch.tensor([0, 999])).shape)
    (2, 6, 16, 16)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infomax.errors import UserError


def step_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding (B, dim) of integer steps t (B,) (Vaswani et al. 2017, as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return nn.functional.pad(emb, (0, dim - 2 * half))


def _norm(ch: int) -> nn.GroupNorm:
    groups = next(g for g in (8, 4, 2, 1) if ch % g == 0)
    return nn.GroupNorm(groups, ch)


class ResBlock(nn.Module):
    """``GN - SiLU - conv3x3 - (+ step projection) - GN - SiLU - conv3x3`` + skip; (B, c_in, S, S) ->
    (B, c_out, S, S)."""

    def __init__(self, c_in: int, c_out: int, t_dim: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.t_proj = nn.Linear(t_dim, c_out)
        self.out_layers = nn.Sequential(_norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, t_emb: Tensor) -> Tensor:
        h = self.in_layers(x) + self.t_proj(t_emb)[:, :, None, None]
        return self.skip(x) + self.out_layers(h)


class LatentUNet(nn.Module):
    """eps_theta(z_t, t): predicts the noise in z_t (B, C, S, S) at steps t (B,); S even.

    Args:
        channels: Latent channels C.
        base: Width at the latent's resolution (twice that at half resolution).
    """

    def __init__(self, channels: int, base: int = 64) -> None:
        super().__init__()
        if channels < 1 or base < 1:
            raise UserError(f"channels and base must be >= 1, got {channels} and {base}")
        t_dim = 4 * base
        self.base = base
        self.t_mlp = nn.Sequential(nn.Linear(base, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.inp = nn.Conv2d(channels, base, 3, padding=1)
        self.down_block = ResBlock(base, base, t_dim)
        self.down = nn.Conv2d(base, 2 * base, 3, stride=2, padding=1)
        self.mid1 = ResBlock(2 * base, 2 * base, t_dim)
        self.mid2 = ResBlock(2 * base, 2 * base, t_dim)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                nn.Conv2d(2 * base, base, 3, padding=1))
        self.up_block = ResBlock(2 * base, base, t_dim)
        self.out = nn.Sequential(_norm(base), nn.SiLU(), nn.Conv2d(base, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        if z.shape[-1] % 2 or z.shape[-2] % 2:
            raise UserError(f"LatentUNet needs an even latent side, got {tuple(z.shape[-2:])}")
        e = self.t_mlp(step_embedding(t, self.base))  # (B, 4 base)
        h0 = self.down_block(self.inp(z), e)  # (B, base, S, S)
        h = self.mid2(self.mid1(self.down(h0), e), e)  # (B, 2 base, S/2, S/2)
        h = self.up_block(torch.cat([self.up(h), h0], dim=1), e)  # (B, base, S, S)
        return self.out(h)  # (B, C, S, S)
