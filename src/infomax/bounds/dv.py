"""Donsker-Varadhan (Donsker & Varadhan 1983; MINE, Belghazi et al. 2018, eq. 10; Poole et al. 2019)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infomax.bounds._reduce import (
    Scores,
    Stats,
    block_diagonal,
    dense_blocks,
    dense_diagonal,
    logmeanexp_offdiag,
    masked_lse,
    masked_sum,
    offdiag_mask,
    reduce_rows,
)


def dv_stats(
    scores: Scores,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    clip: float | None = None,
) -> tuple[Tensor, Tensor]:
    """The two DV terms: (mean over positives of s, log mean over negatives of exp(clamp(s, -clip, clip))).

    Shared by :func:`dv`, :func:`infomax.bounds.smile` and :class:`infomax.bounds.MINE`.
    """
    s = dense_diagonal(scores, pos_mask, n_negatives, chunk_size)
    if s is not None:  # (N, N): direct formula
        return s.diagonal().mean(), logmeanexp_offdiag(s if clip is None else s.clamp(-clip, clip))
    s3 = dense_blocks(scores, pos_mask, n_negatives, chunk_size)
    if s3 is not None:  # (N, N, L) local-DIM blocks
        n, _, n_loc = s3.shape
        blk = torch.logsumexp(s3 if clip is None else s3.clamp(-clip, clip), 2)  # (N, N)
        lse = masked_lse(blk, offdiag_mask(n, s3.device), dim=(0, 1))
        return block_diagonal(s3).mean(), lse - math.log(n * (n - 1) * n_loc)

    def stats(s: Tensor, pos: Tensor, neg: Tensor) -> Stats:
        s_neg = s if clip is None else s.clamp(-clip, clip)  # (c, M)
        return {
            "pos": masked_sum(s, pos),
            "n_pos": pos.sum().to(s.dtype),
            "lse_neg": masked_lse(s_neg, neg, dim=(0, 1)),
            "n_neg": neg.sum().to(s.dtype),
        }

    st = reduce_rows(stats, scores, pos_mask, n_negatives, chunk_size, generator)
    return st["pos"] / st["n_pos"], st["lse_neg"] - torch.log(st["n_neg"])


def dv(
    scores: Scores,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Donsker-Varadhan lower bound on I(X; Y), in nats::

        I_DV = mean_i s_ii - log mean_{i != j} exp(s_ij)

    Always >= NWJ on the same scores (log m <= m/e for m > 0). Its plain gradient is biased for
    mini-batches; :class:`infomax.bounds.MINE` corrects it.

    Args:
        scores: (N, M) scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``.
        pos_mask, n_negatives, chunk_size, generator: as in :func:`infomax.bounds.infonce`.

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> float(dv(s))  # 1 - log mean(e^0)
        1.0
    """
    pos, lme = dv_stats(scores, pos_mask, n_negatives, chunk_size, generator)
    return pos - lme
