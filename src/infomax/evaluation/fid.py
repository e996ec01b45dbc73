"""FID: the Frechet distance between Gaussians fitted to Inception-v3 pool3 features of real and generated
images (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium"), with pytorch-fid's network (:mod:`infomax.evaluation.inception`) and a local weights file.

``FID = ||mu_r - mu_g||^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^{1/2})``. The trace of the matrix square root
is computed exactly and cheaply as a nuclear norm
(:func:`~infomax.evaluation.frechet.frechet_distance_features`) rather than with a general ``sqrtm`` of the
2048x2048 product: the two agree when the covariances are full rank, and the nuclear norm stays exact when
fewer images than feature dimensions make them singular. FID is biased upwards for small sample sizes: compare
values only at equal numbers of images (published numbers use 10k-50k).

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
from infomax.evaluation.frechet import frechet_distance_features
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
