"""TUBA, the tractable unnormalized Barber-Agakov bound (Poole et al. 2019, "On Variational Bounds of
Mutual Information", eq. 8), with a baseline a(y) given as its logarithm."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infomax.bounds._reduce import (
    Scores,
    Stats,
    dense_diagonal,
    masked_lse,
    masked_sum,
    offdiag_mask,
    reduce_rows,
)
from infomax.errors import UserError


def _log_baseline_row(log_baseline: Tensor | float, m: int, ref: Tensor) -> Tensor:
    """The log-baseline as a (1, M) row for broadcasting against a (c, M) score block."""
    lb = torch.as_tensor(log_baseline, dtype=ref.dtype, device=ref.device)
    if lb.dim() == 0:
        return lb.expand(1, m)
    if lb.dim() != 1 or lb.shape[0] != m:
        raise UserError(f"log_baseline must be a scalar or have shape ({m},), got {tuple(lb.shape)}")
    return lb[None, :]


def tuba(
    scores: Scores,
    log_baseline: Tensor | float,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """TUBA lower bound with baseline a(y) = exp(log_baseline), in nats::

        I_TUBA = mean_pos s_ij - mean_neg exp(s_ij - log a(y_j)) - mean_pos log a(y_j) + 1

    where "pos" are the positive pairs (the diagonal by default) and "neg" the negatives (all
    off-diagonal pairs by default). With ``log_baseline = 1`` (a(y) = e) this is exactly NWJ.

    Args:
        scores: (N, M) scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``.
        log_baseline: log a(y): a scalar, or (M,) one per column (per y_j); may carry gradients
            (a learned baseline).
        pos_mask, n_negatives, chunk_size, generator: as in :func:`infomax.bounds.infonce`.

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> s = torch.zeros(3, 3)
        >>> float(tuba(s, log_baseline=0.0))  # 0 - 1 - 0 + 1
        0.0
    """
    if isinstance(log_baseline, int | float) and not math.isfinite(log_baseline):
        raise UserError(f"log_baseline must be finite, got {log_baseline}")

    def stats(s: Tensor, pos: Tensor, neg: Tensor) -> Stats:
        lb = _log_baseline_row(log_baseline, s.shape[1], s)  # (1, M)
        return {
            "pos": masked_sum(s, pos),
            "pos_lb": masked_sum(lb.expand_as(s), pos),
            "n_pos": pos.sum().to(s.dtype),
            # log sum over the negatives of exp(s - log a): combined across chunks by log-sum-exp, so the
            # term stays finite (and its gradient NaN-free) when single exp(s) overflow float32
            "lse_neg": masked_lse(s - lb, neg, dim=(0, 1)),
            "n_neg": neg.sum().to(s.dtype),
        }

    s = dense_diagonal(scores, pos_mask, n_negatives, chunk_size)
    if s is not None:  # (N, N): direct formula
        n = s.shape[0]
        lb = _log_baseline_row(log_baseline, n, s)  # (1, N)
        lse = masked_lse(s - lb, offdiag_mask(n, s.device), dim=(0, 1))  # log sum_{i!=j} e^(s_ij - log a_j)
        neg = torch.exp(lse - math.log(n * (n - 1)))
        return s.diagonal().mean() - neg - lb.expand(1, n).mean() + 1.0
    st = reduce_rows(stats, scores, pos_mask, n_negatives, chunk_size, generator)
    neg = torch.exp(st["lse_neg"] - torch.log(st["n_neg"]))
    return st["pos"] / st["n_pos"] - neg - st["pos_lb"] / st["n_pos"] + 1.0
