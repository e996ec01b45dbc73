"""The Deep InfoMax convolutional encoder (the DCGAN-discriminator-like CIFAR-10 encoder).

Hjelm et al., "Learning deep representations by mutual information estimation and maximization",
ICLR 2019, appendix A.2; layer sizes as in the authors' code (github.com/rdevon/DIM).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from infomax.errors import UserError

#: Smallest input side: three stride-2 convolutions must leave at least a 1x1 map.
MIN_IMAGE_SIZE = 8


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def dim_conv_map_sizes(image_size: int) -> tuple[int, int, int]:
    """Side lengths of the three conv maps for a square ``image_size`` input.

    Each 4x4 / stride 2 / pad 1 convolution maps a side ``n`` to ``n // 2``, so
    32 -> 16 -> 8 -> 4, 28 -> 14 -> 7 -> 3 and 8 -> 4 -> 2 -> 1.

    Example:
        >>> dim_conv_map_sizes(28)
        (14, 7, 3)
    """
    if not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise UserError(
            f"DIMConvEncoder needs square images of side >= {MIN_IMAGE_SIZE} "
            f"(e.g. 32, 28 or 8), got {image_size!r}"
        )
    s1 = image_size // 2
    s2 = s1 // 2
    return s1, s2, s2 // 2


class DIMConvEncoder(nn.Module):
    """conv64 - conv128 - conv256 (4x4, stride 2, pad 1, BN, ReLU) -> fc 1024 (BN, ReLU) -> y.

    ``width=w`` multiplies the three convs' channels by w (the table below is w = 1; fc stays 1024).

    Feature maps for the supported input sides (any side >= 8 works; each conv halves it, rounding down):

    ======  =================  ===============  =====  =====
    input   ``local``          ``conv``         fc     y
    ======  =================  ===============  =====  =====
    32x32   (B, 128, 8, 8)     (B, 256, 4, 4)   1024   y_dim
    28x28   (B, 128, 7, 7)     (B, 256, 3, 3)   1024   y_dim
    8x8     (B, 128, 2, 2)     (B, 256, 1, 1)   1024   y_dim
    ======  =================  ===============  =====  =====

    ``local`` is the next-to-last conv map (after BN and ReLU), used by DIM's local objective;
    ``conv`` the last conv map, used by the global objective. Inputs are float images in [0, 1];
    they are standardized inside with the ``mean``/``std`` buffers.

    Each ``local`` location at (r, c) sees the input rows ``4r - 3 .. 4r + 6`` (and columns alike),
    a 10x10 receptive field with stride 4 (:attr:`local_rf_size`, :attr:`local_rf_stride`,
    :attr:`local_rf_start`), clipped to the image.

    Args:
        in_channels: Image channels C.
        image_size: Square input side H = W (>= 8).
        y_dim: Width of the output representation Y.
        mean: Per-channel mean used to standardize (length C).
        std: Per-channel standard deviation (length C).
        width: Channel multiplier of the convs (1: the paper's 64-128-256).

    Example:
        >>> enc = DIMConvEncoder(3, 32)
        >>> {k: tuple(v.shape) for k, v in enc(torch.rand(2, 3, 32, 32)).items()}["local"]
        (2, 128, 8, 8)
        >>> DIMConvEncoder(3, 32, width=2)(torch.rand(2, 3, 32, 32))["conv"].shape
        torch.Size([2, 512, 4, 4])
    """

    layers: tuple[str, ...] = ("conv", "fc", "y")
    output_layer: str = "y"
    local_rf_size: int = 10
    local_rf_stride: int = 4
    local_rf_start: int = -3

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        y_dim: int = 64,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        width: int = 1,
    ) -> None:
        super().__init__()
        if width < 1:
            raise UserError(f"width must be >= 1, got {width}")
        if in_channels < 1:
            raise UserError(f"in_channels must be >= 1, got {in_channels}")
        if y_dim < 1:
            raise UserError(f"y_dim must be >= 1, got {y_dim}")
        s1, s2, s3 = dim_conv_map_sizes(image_size)
        mean = tuple(mean) if mean is not None else (0.5,) * in_channels
        std = tuple(std) if std is not None else (0.5,) * in_channels
        if len(mean) != in_channels or len(std) != in_channels:
            raise UserError(f"mean/std need {in_channels} values, got {len(mean)} and {len(std)}")
        if min(std) <= 0:
            raise UserError("std values must be > 0")
        self.in_channels = in_channels
        self.image_size = image_size
        self.y_dim = y_dim
        self.local_size = s2
        self.conv_size = s3
        self.width = width
        self.local_channels = 128 * width
        self.conv_channels = 256 * width
        self.fc_dim = 1024
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.conv1 = _conv_block(in_channels, 64 * width)
        self.conv2 = _conv_block(64 * width, self.local_channels)
        self.conv3 = _conv_block(self.local_channels, self.conv_channels)
        self.fc = nn.Sequential(
            nn.Linear(self.conv_channels * s3 * s3, 1024, bias=False),
            nn.BatchNorm1d(1024),
            nn.ReLU(inplace=True),
        )
        self.y = nn.Linear(1024, y_dim)

    def forward_local(self, x: Tensor) -> Tensor:
        """The local map (B, 128 * width, s2, s2) of images ``x`` (B, C, H, W) in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            raise UserError(
                f"DIMConvEncoder expects images (B, {self.in_channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(x.shape)}"
            )
        x = (x - self.mean) / self.std
        return self.conv2(self.conv1(x))  # (B, 128 * width, s2, s2)

    def forward_from_local(self, local: Tensor) -> dict[str, Tensor]:
        """The upper layers: ``{"conv", "fc", "y"}`` from a (possibly masked) local map."""
        conv = self.conv3(local)  # (B, 256 * width, s3, s3)
        fc = self.fc(conv.flatten(1))  # (B, 1024)
        return {"conv": conv, "fc": fc, "y": self.y(fc)}  # y: (B, y_dim)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Named features of images ``x`` (B, C, H, W) in [0, 1]: local, conv, fc, y."""
        local = self.forward_local(x)
        return {"local": local, **self.forward_from_local(local)}
