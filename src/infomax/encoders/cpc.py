"""The strided-crop ("patch grid") encoder of Contrastive Predictive Coding.

van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive Coding", 2018, sec. 3.2
(images cut into overlapping patches, each encoded by the same network); used for Deep InfoMax's CPC
comparison (Hjelm et al., ICLR 2019, sec. 4.2, Table 3): for 32x32 images, 8x8 crops with stride 4, a 7x7
grid of patch vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.errors import UserError


def patch_grid(image_size: int, patch_size: int = 0, stride: int = 0) -> tuple[int, int, int]:
    """(patch size, stride, grid side) for a square image; 0 picks the defaults ``size // 4`` and
    ``patch // 2`` (32 -> 8x8 crops, stride 4, a 7x7 grid; 28 -> 7, 3, 8; 8 -> 2, 1, 7).

    Example:
        >>> patch_grid(32)
        (8, 4, 7)
    """
    p = patch_size or max(1, image_size // 4)
    s = stride or max(1, p // 2)
    if not 1 <= p <= image_size or s < 1:
        raise UserError(f"patch_size must be in 1..{image_size} and stride >= 1, got {p} and {s}")
    g = (image_size - p) // s + 1
    if g < 2:
        raise UserError(f"{p}px patches, stride {s}: a {g}x{g} grid on {image_size}px images (need >= 2x2)")
    return p, s, g


#: Normalisations of the patch network: per patch (CPC v2) or over the batch's patches (CPC v1).
PATCH_NORMS = ("layer", "batch")


class CPCPatchEncoder(nn.Module):
    """Encodes every patch of a regular grid with one small conv net; probes read the pooled vectors.

    Patch network (per ``p x p`` patch, padded 3x3 convolutions: the patch is the whole input here):
    conv3x3 ndf - conv3x3/2 2ndf - conv3x3/2 2ndf (each normalised, ReLU) -> mean pool -> linear ``dim``.

    Normalisation (``norm``): ``"layer"`` (default) normalises each patch's feature map on its own
    (``GroupNorm`` with one group: a layer norm over channels and positions), so a patch vector depends on
    its crop only, in training as in evaluation; this is CPC v2's choice (Henaff et al., "Data-Efficient
    Image Recognition with Contrastive Predictive Coding", 2019), made because batch norm pools statistics
    over every patch of the batch and so leaks information from the patches a prediction must not see.
    ``"batch"`` (``BatchNorm2d``, the original CPC setup) is kept as an option.

    Features: ``patches`` (B, dim, G, G), the patch vectors on the grid (row ``r`` = patches whose top edge
    is at ``r * stride``), and ``pooled`` (B, dim), their mean: the representation.

    Args:
        in_channels: Image channels C.
        image_size: Square input side.
        patch_size, stride: Crop side and stride (0: defaults of :func:`patch_grid`).
        ndf: Patch network width.
        dim: Patch vector size.
        mean, std: Per-channel statistics (length C).
        norm: ``"layer"`` (per patch) or ``"batch"`` (statistics over all patches of the batch).

    Example:
        >>> enc = CPCPatchEncoder(3, 32, ndf=8, dim=16)
        >>> {k: tuple(v.shape) for k, v in enc(torch.rand(2, 3, 32, 32)).items()}
        {'patches': (2, 16, 7, 7), 'pooled': (2, 16)}
    """

    layers: tuple[str, ...] = ("pooled",)
    output_layer: str = "pooled"

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        patch_size: int = 0,
        stride: int = 0,
        ndf: int = 32,
        dim: int = 64,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        norm: str = "layer",
    ) -> None:
        super().__init__()
        if norm not in PATCH_NORMS:
            raise UserError(f"unknown patch norm {norm!r}; choose one of: {', '.join(PATCH_NORMS)}")
        if in_channels < 1 or ndf < 1 or dim < 1:
            raise UserError(f"in_channels, ndf and dim must be >= 1, got {in_channels}, {ndf}, {dim}")
        self.patch_size, self.stride, self.grid = patch_grid(image_size, patch_size, stride)
        mean = tuple(mean) if mean is not None else (0.5,) * in_channels
        std = tuple(std) if std is not None else (0.5,) * in_channels
        if len(mean) != in_channels or len(std) != in_channels or min(std) <= 0:
            raise UserError(f"mean/std need {in_channels} values (std > 0), got {mean} and {std}")
        self.in_channels, self.image_size, self.dim = in_channels, image_size, dim
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            normalise = nn.GroupNorm(1, c_out) if norm == "layer" else nn.BatchNorm2d(c_out)
            return [conv, normalise, nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(in_channels, ndf, 1), *block(ndf, 2 * ndf, 2), *block(2 * ndf, 2 * ndf, 2)
        )
        self.fc = nn.Linear(2 * ndf, dim)

    def crops(self, x: Tensor) -> Tensor:
        """Patches (B * G * G, C, p, p) of images (B, C, H, W), image-major then raster order."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            raise UserError(
                f"CPCPatchEncoder expects images (B, {self.in_channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(x.shape)}"
            )
        b, c, p = x.shape[0], self.in_channels, self.patch_size
        cols = F.unfold(x, p, stride=self.stride)  # (B, C*p*p, G*G)
        return cols.transpose(1, 2).reshape(b * self.grid**2, c, p, p)

    def encode_crops(self, crops: Tensor) -> Tensor:
        """Patch vectors (N, dim) of standardized-on-the-fly crops (N, C, p, p) in [0, 1]."""
        h = self.net((crops - self.mean) / self.std)  # (N, 2ndf, p', p')
        return self.fc(h.mean(dim=(2, 3)))  # (N, dim)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``{"patches": (B, dim, G, G), "pooled": (B, dim)}`` for images x (B, C, H, W) in [0, 1]."""
        b, g = x.shape[0], self.grid
        z = self.encode_crops(self.crops(x)).view(b, g, g, self.dim).permute(0, 3, 1, 2)  # (B, D, G, G)
        return {"patches": z, "pooled": z.mean(dim=(2, 3))}
