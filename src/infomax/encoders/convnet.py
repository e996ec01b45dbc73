"""The small ConvNet of the multi-view MNIST study.

Tschannen et al., "On Mutual Information Maximization for Representation Learning", ICLR 2020
(arXiv 1907.13625), section 3.3 / the authors' notebook: conv 64 5x5 stride 2 - ReLU - conv 128 5x5
stride 2 - ReLU - LayerNorm - global average pooling - dense 100.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from infomax.encoders.mlp import _per_channel
from infomax.errors import UserError


class ConvNetEncoder(nn.Module):
    """conv(c, 5x5, s2) - ReLU - conv(2c, 5x5, s2) - ReLU - LayerNorm - global avg pool - Linear(out_dim).

    Padding 2 keeps TensorFlow's "same" output sizes: a (B, 1, 14, 28) MNIST half gives ``conv1``
    (B, 64, 7, 14) and ``conv2`` (B, 128, 4, 7). The LayerNorm normalizes over channels at each location
    (Keras ``LayerNormalization(axis=-1)`` on NHWC maps, as in the notebook).

    Features: ``conv1`` (B, c, H1, W1), ``conv2`` (B, 2c, H2, W2) after the LayerNorm, ``pool``
    (B, 2c), ``y`` (B, out_dim).

    Args:
        in_shape: Input shape (C, H, W), e.g. (1, 14, 28).
        channels: Channels of the first conv (paper: 64); the second has twice as many.
        out_dim: Width of ``y`` (paper: 100).
        kernel_size: Convolution kernel side (paper: 5, odd).
        mean: Per-channel mean for standardizing the input; (0,) keeps raw pixels.
        std: Per-channel standard deviation.

    Example:
        >>> enc = ConvNetEncoder((1, 14, 28))
        >>> tuple(enc(torch.rand(2, 1, 14, 28))["conv2"].shape)
        (2, 128, 4, 7)
    """

    layers: tuple[str, ...] = ("conv1", "conv2", "pool", "y")
    output_layer: str = "y"

    def __init__(
        self,
        in_shape: Sequence[int],
        channels: int = 64,
        out_dim: int = 100,
        kernel_size: int = 5,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
    ) -> None:
        super().__init__()
        in_shape = tuple(int(s) for s in in_shape)
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise UserError(f"ConvNetEncoder needs in_shape (C, H, W) with positive sizes, got {in_shape}")
        if channels < 1 or out_dim < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise UserError("ConvNetEncoder needs channels, out_dim >= 1 and an odd kernel_size")
        c = in_shape[0]
        mean, std = _per_channel(mean, c, "mean"), _per_channel(std, c, "std")
        if any(s <= 0 for s in std):
            raise UserError(f"std must be positive, got {std}")
        self.in_shape = in_shape
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1))
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(c, channels, kernel_size, stride=2, padding=pad)
        self.conv2 = nn.Conv2d(channels, 2 * channels, kernel_size, stride=2, padding=pad)
        self.norm = nn.LayerNorm(2 * channels)
        self.fc = nn.Linear(2 * channels, out_dim)
        self.out_dim = int(out_dim)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """(B, C, H, W) in [0, 1] -> {"conv1", "conv2", "pool": (B, 2c), "y": (B, out_dim)}."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise UserError(
                f"ConvNetEncoder expects (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}"
            )
        h = (x - self.mean) / self.std
        h1 = torch.relu(self.conv1(h))  # (B, c, H1, W1)
        h2 = torch.relu(self.conv2(h1))  # (B, 2c, H2, W2)
        h2 = self.norm(h2.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm over channels
        pool = h2.mean(dim=(2, 3))  # (B, 2c)
        return {"conv1": h1, "conv2": h2, "pool": pool, "y": self.fc(pool)}
