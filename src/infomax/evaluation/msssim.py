"""SSIM and multi-scale SSIM, and the reconstruction measure: MS-SSIM of a decoder trained on frozen Y.

Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality assessment" (Asilomar 2003);
used by Hjelm et al. (ICLR 2019, Table 4) as a proxy for the pixel-level information in a representation.

Small images. The standard MS-SSIM uses an 11x11 Gaussian window (sigma 1.5) at 5 scales (each a 2x2
average-pooled copy of the previous), which needs images of side >= 11 * 2**4 = 176. Here the number
of scales adapts to the image: ``M = min(5, 1 + floor(log2(side / win)))`` so the window fits at every
scale, the weights are the first M standard weights renormalised to sum 1, and when even the first scale is
smaller than the window (8x8 digits) the window is truncated to the largest odd size that fits (7 for 8x8),
keeping sigma = 1.5. Hence 32x32 and 28x28 use 2 scales with weights (0.1356, 0.8644) and the 11-window;
8x8 uses 1 scale (plain SSIM) with a 7-window. Negative contrast-structure terms are clipped to 0 before the
fractional powers (as common implementations do). Filtering is "valid" (no padding), as in Wang's code.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer, extract_features, to_float_images
from infomax.progress import bar

#: Wang et al. 2003 scale weights, finest first.
STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2 = 0.01, 0.03


def gaussian_window(size: int, sigma: float) -> Tensor:
    """Normalised 1-D Gaussian (size,), centred; the 2-D window is its outer product."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def scale_plan(side: int, win_size: int = 11, max_scales: int = 5) -> tuple[int, int, tuple[float, ...]]:
    """``(n_scales, window size, weights)`` for images whose smaller side is ``side`` (see module docstring).

    Example:
        >>> scale_plan(32)[:2], scale_plan(8)[:2], scale_plan(256)[0]
        ((2, 11), (1, 7), 5)
    """
    if side < 1:
        raise UserError("images must be at least 1x1")
    win = win_size if side >= win_size else (side if side % 2 else side - 1)
    n = 1
    while n < max_scales and side // 2**n >= win:
        n += 1
    w = STANDARD_WEIGHTS[:n]
    total = sum(w)
    return n, win, tuple(v / total for v in w)


def _blur(x: Tensor, g: Tensor) -> Tensor:
    """Valid separable Gaussian filtering of (B, C, H, W) with the 1-D window g (k,)."""
    c = x.shape[1]
    k = g.numel()
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _ssim_cs(x: Tensor, y: Tensor, g: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Per-image mean SSIM and mean contrast-structure term, each (B,)."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mx, my = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mx * mx
    syy = _blur(y * y, g) - my * my
    sxy = _blur(x * y, g) - mx * my
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    l_map = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (l_map * cs_map).flatten(1).mean(1), cs_map.flatten(1).mean(1)


def _check_pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if x.shape != y.shape or x.dim() != 4:
        raise UserError(
            f"SSIM needs two image batches of one shape (B, C, H, W), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    return x.double(), y.double()


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Single-scale SSIM (Wang et al. 2004) per image: (B, C, H, W) x2 -> (B,), Gaussian window, valid.

    The window is truncated to the image when the image is smaller (see the module docstring).

    Example:
        >>> x = torch.rand(2, 1, 16, 16)
        >>> ssim(x, x).tolist()
        [1.0, 1.0]
    """
    x, y = _check_pair(x, y)
    _, win, _ = scale_plan(min(x.shape[-2:]), win_size, 1)
    return _ssim_cs(x, y, gaussian_window(win, sigma).to(x.device), data_range)[0].float()


def ms_ssim(
    x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5, max_scales: int = 5
) -> Tensor:
    """Multi-scale SSIM per image: (B, C, H, W) x2 -> (B,), ``prod_j cs_j^w_j * ssim_M^w_M``.

    Scales, window and weights adapt to small images as the module docstring says (5 scales, the standard
    weights and an 11-window from side 176 up).

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> ms_ssim(x, x).tolist()
        [1.0, 1.0]
    """
    x, y = _check_pair(x, y)
    n, win, weights = scale_plan(min(x.shape[-2:]), win_size, max_scales)
    g = gaussian_window(win, sigma).to(x.device)
    out = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
    for j in range(n):
        s, cs = _ssim_cs(x, y, g, data_range)
        if j == n - 1:
            out = out * s.clamp_min(0) ** weights[j]
        else:
            out = out * cs.clamp_min(0) ** weights[j]
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out.float()


class Decoder(nn.Module):
    """A DCGAN-style decoder from a vector to an image in [0, 1].

    Linear(D, 128 * s * s) - BN - ReLU -> ConvT(128, 64, 4, 2, 1) - BN - ReLU -> ConvT(64, C, 4, 2, 1) -
    sigmoid, with s = ceil(side / 4); the (4s x 4s) output is cropped to the image size.

    Example:
        >>> Decoder(64, 3, 32)(torch.randn(5, 64)).shape
        torch.Size([5, 3, 32, 32])
    """

    def __init__(self, in_dim: int, channels: int, image_size: int) -> None:
        super().__init__()
        self.s = math.ceil(image_size / 4)
        self.image_size = image_size
        self.fc = nn.Sequential(
            nn.Linear(in_dim, 128 * self.s * self.s), nn.BatchNorm1d(128 * self.s**2), nn.ReLU()
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, channels, 4, 2, 1),
            nn.Sigmoid(),
        )

    def forward(self, y: Tensor) -> Tensor:
        h = self.fc(y).view(len(y), 128, self.s, self.s)  # (B, 128, s, s)
        return self.up(h)[..., : self.image_size, : self.image_size]  # (B, C, H, W)


def _decode(dec: nn.Module, feats: Tensor, chunk: int = 1024) -> Tensor:
    dec.eval()
    with torch.no_grad():
        return torch.cat([dec(feats[s : s + chunk]) for s in range(0, len(feats), chunk)])


def msssim_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 1e-3,
    max_train: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    **_: object,
) -> dict:
    """Train a :class:`Decoder` from frozen features of ``layer`` (default the output layer) to the image
    (MSE, Adam), keep the epoch with the lowest validation MSE, and report the test MS-SSIM.

    Returns ``{"ms_ssim": mean over test images, "mse": test MSE, "n_scales", "window", "layer",
    "n_train", "n_test", "best_epoch"}``.
    """
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    tr_img = splits.train.images[:max_train] if max_train else splits.train.images
    if tr_img.shape[-1] != tr_img.shape[-2]:
        raise UserError("the MS-SSIM protocol needs square images")
    val_img = splits.val.images if len(splits.val.images) else None
    te_img = splits.test.images

    def feats(images: np.ndarray, split: str) -> Tensor:
        return torch.from_numpy(extract_features(encoder, images, layer, device=device, split=split))

    f_tr, f_te = feats(tr_img, "train"), feats(te_img, "test")
    mean, std = f_tr.mean(0), f_tr.std(0).clamp_min(1e-8)
    f_tr, f_te = (f_tr - mean) / std, (f_te - mean) / std
    f_val = (feats(val_img, "val") - mean) / std if val_img is not None else None
    x_tr, x_te = to_float_images(tr_img), to_float_images(te_img)
    x_val = to_float_images(val_img) if val_img is not None else None
    c, side = x_tr.shape[1], x_tr.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dec = Decoder(f_tr.shape[1], c, side).to(device)
        opt = torch.optim.Adam(dec.parameters(), lr=lr)
        best, best_state, best_epoch = math.inf, copy.deepcopy(dec.state_dict()), 0
        for epoch in bar(range(1, epochs + 1), desc=f"MS-SSIM decoder {layer}", unit="epoch"):
            dec.train()
            perm = torch.randperm(len(f_tr))
            for s in range(0, len(perm), batch_size):
                idx = perm[s : s + batch_size]
                if len(idx) < 2:
                    continue
                loss = F.mse_loss(dec(f_tr[idx].to(device)), x_tr[idx].to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if f_val is not None:
                val_mse = float(F.mse_loss(_decode(dec, f_val.to(device)).cpu(), x_val))
                if val_mse < best:
                    best, best_state, best_epoch = val_mse, copy.deepcopy(dec.state_dict()), epoch
            else:
                best_state, best_epoch = copy.deepcopy(dec.state_dict()), epoch
        dec.load_state_dict(best_state)
    recon = _decode(dec, f_te.to(device)).cpu()
    n, win, _ = scale_plan(side)
    return {
        "protocol": "msssim",
        "ms_ssim": float(ms_ssim(recon, x_te).mean()),
        "mse": float(F.mse_loss(recon, x_te)),
        "n_scales": n,
        "window": win,
        "layer": layer,
        "n_train": len(f_tr),
        "n_test": len(f_te),
        "best_epoch": best_epoch,
    }
