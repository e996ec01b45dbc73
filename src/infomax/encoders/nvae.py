"""A small NVAE-style convolutional autoencoder: an encoder to a spatial latent z and a decoder back.

The cells follow NVAE (Vahdat & Kautz, "NVAE: A Deep Hierarchical Variational Autoencoder", NeurIPS 2020,
Fig. 3): residual cells ``BN - Swish - conv3x3 - BN - Swish - conv3x3 - squeeze-and-excitation``, with
fewer layers, as in the hybrid-bound paper (Sinha, Song, Ermon, source document 002: "a modified encoder
and decoder network as used in NVAE, with fewer layers"). One stride-2 step halves the side, so

========  ==========================  ==========================
input     z (``latent_channels`` = 2C)  y (first ``y_channels``)
========  ==========================  ==========================
32x32x3   (B, 6, 16, 16)              (B, 3, 16, 16)
28x28x1   (B, 2, 14, 14)              (B, 1, 14, 14)
8x8x1     (B, 2, 4, 4)                (B, 1, 4, 4)
========  ==========================  ==========================

The default ``latent_channels = 2 * in_channels`` keeps the paper's compression (16x16x6 for 32x32x3:
half the input's numbers). ``y`` (the first ``y_channels`` channels of z) is what the contrastive branch
of the hybrid method sees; ``y_hat`` (the rest) is left to the autoencoder.

Example:
    >>> enc, dec = NVAEEncoder(3, 32), NVAEDecoder(3, 32)
    >>> z = enc(torch.rand(2, 3, 32, 32))["z"]
    >>> tuple(z.shape), tuple(dec(z).shape)
    ((2, 6, 16, 16), (2, 3, 32, 32))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from infomax.errors import UserError


class SqueezeExcite(nn.Module):
    """Channel gating: x * sigmoid(MLP(mean over space of x)); (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        w = self.gate(x.mean(dim=(2, 3)))  # (B, C)
        return x * w[:, :, None, None]


class ResidualCell(nn.Module):
    """NVAE's residual cell: ``x + 0.1 * SE(conv(Swish(BN(conv(Swish(BN(x)))))))``, shape kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            SqueezeExcite(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.1 * self.body(x)


def _check_sizes(in_channels: int, image_size: int, latent_channels: int, y_channels: int) -> tuple[int, int]:
    """(latent_channels, y_channels) with the 0 = automatic defaults resolved; UserError when invalid."""
    if in_channels < 1:
        raise UserError(f"in_channels must be >= 1, got {in_channels}")
    if not isinstance(image_size, int) or image_size < 4 or image_size % 2:
        raise UserError(f"the NVAE autoencoder needs an even square image side >= 4, got {image_size!r}")
    c = latent_channels or 2 * in_channels
    if c < 2:
        raise UserError(f"latent_channels must be >= 2 (y and y_hat need a channel each), got {c}")
    if y_channels == 0:
        if c % 2:
            raise UserError(f"the latent split must divide the channels: {c} latent channels cannot be "
                            "halved; set y_channels or an even latent_channels")
        y_channels = c // 2
    if not 1 <= y_channels < c:
        raise UserError(f"y_channels must be in [1, {c - 1}] for {c} latent channels, got {y_channels}")
    return c, y_channels


class NVAEEncoder(nn.Module):
    """Images (B, C, H, W) in [0, 1] -> latent z (B, Cz, H/2, W/2) and its split y | y_hat.

    ``stem conv3x3 (C -> hidden) - cell - conv3x3 stride 2 (-> 2 hidden) - cell - conv1x1 (-> Cz)``.

    Args:
        in_channels: Image channels C.
        image_size: Even square input side.
        latent_channels: Channels Cz of z (0: 2 * C).
        y_channels: Channels of y, the first part of z (0: half of Cz, which must then be even).
        hidden: Width of the first cell (the second has twice as many channels).
        mean: Per-channel mean used to standardize (length C).
        std: Per-channel standard deviation (length C).

    Features: ``z`` (B, Cz, S, S), ``y`` = z[:, :y_channels], ``y_hat`` = z[:, y_channels:];
    ``layers = ("z", "y")`` are probed; the representation (``output_layer``) is ``z``.

    Example:
        >>> feats = NVAEEncoder(1, 28)(torch.rand(4, 1, 28, 28))
        >>> tuple(feats["y"].shape)
        (4, 1, 14, 14)
    """

    layers: tuple[str, ...] = ("z", "y")
    output_layer: str = "z"

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        latent_channels: int = 0,
        y_channels: int = 0,
        hidden: int = 32,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.latent_channels, self.y_channels = _check_sizes(
            in_channels, image_size, latent_channels, y_channels)
        if hidden < 1:
            raise UserError(f"hidden must be >= 1, got {hidden}")
        mean = tuple(mean) if mean is not None else (0.5,) * in_channels
        std = tuple(std) if std is not None else (0.5,) * in_channels
        if len(mean) != in_channels or len(std) != in_channels or min(std) <= 0:
            raise UserError(f"mean/std need {in_channels} values with std > 0")
        self.in_channels, self.image_size, self.latent_size = in_channels, image_size, image_size // 2
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1),
            ResidualCell(hidden),
            nn.Conv2d(hidden, 2 * hidden, 3, stride=2, padding=1),
            ResidualCell(2 * hidden),
            nn.BatchNorm2d(2 * hidden), nn.SiLU(),
            nn.Conv2d(2 * hidden, self.latent_channels, 1),
        )

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(y, y_hat): the first ``y_channels`` channels of z (B, Cz, S, S) and the rest."""
        return z[:, : self.y_channels], z[:, self.y_channels:]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            raise UserError(f"NVAEEncoder expects images (B, {self.in_channels}, {self.image_size}, "
                            f"{self.image_size}), got {tuple(x.shape)}")
        z = self.net((x - self.mean) / self.std)  # (B, Cz, S, S)
        y, y_hat = self.split(z)
        return {"z": z, "y": y, "y_hat": y_hat}


class NVAEDecoder(nn.Module):
    """Latent z (B, Cz, S, S) -> image means (B, C, 2S, 2S) in [0, 1] (a sigmoid output).

    ``conv1x1 (Cz -> 2 hidden) - cell - nearest x2 + conv3x3 (-> hidden) - cell - conv3x3 (-> C)``.

    Args:
        out_channels: Image channels C.
        image_size: Even square output side (2S).
        latent_channels: Channels Cz of z (0: 2 * C).
        hidden: Width of the last cell (the first has twice as many channels).

    Example:
        >>> tuple(NVAEDecoder(1, 28)(torch.randn(2, 2, 14, 14)).shape)
        (2, 1, 28, 28)
    """

    def __init__(
        self, out_channels: int, image_size: int, latent_channels: int = 0, hidden: int = 32
    ) -> None:
        super().__init__()
        self.latent_channels, _ = _check_sizes(out_channels, image_size, latent_channels, 1)
        self.out_channels, self.image_size = out_channels, image_size
        self.net = nn.Sequential(
            nn.Conv2d(self.latent_channels, 2 * hidden, 1),
            ResidualCell(2 * hidden),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * hidden, hidden, 3, padding=1),
            ResidualCell(hidden),
            nn.BatchNorm2d(hidden), nn.SiLU(),
            nn.Conv2d(hidden, out_channels, 3, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        s = self.image_size // 2
        if z.dim() != 4 or z.shape[1] != self.latent_channels or z.shape[-2:] != (s, s):
            raise UserError(f"NVAEDecoder expects latents (B, {self.latent_channels}, {s}, {s}), "
                            f"got {tuple(z.shape)}")
        return torch.sigmoid(self.net(z))  # (B, C, H, W) in [0, 1]
