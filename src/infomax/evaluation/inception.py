"""The FID variant of Inception-v3 (2048-d pool3 features), loaded from a user's local weights file.

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium") is defined on the pool3 features of the TensorFlow Inception-v3 graph of 2015-12-05
(Szegedy et al. 2016, "Rethinking the Inception architecture for computer vision"). pytorch-fid
(M. Seitzer) ported that graph to PyTorch as torchvision's ``Inception3`` (1008 classes, no auxiliary
head) with four patched block types: average pools that ignore padding in the A, C and first E blocks
and a max pool in the last E block. :class:`InceptionV3FID` re-implements that network without
torchvision, with parameter and buffer names identical to pytorch-fid's weights file
``pt_inception-2015-12-05-6726825d.pth``, so that file loads with
``torch.load(path, weights_only=True)`` and ``load_state_dict(strict=True)``.

Nothing is downloaded: the weights file is always a local path given by the user
(:func:`load_inception`), either that ``.pth`` file or a ``.safetensors`` file with the same keys.

Example:
    >>> import torch
    >>> net = InceptionV3FID().eval()  # random weights; use load_inception(path) for real FID
    >>> with torch.no_grad():
    ...     net(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 2048])
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from infomax.errors import UserError

#: The pytorch-fid weights file this network's state dict matches, and where people get it.
WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_NAME}"
_EXPECTED = (f"expected pytorch-fid's {WEIGHTS_NAME} (download it yourself from {WEIGHTS_URL}; nothing is "
             "fetched here) or a .safetensors file with the same keys")

#: Input side the network was trained at; inputs are resized to it (bilinear) as pytorch-fid does.
INPUT_SIZE = 299
#: Feature width (pool3).
FEATURE_DIM = 2048


class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU; parameters ``conv.weight``, ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average pool whose border windows average only real pixels (TensorFlow's rule)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """35x35 block (Mixed_5b/c/d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 -> 224 + pool_features."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 384 + 96 + in."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..e) -> 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 -> 320 + 192 + in."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """8x8 block with expanded filter banks (Mixed_7b, Mixed_7c) -> 2048 channels.

    ``max_pool=False`` is pytorch-fid's ``FIDInceptionE_1`` (padding-free average pool, Mixed_7b);
    ``max_pool=True`` its ``FIDInceptionE_2`` (a 3x3 max pool in the pool branch, as the TensorFlow
    graph has it, Mixed_7c).
    """

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_same(x)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


class InceptionV3FID(nn.Module):
    """pytorch-fid's FID Inception-v3 up to the 2048-d global average pool ("pool3").

    Input float images (B, C, H, W) in [0, 1] with C = 3 (RGB) or 1 (grey, repeated to 3 channels);
    they are resized to 299x299 (bilinear, ``align_corners=False``) and mapped to [-1, 1] as pytorch-fid
    does. The 1008-way ``fc`` classifier is kept only so the state dict matches the weights file; it is
    not used for FID.

    Args:
        resize_input: resize to 299x299 first (pytorch-fid's default). ``False`` runs on the input size
            as is (at least 75x75), e.g. for fast tests.

    Example:
        >>> net = load_inception("pt_inception-2015-12-05-6726825d.pth")  # doctest: +SKIP
        >>> net(torch.rand(4, 3, 32, 32)).shape  # doctest: +SKIP
        torch.Size([4, 2048])
    """

    def __init__(self, resize_input: bool = True) -> None:
        super().__init__()
        self.resize_input = resize_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, 1008)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (B, C, H, W) in [0, 1], C in {1, 3} -> pool3 features (B, 2048)."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise UserError(f"Inception needs images (B, 1 or 3, H, W), got shape {tuple(x.shape)}")
        x = x.expand(-1, 3, -1, -1)  # grey -> RGB; (B, 3, H, W)
        if self.resize_input:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # [0, 1] -> [-1, 1]
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (B, 64, 147, 147)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 64, 73, 73)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # (B, 192, 71, 71)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 192, 35, 35)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)  # ends at (B, 2048, 8, 8)
        return x.mean(dim=(2, 3))  # (B, 2048)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors stored in ``path`` (.safetensors, else a torch file read with weights_only=True)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, a pickled model, not a tensor file at all
        raise UserError(f"could not read Inception weights {path} ({type(e).__name__}); {_EXPECTED}") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"Inception weights {path} are not a state dict of tensors; {_EXPECTED}")
    return dict(state)


def _describe(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def load_inception(path: str | Path, resize_input: bool = True) -> InceptionV3FID:
    """An :class:`InceptionV3FID` in eval mode with the weights stored at the local ``path``.

    Args:
        path: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (or any ``torch.save`` of a state
            dict with its keys; read with ``weights_only=True``) or a ``.safetensors`` file with the same
            keys. ``num_batches_tracked`` buffers may be absent (they do not affect eval mode).
        resize_input: see :class:`InceptionV3FID`.

    Raises:
        UserError: the file is missing or unreadable, or its keys or shapes differ from the FID
            Inception's (the message names what is expected).

    Example:
        >>> net = load_inception("weights/pt_inception-2015-12-05-6726825d.pth")  # doctest: +SKIP
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"Inception weights file not found: {p}; {_EXPECTED}")
    state = _read_state_dict(p)
    net = InceptionV3FID(resize_input=resize_input)
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = ([f"missing {len(missing)} keys ({_describe(missing)})"] if missing else []) + (
            [f"{len(unexpected)} unexpected keys ({_describe(unexpected)})"] if unexpected else [])
        raise UserError(f"Inception weights {p} do not match the FID Inception-v3: {'; '.join(parts)}; "
                        f"{_EXPECTED}")
    bad = [f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})" for k, v in state.items()
           if v.shape != own[k].shape]
    if bad:
        raise UserError(f"Inception weights {p} have wrong shapes: {_describe(bad)}; {_EXPECTED}")
    for k, v in own.items():  # absent num_batches_tracked: keep the fresh buffer so strict loading works
        state.setdefault(k, v)
    net.load_state_dict(state, strict=True)
    return net.eval()
