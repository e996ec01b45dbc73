"""Jensen-Shannon (f-GAN) MI objective of Deep InfoMax (Hjelm et al. 2019, eq. 4; Nowozin et al. 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from infomax.bounds._reduce import (
    Scores,
    Stats,
    block_diagonal,
    dense_blocks,
    dense_diagonal,
    masked_sum,
    offdiag_mask,
    reduce_rows,
)


def _jsd_stats(s: Tensor, pos: Tensor, neg: Tensor) -> Stats:
    return {
        "pos": masked_sum(-F.softplus(-s.masked_fill(~pos, 0.0)), pos),
        "n_pos": pos.sum().to(s.dtype),
        "neg": masked_sum(F.softplus(s.masked_fill(~neg, 0.0)), neg),
        "n_neg": neg.sum().to(s.dtype),
    }


def jsd(
    scores: Scores,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    exclude_positives: bool = True,
) -> Tensor:
    """Jensen-Shannon MI objective (Deep InfoMax eq. 4), in nats::

        I_JSD = mean_i -softplus(-s_ii) - mean_{i != j} softplus(s_ij)

    A training objective (its maximum is 2 JS(p(x,y) || p(x)p(y)) - 2 log 2, an affine function of a
    divergence, not an MI value): train with it and report NWJ or DV through
    :func:`infomax.bounds.train_report`.

    Args:
        scores: (N, M) scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``.
        pos_mask, n_negatives, chunk_size, generator: as in :func:`infomax.bounds.infonce`.
        exclude_positives: the negative term averages over the non-positive pairs (True) or over all
            pairs, positives included (False; the marginal is then estimated from the full product).

    Returns:
        Scalar tensor.

    Example:
        >>> import torch
        >>> round(float(jsd(torch.zeros(2, 2))), 4)  # -2 log 2
        -1.3863
    """
    s = dense_diagonal(scores, pos_mask, n_negatives, chunk_size)
    if s is not None:  # (N, N): direct formula
        n = s.shape[0]
        sp = F.softplus(s)  # (N, N)
        if exclude_positives:
            neg = sp.masked_fill(~offdiag_mask(n, s.device), 0.0).sum() / (n * (n - 1))
        else:
            neg = sp.mean()
        return -F.softplus(-s.diagonal()).mean() - neg
    s3 = dense_blocks(scores, pos_mask, n_negatives, chunk_size)
    if s3 is not None:  # (N, N, L) local-DIM blocks
        n, _, n_loc = s3.shape
        sp = F.softplus(s3).sum(2)  # (N, N)
        if exclude_positives:
            neg = sp.masked_fill(~offdiag_mask(n, s3.device), 0.0).sum() / (n * (n - 1) * n_loc)
        else:
            neg = sp.sum() / (n * n * n_loc)
        return -F.softplus(-block_diagonal(s3)).mean() - neg
    st = reduce_rows(_jsd_stats, scores, pos_mask, n_negatives, chunk_size, generator, exclude_positives)
    return st["pos"] / st["n_pos"] - st["neg"] / st["n_neg"]
