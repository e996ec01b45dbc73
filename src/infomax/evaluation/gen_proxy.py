"""Generation quality without Inception weights: the Frechet distance in a locally trained classifier's
feature space ("classifier-FD").

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium") is the Frechet distance between Gaussians fitted to Inception-v3 pool features of real and
generated images. Inception weights cannot be downloaded here, so this module computes the same distance
in the feature space of a classifier trained on the dataset's labels in this process
(:func:`infomax.evaluation.supervised_encoder`). Its values are **not** FID and are only comparable between
runs scored with the same classifier (same data, architecture, steps and seed).

Example:
    >>> import numpy as np
    >>> a = np.random.default_rng(0).normal(size=(500, 3))
    >>> abs(frechet_distance(*gaussian_stats(a), *gaussian_stats(a))) < 1e-9
    True
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from torch import nn

from infomax.errors import UserError
from infomax.evaluation.features import extract_features


def gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of features (N, D), float64."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise UserError(f"need features (N >= 2, D), got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})``: the squared 2-Wasserstein distance of two
    Gaussians (Dowson & Landau 1982), as in FID."""
    s1, s2 = np.atleast_2d(s1), np.atleast_2d(s2)
    with warnings.catch_warnings():  # singular products (N < D features) are handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = np.asarray(scipy.linalg.sqrtm(s1 @ s2))
        if not np.isfinite(covmean).all():  # near-singular product: regularise as pytorch-fid does
            off = np.eye(len(s1)) * 1e-6
            covmean = np.asarray(scipy.linalg.sqrtm((s1 + off) @ (s2 + off)))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def classifier_fd(classifier: nn.Module, real_uint8: np.ndarray, fake_uint8: np.ndarray,
                  layer: str | None = None, device: str = "cpu") -> float:
    """classifier-FD between real and generated uint8 images (N, C, H, W) in ``classifier``'s ``layer``
    features (default its output layer). Not FID: see the module docstring."""
    from infomax.evaluation.fid import frechet_distance_features  # exact and fast, also for N < D

    fr = extract_features(classifier, real_uint8, layer, device=device, split="classifier-FD real")
    ff = extract_features(classifier, fake_uint8, layer, device=device, split="classifier-FD generated")
    return frechet_distance_features(fr, ff)
