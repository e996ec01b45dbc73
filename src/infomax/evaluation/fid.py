"""FID: the Frechet distance between Gaussians fitted to Inception-v3 pool3 features of real and generated
images (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium"), with pytorch-fid's network (:mod:`infomax.evaluation.inception`) and a local weights file.

``FID = ||mu_r - mu_g||^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^{1/2})``. The trace of the matrix square root
is computed exactly and cheaply as a nuclear norm (:func:`frechet_distance_features`) rather than with a
general ``sqrtm`` of the 2048x2048 product: the two agree when the covariances are full rank, and the
nuclear norm stays exact when fewer images than feature dimensions make them singular. FID is biased
upwards for small sample sizes: compare values only at equal numbers of images (published numbers use
10k-50k).

Example:
    >>> import numpy as np
    >>> real = np.random.default_rng(0).integers(0, 256, (8, 3, 32, 32), dtype=np.uint8)
    >>> fid(real, real, "pt_inception-2015-12-05-6726825d.pth")  # doctest: +SKIP
    0.0
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from infomax.errors import UserError
from infomax.evaluation.gen_proxy import gaussian_stats
from infomax.evaluation.inception import InceptionV3FID, load_inception
from infomax.progress import bar


@torch.no_grad()
def inception_features(net: InceptionV3FID, images_uint8: np.ndarray, batch_size: int = 50,
                       device: str = "cpu", label: str = "Inception features") -> np.ndarray:
    """pool3 features (N, 2048) float64 of uint8 images (N, C, H, W), C in {1, 3} (grey is repeated).

    Runs ``net`` in eval mode on ``device`` (it is moved there), ``batch_size`` images at a time, with a
    progress bar labelled ``label`` (see :mod:`infomax.progress`).
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"FID needs uint8 images (N, 1 or 3, H, W), got {images.dtype} {images.shape}")
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    net = net.to(device).eval()
    out = []
    with bar(total=len(images), desc=label, unit="img") as progress:
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size]).to(device).float() / 255
            out.append(net(x).double().cpu())  # (B, 2048)
            progress.update(len(x))
    return torch.cat(out).numpy() if out else np.zeros((0, net.fc.in_features))


def _cov_factor(feats: np.ndarray) -> np.ndarray:
    """F (r, D) with F^T F = the sample covariance (ddof 1) of feats (N, D); r = min(N, D)."""
    n, d = feats.shape
    if n <= d:  # centred features: rank <= N - 1, no D x D work
        return (feats - feats.mean(0)) / np.sqrt(n - 1)
    _, cov = gaussian_stats(feats)
    w, v = np.linalg.eigh(cov)  # symmetric square root
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_features(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted (mean, covariance with ddof 1) to two feature sets.

    With covariance factors ``S_i = F_i^T F_i``, the nonzero eigenvalues of ``S1 S2`` are the squared
    singular values of ``F1 F2^T``, so ``tr((S1 S2)^{1/2})`` is the nuclear norm of ``F1 F2^T`` (exact
    for singular covariances, e.g. N < D; equal to pytorch-fid's ``sqrtm`` route for full-rank ones).

    Args:
        feats1: features (N1, D), N1 >= 2.
        feats2: features (N2, D), N2 >= 2.

    Returns:
        ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})`` (>= 0 up to rounding).

    Example:
        >>> a = np.random.default_rng(0).normal(size=(5, 100))
        >>> abs(frechet_distance_features(a, a)) < 1e-9
        True
    """
    f1, f2 = np.asarray(feats1, dtype=np.float64), np.asarray(feats2, dtype=np.float64)
    for f in (f1, f2):
        if f.ndim != 2 or len(f) < 2:
            raise UserError(f"need features (N >= 2, D), got shape {f.shape}")
    if f1.shape[1] != f2.shape[1]:
        raise UserError(f"feature widths differ: {f1.shape[1]} vs {f2.shape[1]}")
    a, b = _cov_factor(f1), _cov_factor(f2)  # (r1, D), (r2, D)
    tr_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum()  # nuclear norm of (r1, r2)
    mean_term = float(((f1.mean(0) - f2.mean(0)) ** 2).sum())
    return mean_term + float((a * a).sum() + (b * b).sum() - 2 * tr_sqrt)


def fid(real_uint8: np.ndarray, fake_uint8: np.ndarray, weights: str | Path | InceptionV3FID,
        batch_size: int = 50, device: str = "cpu") -> float:
    """FID between real and generated uint8 images (N, C, H, W), C in {1, 3}, any H, W.

    Args:
        real_uint8: real images (N1 >= 2).
        fake_uint8: generated images (N2 >= 2).
        weights: a local path to pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (or a
            ``.safetensors`` with its keys; see :func:`~infomax.evaluation.inception.load_inception`), or
            an already loaded :class:`~infomax.evaluation.inception.InceptionV3FID`.
        batch_size: images per Inception forward pass (each is resized to 299x299).
        device: where the network runs.

    Example:
        >>> fid(test_images, samples, "pt_inception-2015-12-05-6726825d.pth")  # doctest: +SKIP
        34.6
    """
    net = weights if isinstance(weights, InceptionV3FID) else load_inception(weights)
    fr = inception_features(net, real_uint8, batch_size, device, label="Inception features: real")
    ff = inception_features(net, fake_uint8, batch_size, device, label="Inception features: generated")
    return frechet_distance_features(fr, ff)
