"""The Frechet distance between Gaussians fitted to two feature sets: the arithmetic shared by FID
(:mod:`infomax.evaluation.fid`, Inception-v3 features) and classifier-FD (:mod:`infomax.evaluation.gen_proxy`,
a locally trained classifier's features).

``d = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})``, the squared 2-Wasserstein distance of two Gaussians
(Dowson & Landau 1982). :func:`frechet_distance_features` computes it from the features themselves, exactly
and cheaply (a nuclear norm, also for N < D); :func:`frechet_distance` from (mean, covariance) pairs with a
general ``sqrtm``, as pytorch-fid does.

Example:
    >>> a = np.random.default_rng(0).normal(size=(500, 3))
    >>> abs(frechet_distance(*gaussian_stats(a), *gaussian_stats(a))) < 1e-9
    True
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from infomax.errors import UserError


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
