"""NWJ (Nguyen, Wainwright & Jordan 2010; "f-GAN KL"/MINE-f; Poole et al. 2019 eq. 9)."""

from __future__ import annotations

import torch
from torch import Tensor

from infomax.bounds._reduce import Scores
from infomax.bounds.tuba import tuba


def nwj(
    scores: Scores,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """NWJ lower bound on I(X; Y), in nats: TUBA with the constant baseline a(y) = e::

        I_NWJ = mean_i s_ii - mean_{i != j} exp(s_ij - 1)

    Args:
        scores: (N, M) scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``.
        pos_mask, n_negatives, chunk_size, generator: as in :func:`infomax.bounds.infonce` (positives
            and negatives averaged separately).

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> float(nwj(torch.ones(2, 2)))  # 1 - exp(0)
        0.0
    """
    return tuba(scores, 1.0, pos_mask, n_negatives, chunk_size, generator)
