"""Views: batched image augmentations on float (B, C, H, W) tensors in [0, 1].

Every view is an ``nn.Module`` (no parameters) whose ``forward`` takes a whole batch and draws
**per-sample** random parameters, so one call augments every image differently with a handful of tensor
ops (no Python loop over samples). They run on whatever device the batch is on.

Randomness comes from the global torch RNG, which the engine seeds and checkpoints. Per-sample parameters
(B numbers: crop boxes, flip decisions, jitter factors) are drawn on the CPU generator and then moved to
the batch's device, so a seed gives the same augmentation parameters on CPU and GPU; only per-pixel noise
(:class:`GaussianNoise`) is drawn on the batch's device.

Named policies return a single-view transform; wrap it in :class:`TwoViews` for two independently
augmented copies:

- :func:`simclr_augment` (Chen et al., 2020, CIFAR-10 setting),
- :func:`mocov2_augment` (Chen et al., 2020, "Improved baselines with momentum contrastive learning"),
- :func:`amdim_augment` (Bachman et al., 2019; the authors' STL/ImageNet policy),
- :func:`amdim_cifar_augment` (the same authors' CIFAR policy: translation instead of the resized crop).

Example:
    >>> views = TwoViews(simclr_augment(32))
    >>> v1, v2 = views(torch.rand(8, 3, 32, 32))
    >>> v1.shape, bool((v1 != v2).any())
    (torch.Size([8, 3, 32, 32]), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ITU-R 601 luma weights (as torchvision's ``rgb_to_grayscale``).
_LUMA = (0.299, 0.587, 0.114)
#: RGB -> YIQ; hue rotation = rotating the (I, Q) plane.
_RGB2YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _uniform(n: int, low: float, high: float, device: torch.device) -> Tensor:
    """(n,) uniform draws from the CPU generator, moved to ``device``."""
    return (torch.rand(n) * (high - low) + low).to(device)


def _coin(n: int, p: float, device: torch.device) -> Tensor:
    """(n,) booleans, True with probability ``p`` (CPU generator)."""
    return (torch.rand(n) < p).to(device)


def _bcast(mask: Tensor) -> Tensor:
    return mask.view(-1, 1, 1, 1)


def grayscale(x: Tensor) -> Tensor:
    """Luma of RGB images: (B, 3, H, W) -> (B, 1, H, W); grayscale input is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


class Identity(nn.Module):
    """Returns its input unchanged (the "no augmentation" view)."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class _Fn(nn.Module):
    """Wraps a plain callable so it can sit in a :class:`Compose`."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return repr(self.fn)


class Compose(nn.Module):
    """Applies views in order; plain callables are accepted too.

    Example:
        >>> Compose([RandomHorizontalFlip(), RandomGrayscale(0.2)])(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 3, 8, 8])
    """

    def __init__(self, transforms: Sequence[Callable[[Tensor], Tensor]]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(t if isinstance(t, nn.Module) else _Fn(t) for t in transforms)

    def forward(self, x: Tensor) -> Tensor:
        for t in self.transforms:
            x = t(x)
        return x


class RandomApply(nn.Module):
    """Applies ``transform`` to each sample with probability ``p`` (the rest pass unchanged), as
    torchvision's ``RandomApply`` but with a per-sample decision inside one batched call.

    The transform runs on the whole batch and the kept samples are selected afterwards, so its cost does
    not depend on ``p``; it must keep the batch's shape.

    Example:
        >>> x = torch.rand(6, 3, 8, 8)
        >>> torch.equal(RandomApply(RandomCrop(8, 2, "reflect"), p=0.0)(x), x)
        True
    """

    def __init__(self, transform: Callable[[Tensor], Tensor], p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.transform = transform if isinstance(transform, nn.Module) else _Fn(transform)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        out = self.transform(x)
        if out.shape != x.shape:
            raise ValueError(f"RandomApply needs a shape-preserving transform: {tuple(x.shape)} -> "
                             f"{tuple(out.shape)}")
        return torch.where(_bcast(_coin(x.shape[0], self.p, x.device)), out, x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RandomHorizontalFlip(nn.Module):
    """Mirrors each image left-right with probability ``p`` (an exact mirror: ``x.flip(-1)``)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        flip = _coin(x.shape[0], self.p, x.device)  # (B,)
        return torch.where(_bcast(flip), x.flip(-1), x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def resized_crop(x: Tensor, boxes: Tensor, size: int | Sequence[int]) -> Tensor:
    """Crops a different box from every image and resizes it to ``size`` (bilinear), in one batched op.

    Args:
        x: (B, C, H, W) images.
        boxes: (B, 4) float ``(top, left, height, width)`` in pixels (pixel edges: a box ``(0, 0, H, W)`` is
            the whole image).
        size: output ``(h, w)`` or an int for a square.

    Returns:
        (B, C, h, w). A box with integer corners and the output size of the box reproduces
        ``x[:, :, top:top+height, left:left+width]`` (up to float rounding).
    """
    B, C, H, W = x.shape
    oh, ow = _pair(size)
    top, left, h, w = boxes.to(device=x.device, dtype=x.dtype).unbind(1)  # (B,) each
    theta = torch.zeros(B, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = w / W  # x half-extent in normalised coordinates
    theta[:, 0, 2] = (2 * left + w) / W - 1  # x centre
    theta[:, 1, 1] = h / H
    theta[:, 1, 2] = (2 * top + h) / H - 1
    grid = F.affine_grid(theta, [B, C, oh, ow], align_corners=False)  # (B, oh, ow, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomResizedCrop(nn.Module):
    """Random area-and-aspect crops resized to ``size``, per sample (as torchvision's, batched).

    For each image, up to ``attempts`` (area fraction in ``scale``, log-uniform aspect ratio in ``ratio``)
    pairs are drawn at once and the first that fits is used (integer width/height, integer offsets);
    otherwise a centred crop of the whole image clipped to ``ratio`` (torchvision's fallback). The crops are
    then resampled with one ``affine_grid``/``grid_sample`` call.

    Example:
        >>> RandomResizedCrop(24)(torch.rand(5, 3, 32, 32)).shape
        torch.Size([5, 3, 24, 24])
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        attempts: int = 10,
    ) -> None:
        super().__init__()
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(
                f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got {scale}, {ratio}"
            )
        self.size = _pair(size)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.attempts = attempts

    def sample_boxes(self, batch: int, height: int, width: int) -> Tensor:
        """(batch, 4) crop boxes ``(top, left, h, w)`` (CPU, float) for images of ``height`` x ``width``."""
        n, area = self.attempts, height * width
        target = area * (torch.rand(batch, n) * (self.scale[1] - self.scale[0]) + self.scale[0])
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(torch.rand(batch, n) * (hi - lo) + lo)
        w = torch.sqrt(target * aspect).round()  # (batch, n)
        h = torch.sqrt(target / aspect).round()
        ok = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
        first = ok.int().argmax(1, keepdim=True)  # index of the first fitting attempt
        w = w.gather(1, first).squeeze(1)
        h = h.gather(1, first).squeeze(1)
        # fallback (no attempt fits): torchvision's centre crop with the ratio clipped to ``ratio``
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fw, fh = round(height * self.ratio[1]), height
        else:
            fw, fh = width, height
        found = ok.any(1)
        w = torch.where(found, w, torch.tensor(float(fw)))
        h = torch.where(found, h, torch.tensor(float(fh)))
        u = torch.rand(batch, 2)
        top = torch.where(
            found, (u[:, 0] * (height - h + 1)).floor(), torch.tensor(float((height - fh) // 2))
        )
        left = torch.where(found, (u[:, 1] * (width - w + 1)).floor(), torch.tensor(float((width - fw) // 2)))
        return torch.stack([top, left, h, w], 1)

    def forward(self, x: Tensor) -> Tensor:
        boxes = self.sample_boxes(x.shape[0], x.shape[2], x.shape[3])  # (B, 4)
        return resized_crop(x, boxes, self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, ratio={tuple(round(r, 4) for r in self.ratio)}"


class RandomCrop(nn.Module):
    """Pads by ``padding`` then takes a random ``size`` crop per sample (exact pixels, by index arithmetic).

    Args:
        size: crop ``(h, w)`` or an int.
        padding: pixels added on every side first.
        padding_mode: ``"constant"`` (zeros), ``"reflect"`` or ``"replicate"``. AMDIM's CIFAR code uses a
            reflect-padded translation by up to 4 pixels: ``RandomCrop(32, 4, "reflect")``.

    Example:
        >>> RandomCrop(32, padding=4)(torch.rand(5, 3, 32, 32)).shape
        torch.Size([5, 3, 32, 32])
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0, padding_mode: str = "constant") -> None:
        super().__init__()
        if padding_mode not in ("constant", "reflect", "replicate"):
            raise ValueError(f"padding_mode must be constant, reflect or replicate, got {padding_mode!r}")
        self.size = _pair(size)
        self.padding = padding
        self.padding_mode = padding_mode

    def forward(self, x: Tensor) -> Tensor:
        if self.padding:
            p = self.padding
            x = F.pad(x, (p, p, p, p), mode=self.padding_mode)
        B, C, H, W = x.shape
        th, tw = self.size
        if th > H or tw > W:
            raise ValueError(f"crop {self.size} larger than the (padded) image {(H, W)}")
        u = torch.rand(B, 2)
        top = (u[:, 0] * (H - th + 1)).long().to(x.device)  # (B,)
        left = (u[:, 1] * (W - tw + 1)).long().to(x.device)
        rows = top[:, None] + torch.arange(th, device=x.device)  # (B, th)
        cols = left[:, None] + torch.arange(tw, device=x.device)  # (B, tw)
        b = torch.arange(B, device=x.device)[:, None, None]
        out = x[b, :, rows[:, :, None], cols[:, None, :]]  # (B, th, tw, C)
        return out.permute(0, 3, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return f"size={self.size}, padding={self.padding}, padding_mode={self.padding_mode!r}"


class ColorJitter(nn.Module):
    """Random brightness, contrast, saturation and hue, with per-sample factors, applied with probability p.

    Factors are drawn uniformly from ``[max(0, 1 - b), 1 + b]`` (brightness, contrast, saturation) and
    ``[-hue, hue]`` (a fraction of a full turn), as torchvision's ``ColorJitter``; the four operations are
    applied in a random order drawn once per call (torchvision draws it per image). Brightness multiplies;
    contrast and saturation blend with the image's mean luma / its luma image; hue rotates the chroma plane
    in YIQ space (a cheap, linear stand-in for torchvision's HSV hue shift). Saturation and hue do nothing
    to 1-channel images. Each step clamps to [0, 1].

    Example:
        >>> ColorJitter(0.4, 0.4, 0.4, 0.1)(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 3, 8, 8])
    """

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        p: float = 0.8,
    ) -> None:
        super().__init__()
        if min(brightness, contrast, saturation, hue) < 0 or hue > 0.5:
            raise ValueError("jitter strengths must be >= 0 and hue <= 0.5")
        self.brightness, self.contrast, self.saturation, self.hue, self.p = (
            brightness,
            contrast,
            saturation,
            hue,
            p,
        )

    def forward(self, x: Tensor) -> Tensor:
        B, C = x.shape[:2]
        dev = x.device
        apply = _coin(B, self.p, dev)  # (B,)
        order = torch.randperm(4).tolist()
        fb = _bcast(_uniform(B, max(0.0, 1 - self.brightness), 1 + self.brightness, dev)).to(x.dtype)
        fc = _bcast(_uniform(B, max(0.0, 1 - self.contrast), 1 + self.contrast, dev)).to(x.dtype)
        fs = _bcast(_uniform(B, max(0.0, 1 - self.saturation), 1 + self.saturation, dev)).to(x.dtype)
        angle = _uniform(B, -self.hue, self.hue, dev) * (2 * math.pi)  # (B,)
        y = x
        for k in order:
            if k == 0 and self.brightness > 0:
                y = (y * fb).clamp(0, 1)
            elif k == 1 and self.contrast > 0:
                m = grayscale(y).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
                y = ((y - m) * fc + m).clamp(0, 1)
            elif k == 2 and self.saturation > 0 and C == 3:
                g = grayscale(y)  # (B, 1, H, W)
                y = ((y - g) * fs + g).clamp(0, 1)
            elif k == 3 and self.hue > 0 and C == 3:
                y = _rotate_hue(y, angle)
        return torch.where(_bcast(apply), y, x)

    def extra_repr(self) -> str:
        return (
            f"brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, "
            f"hue={self.hue}, p={self.p}"
        )


def _rotate_hue(x: Tensor, angle: Tensor) -> Tensor:
    """Rotates the YIQ chroma plane of RGB images (B, 3, H, W) by ``angle`` (B,) radians; clamps to [0, 1]."""
    B = x.shape[0]
    cos, sin = angle.cos(), angle.sin()
    rot = torch.zeros(B, 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
    rot[:, 2, 1], rot[:, 2, 2] = sin, cos
    m = _YIQ2RGB.to(x) @ rot @ _RGB2YIQ.to(x)  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)


class RandomGrayscale(nn.Module):
    """Replaces RGB images by their luma (replicated to 3 channels) with probability ``p``, per sample."""

    def __init__(self, p: float = 0.2) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        gray = _coin(x.shape[0], self.p, x.device)  # (B,)
        if x.shape[1] == 1:
            return x
        return torch.where(_bcast(gray), grayscale(x).expand_as(x), x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GaussianNoise(nn.Module):
    """Adds i.i.d. N(0, std^2) noise to every pixel (drawn on the batch's device).

    Tschannen et al. (2020) add N(0, 0.05^2) to the MNIST half-image views, without clamping; that is the
    default here (``clamp=False``). ``clamp=True`` keeps the result in [0, 1].
    """

    def __init__(self, std: float, clamp: bool = False) -> None:
        super().__init__()
        self.std = std
        self.clamp = clamp

    def forward(self, x: Tensor) -> Tensor:
        y = x + self.std * torch.randn_like(x)
        return y.clamp(0, 1) if self.clamp else y

    def extra_repr(self) -> str:
        return f"std={self.std}, clamp={self.clamp}"


class GaussianBlur(nn.Module):
    """Gaussian blur with a per-sample sigma drawn from ``sigma``, applied with probability ``p``.

    One separable pair of grouped convolutions for the whole batch (reflect padding), as MoCo v2 / SimCLR's
    blur (sigma in [0.1, 2.0], kernel about 10% of the image side).
    """

    def __init__(self, kernel_size: int, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.kernel_size, self.sigma, self.p = kernel_size, tuple(sigma), p

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        apply = _coin(B, self.p, x.device)
        sig = _uniform(B, self.sigma[0], self.sigma[1], x.device).to(x.dtype)  # (B,)
        half = self.kernel_size // 2
        if half == 0:
            return x
        t = torch.arange(-half, half + 1, device=x.device, dtype=x.dtype)  # (k,)
        k = torch.exp(-(t[None] ** 2) / (2 * sig[:, None] ** 2))
        k = (k / k.sum(1, keepdim=True)).repeat_interleave(C, 0)  # (B*C, k)
        mode = "reflect" if half < min(H, W) else "replicate"
        y = F.pad(x, (half, half, half, half), mode=mode).reshape(1, B * C, H + 2 * half, W + 2 * half)
        y = F.conv2d(y, k[:, None, None, :], groups=B * C)  # (1, B*C, H+2h, W)
        y = F.conv2d(y, k[:, None, :, None], groups=B * C)  # (1, B*C, H, W)
        return torch.where(_bcast(apply), y.reshape(B, C, H, W), x)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, sigma={self.sigma}, p={self.p}"


class TopBottomHalves(nn.Module):
    """Splits images into their top and bottom halves: (B, C, H, W) -> ((B, C, H//2, W), (B, C, H - H//2, W)).

    The two views of Tschannen et al. (2020) for 28x28 MNIST: two (B, C, 14, 28) tensors.
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x.shape[2] // 2
        return x[:, :, :h], x[:, :, h:]


class TwoViews(nn.Module):
    """Two independently augmented copies ``(transform(x), second(x))``; ``second`` defaults to ``transform``.

    Example:
        >>> v1, v2 = TwoViews(RandomHorizontalFlip())(torch.rand(16, 1, 4, 4))
    """

    def __init__(
        self, transform: Callable[[Tensor], Tensor], second: Callable[[Tensor], Tensor] | None = None
    ) -> None:
        super().__init__()
        self.transform = transform if isinstance(transform, nn.Module) else _Fn(transform)
        self.second = None if second is None else (second if isinstance(second, nn.Module) else _Fn(second))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.transform(x), (self.second or self.transform)(x)


# ----------------------------------------------------------------------------------------------------------
# Named policies
# ----------------------------------------------------------------------------------------------------------
def random_translate(size: int) -> RandomCrop:
    """A translation by up to ``size // 8`` reflect-padded pixels (at least 1; 4 for 32x32, as AMDIM's CIFAR
    code): :class:`RandomCrop` of ``size`` after that padding.

    Example:
        >>> random_translate(32)
        RandomCrop(size=(32, 32), padding=4, padding_mode='reflect')
    """
    return RandomCrop(size, max(1, size // 8), "reflect")


def simclr_augment(size: int, strength: float = 0.5) -> Compose:
    """SimCLR's augmentation (Chen et al., 2020) in its CIFAR-10 setting: random resized crop (scale 0.08-1),
    horizontal flip, colour jitter of strength ``s`` (0.8s, 0.8s, 0.8s, 0.2s, p=0.8; s = 0.5 for CIFAR)
    and random grayscale (p=0.2); no blur (the paper drops it for CIFAR-10)."""
    s = strength
    return Compose([
        RandomResizedCrop(size, scale=(0.08, 1.0)),
        RandomHorizontalFlip(0.5),
        ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8),
        RandomGrayscale(0.2),
    ])  # fmt: skip


def mocov2_augment(size: int) -> Compose:
    """MoCo v2's augmentation (Chen, Fan, Girshick, He, 2020): random resized crop (scale 0.2-1), colour
    jitter (0.4, 0.4, 0.4, 0.1, p=0.8), random grayscale (p=0.2), Gaussian blur (sigma 0.1-2, p=0.5,
    kernel ~10% of the side, odd, at least 3) and horizontal flip."""
    k = max(3, int(0.1 * size) // 2 * 2 + 1)
    return Compose([
        RandomResizedCrop(size, scale=(0.2, 1.0)),
        ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        RandomGrayscale(0.2),
        GaussianBlur(k, (0.1, 2.0), p=0.5),
        RandomHorizontalFlip(0.5),
    ])  # fmt: skip


def amdim_augment(
    size: int,
    random_crop: bool = True,
    color_jitter: bool = True,
    random_gray: bool = True,
    translate: bool = False,
    jitter_scale: float = 1.0,
) -> Compose:
    """AMDIM's augmentation (Bachman, Hjelm, Buchwalter, 2019): horizontal flip, random resized crop
    (scale 0.3-1, ratio 0.7-1.4), colour jitter (0.4, 0.4, 0.4, 0.2, p=0.8) and random grayscale (p=0.25),
    as in the authors' code for its STL/ImageNet inputs. The flags drop one step each (ablations); without
    the crop the images are only resized to ``size`` if needed. ``translate`` puts the authors' CIFAR step
    in the crop's place: :func:`random_translate` with probability 0.8 (:func:`amdim_cifar_augment`).
    ``jitter_scale`` multiplies the four jitter strengths (2: SimCLR's strength 1 for brightness, contrast
    and saturation, 0.8 each; hue 0.4); it must be >= 0 and keep the hue <= 0.5."""
    if not 0.0 <= jitter_scale <= 2.5:
        raise ValueError(f"jitter_scale must be in [0, 2.5] (hue 0.2 x scale <= 0.5), got {jitter_scale}")
    steps: list[nn.Module] = [RandomHorizontalFlip(0.5)]
    if translate:
        steps.append(RandomApply(random_translate(size), p=0.8))
    elif random_crop:
        steps.append(RandomResizedCrop(size, scale=(0.3, 1.0), ratio=(0.7, 1.4)))
    else:
        steps.append(RandomResizedCrop(size, scale=(1.0, 1.0), ratio=(1.0, 1.0)))
    if color_jitter:
        j = jitter_scale
        steps.append(ColorJitter(0.4 * j, 0.4 * j, 0.4 * j, 0.2 * j, p=0.8))
    if random_gray:
        steps.append(RandomGrayscale(0.25))
    return Compose(steps)


def amdim_cifar_augment(size: int, jitter_scale: float = 1.0) -> Compose:
    """AMDIM's CIFAR-10/100 augmentation (Bachman et al., 2019, the authors' ``TransformsC10``): a
    translation by up to ``size // 8`` reflect-padded pixels (4 for 32x32) with probability 0.8, colour
    jitter (0.4, 0.4, 0.4, 0.2, p=0.8), random grayscale (p=0.25) and a horizontal flip (p=0.5). No resized
    crop: the image keeps its scale. (The authors flip once per image before drawing the two views; here each
    view draws its own flip, as every policy in this module.) ``jitter_scale``: as in :func:`amdim_augment`.

    Example:
        >>> amdim_cifar_augment(32)(torch.rand(4, 3, 32, 32)).shape
        torch.Size([4, 3, 32, 32])
    """
    return amdim_augment(size, translate=True, jitter_scale=jitter_scale)
