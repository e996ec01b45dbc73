"""Critic-free estimators of I(X; Y): Gaussian-copula MI and KSG on the rank-Gaussianized data, and the
radial KSG.

The first two read the columnwise Gaussian copula transform of the inputs (``Prepared.rank_x``/``rank_y``):
MI is invariant under invertible elementwise maps, so they see the same MI as the raw data.

- :func:`gaussian_copula_mi`: the MI of a Gaussian with the sample covariance of the transformed data,
  ``0.5 (log det C_x + log det C_y - log det C_xy)``, with the exact finite-sample bias correction of the
  Gaussian log-determinant (Wishart expectation; Ince et al. 2017). Exact (up to noise) when the copula is
  Gaussian (any Gaussian under monotone maps of each coordinate); it misses dependence that is not linear
  in the transformed coordinates (e.g. Student-t's shared scale).
- :func:`ksg_mi`: Kraskov, Stoegbauer & Grassberger (2004), algorithm 1, with the max-norm; consistent for
  any continuous distribution, accurate in a few dimensions, biased low when dx + dy is large.
- :func:`scaled_ksg_mi`: KSG on the data as given, each column only standardized (z-score), with the
  Euclidean distance within each side (the distance between two pairs is the larger of the two sides'
  Euclidean distances), as the bmi package's KSG does. KSG is consistent under any invertible map of
  each column and with any norm on each side, but its finite-sample bias is not invariant: where the
  dependence is on a side's norm and the other side is a few tight clusters (bmi's concentric-Gaussian
  tasks) KSG on the ranks with the max-norm reads the MI 7-15% low (0.97-1.04 of the truth here). Brute
  force in blocks: O(n^2 (dx + dy)), so only up to ``SCALED_KSG_MAX_ROWS`` rows.
- :func:`radial_mi`: KSG between one feature per side, the norm of the robustly standardized row (read
  from the data as given: the columnwise rank transform would break a radial structure). A lower bound on
  the MI (data-processing inequality), read in two dimensions where KSG is accurate, and all of it for a
  shared-scale dependence (Student-t), which the two others read far low from 2-3 dimensions per side.

Each returns ``(value, stderr)`` in nats; the standard error is the plug-in std / sqrt(n) of the per-sample
terms (KSG) or the delta-method one (Gaussian), sampling noise only.

Example:
    >>> import math, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((4000, 1)); y = 0.8 * x + 0.6 * rng.standard_normal((4000, 1))
    >>> round(-0.5 * math.log(1 - 0.8 ** 2), 3)  # the truth
    0.511
    >>> v, se = gaussian_copula_mi(x, y); abs(v - 0.511) < 3 * se + 0.01
    True
    >>> v, se = ksg_mi(x, y, k=5, seed=0); abs(v - 0.511) < 0.03
    True
"""

from __future__ import annotations

import math

import numpy as np

from infomax.estimate.data import radial_feature, zscore
from infomax.estimate.projection import canonical_from_cov


def _gauss_entropy_corrected(c: np.ndarray, n: int) -> float:
    """Bias-corrected entropy (nats, up to the constant d/2 log(2 pi e)) of a Gaussian from the (d, d)
    sample covariance ``c`` (denominator n - 1) of n samples."""
    from scipy.special import psi

    d = c.shape[0]
    sign, logdet = np.linalg.slogdet(c)
    if sign <= 0:
        return -math.inf
    psiterms = psi((n - np.arange(1, d + 1)) / 2.0) / 2.0
    dterm = (math.log(2.0) - math.log(n - 1.0)) / 2.0
    return 0.5 * logdet - (d * dterm + float(psiterms.sum()))


def gaussian_copula_mi(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Bias-corrected Gaussian MI of x (n, dx), y (n, dy) (already Gaussianized); (value, stderr) nats.

    The standard error is the asymptotic one of the Gaussian MI through the canonical correlations r_i:
    I = -0.5 sum log(1 - r_i^2), var(r_i) ~= (1 - r_i^2)^2 / n, so se^2 = sum r_i^2 / n.
    """
    n, dx = x.shape
    z = np.concatenate([x, y], axis=1)
    c = np.cov(z, rowvar=False).reshape(z.shape[1], z.shape[1])
    hx = _gauss_entropy_corrected(c[:dx, :dx], n)
    hy = _gauss_entropy_corrected(c[dx:, dx:], n)
    hxy = _gauss_entropy_corrected(c, n)
    if not all(math.isfinite(h) for h in (hx, hy, hxy)):
        return math.nan, math.nan
    value = hx + hy - hxy
    # canonical correlations for the standard error (the covariance is positive definite here)
    try:
        r = np.clip(canonical_from_cov(c[:dx, :dx], c[dx:, dx:], c[:dx, dx:])[2], 0.0, 1.0 - 1e-12)
        se = math.sqrt(float((r**2).sum()) / n)
    except np.linalg.LinAlgError:
        se = math.nan
    return float(value), se


def ksg_mi(x: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0) -> tuple[float, float]:
    """KSG estimate (algorithm 1, max-norm, ``k`` neighbours) of I(X; Y) from x (n, dx), y (n, dy).

    A jitter of 1e-10 (seeded) breaks ties so that repeated values do not make zero distances.
    """
    from scipy.spatial import cKDTree

    x, y = _jittered(x, y, seed)
    z = np.concatenate([x, y], axis=1)
    eps = cKDTree(z).query(z, k=k + 1, p=np.inf)[0][:, -1]  # (n,) k-th neighbour, self excluded
    r = np.nextafter(eps, 0)  # strictly inside the ball
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1  # (n,)
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1  # (n,)
    return _ksg_estimate(nx, ny, k)


def scaled_ksg_mi(x: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0) -> tuple[float, float]:
    """KSG on x (n, dx) and y (n, dy) as given, each column standardized
    (:func:`~infomax.estimate.data.zscore`), Euclidean within each side (see the module); (value,
    stderr) nats. The same seeded 1e-10 jitter as :func:`ksg_mi` breaks ties.

    Example (one column a side, where the Euclidean and the max-norm agree):
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((500, 1)); y = x + rng.standard_normal((500, 1))
        >>> scaled_ksg_mi(x, y)[0] == ksg_mi(zscore(x), zscore(y))[0]
        True
    """
    from scipy.spatial.distance import cdist

    n = x.shape[0]
    x, y = _jittered(zscore(x), zscore(y), seed)
    nx, ny = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for lo in range(0, n, _BLOCK_ROWS):
        hi = min(lo + _BLOCK_ROWS, n)
        dx, dy = cdist(x[lo:hi], x), cdist(y[lo:hi], y)  # (b, n) each
        dz = np.maximum(dx, dy)
        dz[np.arange(hi - lo), np.arange(lo, hi)] = np.inf  # not its own neighbour
        eps = np.partition(dz, k - 1, axis=1)[:, k - 1 : k]  # (b, 1) distance to the k-th neighbour
        nx[lo:hi] = (dx < eps).sum(1) - 1  # strictly inside, self excluded
        ny[lo:hi] = (dy < eps).sum(1) - 1
    return _ksg_estimate(nx, ny, k)


def _jittered(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y plus a seeded 1e-10 jitter (x's drawn first), so that repeated values make no zero
    distances."""
    rng = np.random.default_rng(seed)
    return x + 1e-10 * rng.standard_normal(x.shape), y + 1e-10 * rng.standard_normal(y.shape)


def _ksg_estimate(nx: np.ndarray, ny: np.ndarray, k: int) -> tuple[float, float]:
    """KSG's (value, stderr) from each point's marginal neighbour counts nx, ny (n,) within its distance
    to the k-th joint neighbour: the mean of psi(k) + psi(n) - psi(nx + 1) - psi(ny + 1), std / sqrt(n)."""
    from scipy.special import digamma

    n = len(nx)
    terms = digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)  # (n,)
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(n))


_BLOCK_ROWS = 256  # scaled_ksg_mi's rows per block: three (256, n) float64 arrays (123 MB at n = 20,000)


def radial_mi(x: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0) -> tuple[float, float]:
    """KSG (``k`` neighbours) between the radial features (:func:`radial_feature`) of x (n, dx) and
    y (n, dy): a lower bound on I(X; Y) read in two dimensions, where KSG is accurate. (value, stderr)
    nats; read x and y as given (not rank-transformed: the columnwise rank transform breaks a shared
    scale's radial structure)."""
    return ksg_mi(radial_feature(x), radial_feature(y), k=k, seed=seed)


#: KSG runs in ``method="auto"`` only up to this many input dimensions dx + dy: beyond it the estimate is
#: far too low to ever be the largest (25 x 25 Gaussians: 0.95 for 1.29 nats, see BENCHMARKS.md) and slow.
KSG_MAX_DIMS = 20
#: :func:`scaled_ksg_mi` runs in ``method="auto"`` only up to this many rows (its cost grows as n^2; at
#: 20,000 rows and 20 dimensions 9.8 s on one core, 0.5 s at 5,000 rows).
SCALED_KSG_MAX_ROWS = 20_000
#: z of the two-sided 90% normal interval.
Z90 = 1.6448536269514722
#: How far above the largest estimate the 90% interval reaches, in units of the spread between the
#: estimators' values (the bias allowance; calibrated on the development seeds of benchmarks/estimate/).
BIAS_ALLOWANCE = 1.0


def combine(
    values: dict[str, tuple[float, float]],
    bias_allowance: float = BIAS_ALLOWANCE,
    also_spread: tuple[float, ...] = (),
    not_spread: tuple[str, ...] = ("radial",),
) -> tuple[str, float, float, tuple[float, float]]:
    """The reported estimate from several estimators' ``{name: (value, stderr)}`` (NaN values ignored).

    Every estimator used here reads low where it fails (the Gaussian copula misses non-Gaussian dependence,
    KSG loses MI in many dimensions, a critic limited by samples or steps falls short of the bound), so the
    largest value is reported. The 90% interval covers the noise of that value (+/- 1.645 stderr) and, above
    it, the bias: ``bias_allowance`` times the spread (largest - smallest value) between the estimators,
    counting also the finite values of ``also_spread`` (readings left out of the maximum, e.g. a critic that
    does not generalize: they still show how far apart the estimators are; a negative one counts as 0, so
    the interval then reaches at most twice the value). The readings named in ``not_spread`` (the radial
    KSG, which reads the MI of one feature per side, far below I(X; Y) whenever the dependence is not a
    shared scale) take part in the maximum only, not in the spread.

    Returns:
        ``(winner's name, value, stderr, (low, high))``; ``("", nan, nan, (nan, nan))`` without a finite
        value.

    Example:
        >>> name, v, se, (lo, hi) = combine({"gaussian": (0.0, 0.001), "ksg": (0.4, 0.01)})
        >>> name, v, round(lo, 4), round(hi, 4)
        ('ksg', 0.4, 0.3836, 0.8164)
    """
    ok = {k: v for k, v in values.items() if math.isfinite(v[0])}
    if not ok:
        return "", math.nan, math.nan, (math.nan, math.nan)
    name = max(ok, key=lambda k: ok[k][0])
    v, se = ok[name]
    se = se if math.isfinite(se) else 0.0
    full = [val for k, (val, _) in ok.items() if k not in not_spread] or [v]
    spread = v - min(full + [max(a, 0.0) for a in also_spread if math.isfinite(a)])
    return name, v, se, (v - Z90 * se, v + Z90 * se + bias_allowance * spread)
