"""AMDIM's no-padding residual encoder for 32x32 images, exposing 1x1, 5x5 and 7x7 embedding maps.

Bachman, Hjelm, Buchwalter, "Learning Representations by Maximizing Mutual Information Across Views",
NeurIPS 2019, sec. 3.4 (layer list of the authors' CIFAR encoder, github.com/Philip-Bachman/amdim-public).
No convolution pads its input (feature statistics stay stationary across positions); residual blocks
shortcut their first layer with a mean pool of the same window and stride (channels zero-padded), and
their other layers are 1x1 convolutions, which keep the receptive field from growing.

Map sides for an ``n``-pixel input (``n`` in 32..35; the trunk has ``ndf * 4`` channels from the 7x7 map on)::

    conv3x3 -> n-2 (30) | res 1x1 -> 30 | res block 4x4/2 -> 14 | res block 2x2/2 -> 7 (f7)
    | res block 3x3 -> 5 (f5) | res block 3x3 -> 3 | res 3x3 -> 1 (f1, n_rkhs channels)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.errors import UserError

#: Input sides for which the layer list gives exactly 7x7, 5x5 and 1x1 maps.
SUPPORTED_SIZES = (32, 33, 34, 35)


def amdim_map_sizes(image_size: int) -> dict[str, int]:
    """Side of every trunk map for a square input; UserError unless the 7/5/1 maps come out.

    Example:
        >>> amdim_map_sizes(32)
        {'stem': 30, 'block1': 14, 'f7': 7, 'f5': 5, 'block4': 3, 'f1': 1}
    """
    ok = isinstance(image_size, int) and image_size in SUPPORTED_SIZES
    if not ok:
        raise UserError(
            f"AMDIMEncoder needs square images of side 32-35 (e.g. CIFAR-10's 32x32) to produce its "
            f"1x1, 5x5 and 7x7 maps, got {image_size!r}"
        )
    s0 = image_size - 2
    s1 = (s0 - 4) // 2 + 1
    s2 = (s1 - 2) // 2 + 1
    return {"stem": s0, "block1": s1, "f7": s2, "f5": s2 - 2, "block4": s2 - 4, "f1": s2 - 6}


def _maybe_bn(channels: int, use_bn: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if use_bn else nn.Identity()


class ConvResNxN(nn.Module):
    """One residual layer: ``conv_kxk/s -> BN? -> ReLU -> conv1x1`` plus a shortcut (as the authors' code).

    Shortcut: the input's mean pool over the same k x k window and stride (the identity for 1x1/1), with
    zero channels appended when ``n_out > n_in`` (a 1x1 conv of it when ``n_out < n_in``).
    (B, C_in, H, W) -> (B, C_out, (H - k) // s + 1, ...).
    """

    def __init__(self, n_in: int, n_out: int, width: int, stride: int, use_bn: bool = False) -> None:
        super().__init__()
        self.width, self.stride, self.n_grow = width, stride, n_out - n_in
        self.conv1 = nn.Conv2d(n_in, n_out, width, stride, 0, bias=False)
        self.bn1 = _maybe_bn(n_out, use_bn)
        self.conv2 = nn.Conv2d(n_out, n_out, 1, 1, 0, bias=False)
        self.shrink = nn.Conv2d(n_in, n_out, 1, 1, 0, bias=True) if self.n_grow < 0 else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(torch.relu(self.bn1(self.conv1(x))))  # (B, C_out, H', W')
        res = x if self.width == 1 and self.stride == 1 else F.avg_pool2d(x, self.width, self.stride)
        if self.shrink is not None:
            res = self.shrink(res)
        elif self.n_grow > 0:
            res = F.pad(res, (0, 0, 0, 0, 0, self.n_grow))  # zero channels appended
        return h + res


class ConvResBlock(nn.Module):
    """A residual block: one ``ConvResNxN`` of window ``width``/``stride``, then ``depth - 1`` 1x1 ones."""

    def __init__(self, n_in: int, n_out: int, width: int, stride: int, depth: int, use_bn: bool) -> None:
        super().__init__()
        layers = [ConvResNxN(n_in, n_out, width, stride, use_bn)]
        layers += [ConvResNxN(n_out, n_out, 1, 1, use_bn) for _ in range(depth - 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class RKHSEmbedding(nn.Module):
    """Per-location embedding into the scoring space: ``conv1x1 -> BN -> ReLU -> conv1x1`` plus a 1x1
    shortcut, then a batch norm (the authors' ``FakeRKHSConvNet``). (B, C, H, W) -> (B, E, H, W)."""

    def __init__(self, n_in: int, n_out: int, use_bn: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(n_in, n_out, 1, bias=False)
        self.bn1 = _maybe_bn(n_out, use_bn)
        self.conv2 = nn.Conv2d(n_out, n_out, 1, bias=False)
        self.shortcut = nn.Conv2d(n_in, n_out, 1, bias=True)
        self.bn_out = nn.BatchNorm2d(n_out)
        with torch.no_grad():  # near-identity shortcut, as the authors initialise it
            w = self.shortcut.weight[:, :, 0, 0]
            w.uniform_(-0.01, 0.01)
            n = min(n_in, n_out)
            w[torch.arange(n), torch.arange(n)] = 1.0

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(torch.relu(self.bn1(self.conv1(x))))
        return self.bn_out(h + self.shortcut(x))


class AMDIMEncoder(nn.Module):
    """AMDIM's CIFAR encoder: features ``f1`` (B, n_rkhs), ``f5`` (B, n_rkhs, 5, 5), ``f7`` (B, n_rkhs, 7, 7).

    ``f1`` is the trunk's 1x1 output (batch-normalised); ``f5`` and ``f7`` embed the trunk's 5x5 and 7x7
    maps (``ndf * 4`` channels) with :class:`RKHSEmbedding`. The probed representation is ``f1``.
    Inputs are float images in [0, 1], standardised inside with ``mean``/``std``.

    Args:
        in_channels: Image channels C.
        image_size: Square input side, 32..35 (anything else: UserError).
        ndf: Base width (trunk widths ndf, 2 ndf, 4 ndf). Paper's large CIFAR model: 256.
        n_rkhs: Embedding size of the scored features. Paper's large model: 2048.
        depth: Layers per residual block (the first strided, the rest 1x1). Paper's large model: 10.
        use_bn: Batch norm inside residual layers (the authors' default: off).
        mean, std: Per-channel statistics (length C).

    Example:
        >>> enc = AMDIMEncoder(3, 32, ndf=8, n_rkhs=16)
        >>> {k: tuple(v.shape) for k, v in enc(torch.rand(2, 3, 32, 32)).items()}
        {'f1': (2, 16), 'f5': (2, 16, 5, 5), 'f7': (2, 16, 7, 7)}
    """

    layers: tuple[str, ...] = ("f1",)
    output_layer: str = "f1"

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        ndf: int = 32,
        n_rkhs: int = 256,
        depth: int = 1,
        use_bn: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.map_sizes = amdim_map_sizes(image_size)
        for name, v in (("in_channels", in_channels), ("ndf", ndf), ("n_rkhs", n_rkhs), ("depth", depth)):
            if v < 1:
                raise UserError(f"{name} must be >= 1, got {v}")
        mean = tuple(mean) if mean is not None else (0.5,) * in_channels
        std = tuple(std) if std is not None else (0.5,) * in_channels
        if len(mean) != in_channels or len(std) != in_channels or min(std) <= 0:
            raise UserError(f"mean/std need {in_channels} values (std > 0), got {mean} and {std}")
        self.in_channels, self.image_size = in_channels, image_size
        self.ndf, self.n_rkhs, self.depth = ndf, n_rkhs, depth
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        c4 = ndf * 4
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 3, 1, 0, bias=not use_bn), _maybe_bn(ndf, use_bn), nn.ReLU()
        )
        self.stem_res = ConvResNxN(ndf, ndf, 1, 1, use_bn)  # 30x30
        self.block1 = ConvResBlock(ndf, ndf * 2, 4, 2, depth, use_bn)  # 14x14
        self.block2 = ConvResBlock(ndf * 2, c4, 2, 2, depth, use_bn)  # 7x7
        self.bn7 = _maybe_bn(c4, use_bn)
        self.block3 = ConvResBlock(c4, c4, 3, 1, depth, use_bn)  # 5x5
        self.block4 = ConvResBlock(c4, c4, 3, 1, depth, use_bn)  # 3x3
        self.head = ConvResNxN(c4, n_rkhs, 3, 1, use_bn)  # 1x1
        self.bn1 = nn.BatchNorm2d(n_rkhs)
        self.embed5 = RKHSEmbedding(c4, n_rkhs, use_bn)
        self.embed7 = RKHSEmbedding(c4, n_rkhs, use_bn)

    def trunk(self, x: Tensor) -> dict[str, Tensor]:
        """The trunk's maps: ``{"h7": (B, 4 ndf, 7, 7), "h5": (B, 4 ndf, 5, 5), "f1": (B, n_rkhs)}``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            raise UserError(
                f"AMDIMEncoder expects images (B, {self.in_channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(x.shape)}"
            )
        h = self.stem_res(self.stem((x - self.mean) / self.std))  # (B, ndf, 30, 30)
        h7 = self.bn7(self.block2(self.block1(h)))  # (B, 4ndf, 7, 7)
        h5 = self.block3(h7)  # (B, 4ndf, 5, 5)
        f1 = self.bn1(self.head(self.block4(h5)))  # (B, n_rkhs, 1, 1)
        return {"h7": h7, "h5": h5, "f1": f1.flatten(1)}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``{"f1": (B, n_rkhs), "f5": (B, n_rkhs, 5, 5), "f7": (B, n_rkhs, 7, 7)}`` for x (B, C, H, W)."""
        t = self.trunk(x)
        return {"f1": t["f1"], "f5": self.embed5(t["h5"]), "f7": self.embed7(t["h7"])}
