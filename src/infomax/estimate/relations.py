"""What the data show before any critic: an exact deterministic relation, and the strongest column pair.

Both checks are cheap and run on every estimate (see ``MIEstimate.deterministic`` and ``pair_check``):

- :func:`_exact_relation` finds Y = f(X) for a continuous Y (a column with the same or reversed ranks as
  an X column, or an exact least-squares fit from the X columns): the MI is then infinite;
- :func:`_pair_check` reads the most rank-correlated (x column, y column) pair: a dependence that a failing
  critic misses is still reported, since I(X;Y) is at least the MI of any pair of its columns.

Example:
    >>> import numpy as np
    >>> from infomax.estimate.data import prepare
    >>> x = np.random.default_rng(0).standard_normal((200, 2))
    >>> r = find_relations(prepare(x, np.c_[x[:, 1] ** 3, x[:, 0]], "rank"))
    >>> r.relation
    'y column 0 is an exact monotone function of x column 1 (2 of the 2 y columns are)'
    >>> r.pair["rank_correlation"], r.pair["significant"]
    (1.0, True)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from infomax.estimate.data import Prepared, zscore


class Relations(NamedTuple):
    """relation: the exact relation found (a sentence), or None; pair: :func:`_pair_check`'s dict, or None."""

    relation: str | None
    pair: dict[str, Any] | None


def find_relations(data: Prepared) -> Relations:
    """Both checks: the exact relation on the raw inputs, the pair check on the rank-Gaussianized ones."""
    return Relations(_exact_relation(data.raw_x, data.raw_y), _pair_check(data.rank_x, data.rank_y))


def _exact_relation(x: np.ndarray, y: np.ndarray) -> str | None:
    """Describe an exact deterministic relation Y = f(X) found by cheap checks, or None.

    Checked: a continuous Y column (>= 90% distinct values) with the same ranks as an X column, or reversed
    ones (Y = X, a duplicated column, any strictly monotone map of one column); and, when n exceeds dx + 10
    and dx <= 1000, a continuous Y column that least squares fits exactly from the X columns (an invertible
    linear map; fitted on the first 2 dx + 1000 rows at most, far more than an exact fit by chance needs).
    A continuous Y that is a function of X has I(X; Y) = infinity; discrete data (ties) have a finite MI
    and are not flagged.

    Args:
        x: (n, dx) samples; y: (n, dy) samples (raw, before any preprocessing).

    Example:
        >>> x = np.random.default_rng(0).standard_normal((50, 2))
        >>> _exact_relation(x, np.exp(x[:, 1]))
        'y column 0 is an exact monotone function of x column 1 (1 of the 1 y columns are)'
    """
    from scipy.stats import rankdata

    y = y if y.ndim == 2 else y[:, None]
    n = x.shape[0]

    def continuous(a: np.ndarray) -> np.ndarray:
        srt = np.sort(a, axis=0)  # (n, d)
        return 1 + (np.diff(srt, axis=0) != 0).sum(0) >= 0.9 * n  # (d,) distinct values

    cx, cy = continuous(x), continuous(y)
    if not cy.any():
        return None
    rx, ry = rankdata(x, axis=0), rankdata(y, axis=0)  # (n, dx), (n, dy) average ranks: k or k + 0.5
    first: dict[bytes, int] = {}
    for i in np.flatnonzero(cx):
        first.setdefault(rx[:, i].tobytes(), int(i))
    hits = []
    for j in np.flatnonzero(cy):
        i = first.get(ry[:, j].tobytes(), first.get((n + 1 - ry[:, j]).tobytes()))
        if i is not None:
            hits.append((i, int(j)))
    if hits:
        (i, j), k = hits[0], len(hits)
        return (
            f"y column {j} is an exact monotone function of x column {i} ({k} of the {y.shape[1]} y columns "
            "are)"
        )
    if n >= x.shape[1] + 12 and x.shape[1] <= 1000:
        m = min(n, 2 * x.shape[1] + 1000)
        a = np.c_[np.ones(m), zscore(x[:m])]  # (m, dx + 1)
        cols = np.flatnonzero(cy & (y[:m].std(axis=0) > 0))
        b = zscore(y[:m, cols])  # (m, dy') unit variance
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
        exact = np.flatnonzero(((b - a @ coef) ** 2).mean(0) < 1e-9)
        if exact.size:
            j = int(cols[exact[0]])
            return (
                f"y column {j} is an exact linear function of the x columns ({exact.size} of the "
                f"{y.shape[1]} y columns are)"
            )
    return None


def _pair_check(
    gx: np.ndarray, gy: np.ndarray, max_work: float = 4e9, max_pairs: int = 10_000_000
) -> dict[str, Any] | None:
    """The most correlated (x column, y column) pair of rank-Gaussianized data (see ``MIEstimate``).

    ``significant``: |r| sqrt(n) beyond sqrt(2 ln(dx dy)) + 3, well past the largest |r| sqrt(n) that
    dx * dy pairs of independent columns show (about sqrt(2 ln(dx dy))). The first rows are used, to keep
    n * dx * dy <= ``max_work``; None with fewer than 50 rows left or more than ``max_pairs`` pairs.
    """
    n, dx = gx.shape
    dy = gy.shape[1]
    rows = min(n, int(max_work // (dx * dy)))
    if rows < 50 or dx * dy > max_pairs:
        return None
    a, b = zscore(gx[:rows]), zscore(gy[:rows])
    c = a.T @ b / rows  # (dx, dy) correlations
    i, j = np.unravel_index(int(np.abs(c).argmax()), c.shape)
    r = float(np.clip(c[i, j], -1.0, 1.0))
    return {
        "x_column": int(i),
        "y_column": int(j),
        "rank_correlation": r,
        "gaussian_mi_nats": float(-0.5 * math.log(max(1.0 - r * r, 1e-12))),
        "significant": bool(abs(r) * math.sqrt(rows) > math.sqrt(2 * math.log(max(dx * dy, 2))) + 3),
    }
