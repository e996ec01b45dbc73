"""InfoNCE (van den Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding", eq. 4;
Poole et al. 2019, "On Variational Bounds of Mutual Information", eq. 12)."""

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
    masked_lse,
    masked_sum,
    offdiag_mask,
    reduce_rows,
)


def _infonce_stats(s: Tensor, pos: Tensor, neg: Tensor) -> Stats:
    neg_lse = masked_lse(s, neg)[:, None]  # (c, 1) log sum_j exp(s_ij) over the row's negatives
    n_neg = neg.sum(1, keepdim=True).to(s.dtype)  # (c, 1)
    s_pos = s.masked_fill(~pos, 0.0)  # (c, M) only positives are read below
    term = s_pos - torch.logaddexp(s_pos, neg_lse) + torch.log1p(n_neg)  # (c, M)
    return {"sum": masked_sum(term, pos), "n_pos": pos.sum().to(s.dtype)}


def infonce(
    scores: Scores,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """InfoNCE lower bound on I(X; Y), in nats, never above log(1 + negatives per positive).

        Diagonal positives (``pos_mask=None``, N == M)::

            I_NCE = mean_i [ s_ii - logsumexp_j s_ij ] + log N            (<= log N)

        With a ``pos_mask`` having several positives per row (local DIM: one global vector against every
        location of its own image, scores (B, B*L)), each positive is contrasted against itself plus all of
        its row's negatives (the non-positive entries), never against the row's other positives::

            I = mean over positives (i, k) of [ s_ik - log(exp(s_ik) + sum_{j neg of i} exp(s_ij)) ]
                + log(1 + n_neg_i)

        (with the same number of negatives n_neg in every row the last term is the constant log(1 + n_neg)).
        The identity mask gives exactly the diagonal formula.

        Args:
            scores: (N, M) critic scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``.
            pos_mask: (N, M) bool positives; None = the diagonal (needs N == M).
            n_negatives: contrast each positive with only this many negatives, drawn uniformly without
                replacement from its row (a fresh draw per call from ``generator`` / the global RNG); the
                bound is then capped at log(1 + n_negatives). None = all negatives.
            chunk_size: compute over blocks of this many rows (O(N) autograd memory); None = all at once.
            generator: RNG for ``n_negatives``.

        Returns:
            Scalar tensor, nats.

        Example:
            >>> import torch
            >>> s = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
            >>> round(float(infonce(s)), 4)  # 2 - log(e^2 + 1) + log 2
            0.5662
    """
    s = dense_diagonal(scores, pos_mask, n_negatives, chunk_size)
    if s is not None:  # (N, N): direct formula
        return (s.diagonal() - torch.logsumexp(s, 1)).mean() + math.log(s.shape[0])
    s3 = dense_blocks(scores, pos_mask, n_negatives, chunk_size)
    if s3 is not None:  # (N, N, L) local-DIM blocks: negatives of row i are the other images' blocks
        n, _, n_loc = s3.shape
        blk = torch.logsumexp(s3, 2)  # (N, N): log sum over the L locations of image j
        neg_lse = masked_lse(blk, offdiag_mask(n, s3.device))[:, None]  # (N, 1) over the other images
        s_pos = block_diagonal(s3)  # (N, L)
        return (s_pos - torch.logaddexp(s_pos, neg_lse)).mean() + math.log1p((n - 1) * n_loc)
    st = reduce_rows(_infonce_stats, scores, pos_mask, n_negatives, chunk_size, generator)
    return st["sum"] / st["n_pos"]
