"""SMILE (Song & Ermon 2020, "Understanding the Limitations of Variational Mutual Information
Estimators", eq. 17): DV with the partition-function term's exp(s) clipped to [e^-tau, e^tau]."""

from __future__ import annotations

import torch
from torch import Tensor

from infomax.bounds._reduce import Scores
from infomax.bounds.dv import dv_stats
from infomax.errors import UserError


def smile(
    scores: Scores,
    tau: float | None = 5.0,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SMILE estimate of I(X; Y), in nats::

        I_SMILE = mean_i s_ii - log mean_{i != j} exp(clamp(s_ij, -tau, tau))

    i.e. DV whose negative term uses exp(s) clipped to [e^-tau, e^tau] (only the negative term is
    clipped, as in Song & Ermon's code). ``tau=None`` is plain DV. Clipping trades a bias for a variance
    bounded by O(e^tau); SMILE is an estimator, not a guaranteed lower bound.

    Song & Ermon's reference code trains the critic with the JSD gradient and reports this value;
    reproduce that with ``train_report(jsd(s), smile(s, tau))``.

    Args:
        scores: (N, M) scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``.
        tau: clip level (> 0), or None for no clipping.
        pos_mask, n_negatives, chunk_size, generator: as in :func:`infomax.bounds.infonce`.

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> s = torch.tensor([[1.0, 9.0], [9.0, 1.0]])
        >>> float(smile(s, tau=1.0))  # 1 - log(e^1)
        0.0
    """
    if tau is not None and not tau > 0:
        raise UserError(f"SMILE tau must be > 0 (or None for plain DV), got {tau}")
    pos, lme = dv_stats(scores, pos_mask, n_negatives, chunk_size, generator, clip=tau)
    return pos - lme
