"""A canonical-correlation projection of each side: what a critic reads in many dimensions.

With many dimensions per side and a few thousand rows, a critic on every column memorizes its training pairs
(on the Beyond-Normal 25 x 25 spirals: 2.3 nats on its training batches, 0.5 held out, truth 1.0). When the
dependence lives in a few directions of each side, a critic on those directions (and on each side's radial
feature, which keeps a norm-dependent structure such as a spiral's rotation) generalizes from the same rows.

:func:`canonical_projection` finds the directions by canonical correlation analysis of the
(rank-Gaussianized) training rows: whiten each side, take the singular vectors of the whitened
cross-covariance, and keep the canonical correlations above the level independent noise reaches,
``edge_factor * (sqrt(dx / n) + sqrt(dy / n))`` (the largest sample canonical correlation of independent
sides sits near ``sqrt(dx / n) + sqrt(dy / n)`` when dx, dy << n), at least one and at most ``max_dims``.
A fixed function of X and one of Y: by the data-processing inequality the MI of the projections is a lower
bound on I(X; Y), and it is all of it when the dependence lives in the kept directions (and the norms).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal((3000, 2))
    >>> x = np.hstack([z, rng.standard_normal((3000, 20))])  # (3000, 22): the dependence is in columns 0-1
    >>> y = np.hstack([rng.standard_normal((3000, 20)), z + 0.5 * rng.standard_normal((3000, 2))])
    >>> wx, wy, r = canonical_projection(x, y)
    >>> wx.shape, wy.shape, [round(float(v), 2) for v in r]  # the truth: 1 / sqrt(1.25) = 0.894
    ((22, 2), (22, 2), [0.9, 0.89])
"""

from __future__ import annotations

import math

import numpy as np

#: A canonical correlation is kept when above this multiple of the noise level sqrt(dx/n) + sqrt(dy/n)
#: (chosen on development seed 0 of benchmarks/estimate/: it keeps the 2 directions of the 25 x 25 sparse
#: and spiral tasks, whose next correlations sit at the noise level, 0.11-0.14 against 0.17 x 1.5 = 0.25).
EDGE_FACTOR = 1.5
#: At most this many directions a side.
MAX_DIMS = 8


def canonical_projection(
    x: np.ndarray, y: np.ndarray, edge_factor: float = EDGE_FACTOR, max_dims: int = MAX_DIMS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The canonical directions of x (n, dx) and y (n, dy) above the noise level (see the module).

    Returns:
        ``(wx (dx, m), wy (dy, m), r (m,))``: ``x @ wx`` and ``y @ wy`` are the m canonical variates
        (centred data assumed: the rank-Gaussianized columns are), ``r`` their correlations, largest first.
    """
    (n, dx), dy = x.shape, y.shape[1]
    wx, wy, r = canonical_correlations(x, y)
    edge = edge_factor * (math.sqrt(dx / n) + math.sqrt(dy / n))
    m = int(np.clip((r > edge).sum(), 1, min(max_dims, len(r))))
    return wx[:, :m], wy[:, :m], r[:m]


def canonical_correlations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every canonical direction of x (n, dx) and y (n, dy): ``(wx (dx, q), wy (dy, q), r (q,))``, q =
    min(dx, dy), correlations largest first (the singular values of the whitened cross-covariance)."""
    n = x.shape[0]
    xc, yc = x - x.mean(0), y - y.mean(0)
    return canonical_from_cov(xc.T @ xc / (n - 1), yc.T @ yc / (n - 1), xc.T @ yc / (n - 1))


def canonical_from_cov(
    cxx: np.ndarray, cyy: np.ndarray, cxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`canonical_correlations` from the covariances cxx (dx, dx), cyy (dy, dy) and cxy (dx, dy), for
    a caller that already has them (the Gaussian-copula MI)."""
    wx_white, wy_white = _inv_sqrt(cxx), _inv_sqrt(cyy)
    cross = wx_white @ cxy @ wy_white  # (dx, dy) whitened cross-covariance
    u, r, vt = np.linalg.svd(cross, full_matrices=False)
    return wx_white @ u, wy_white @ vt.T, r


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    """c^(-1/2) of a (d, d) covariance, eigenvalues floored at 1e-9 of the largest (a constant column)."""
    w, v = np.linalg.eigh(c)
    w = np.maximum(w, 1e-9 * max(float(w.max()), 1e-12))
    return (v / np.sqrt(w)) @ v.T
