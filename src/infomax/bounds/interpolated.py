"""The interpolated alpha-InfoNCE bound of Poole et al. 2019 ("On Variational Bounds of Mutual
Information", section 2.5, eq. 11), between TUBA/NWJ (alpha = 0) and InfoNCE (alpha = 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from infomax.bounds._reduce import ScoreRows, Scores, check_pos_mask, check_scores, row_slices
from infomax.bounds.tuba import _log_baseline_row
from infomax.errors import UserError


def _rows(scores: Scores, a: int, b: int) -> Tensor:
    return scores.rows(a, b) if isinstance(scores, ScoreRows) else scores[a:b]


def _column_stats(s: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per column of a row block s (c, N): log-sum-exp, max (detached), argmax row, and the
    log-sum-exp without the argmax row (-inf for a one-row block)."""
    mx, arg = s.detach().max(0)  # (N,), (N,)
    lse = torch.logsumexp(s, 0)  # (N,)
    if s.shape[0] == 1:
        excl = torch.full_like(lse, -math.inf).detach()
    else:
        at_max = torch.arange(s.shape[0], device=s.device)[:, None] == arg[None, :]  # (c, N)
        excl = torch.logsumexp(s.masked_fill(at_max, -math.inf), 0)
    return lse, mx, arg, excl


def _loo(s: Tensor, rows: Tensor, col_lse: Tensor, col_arg: Tensor, col_excl: Tensor, n: int) -> Tensor:
    """log mean_{k != i} exp(s_kj) for entries s_ij at row indices ``rows`` (broadcast with s).

    Exact: the column's arg-max row uses the separately accumulated log-sum-exp without it; every other
    row uses ``log(exp(L) - exp(s)) = L + log(1 - exp(-(L - s)))`` with ``L - s >= log 2`` (well
    conditioned, no overflow).
    """
    d = (col_lse - s).clamp_min(math.log(2.0))  # exact except at the arg-max entries, replaced below
    out = torch.where(rows == col_arg, col_excl, col_lse + torch.log(-torch.expm1(-d)))
    return out - math.log(n - 1)


def interpolated_nce(
    scores: Scores,
    alpha: float,
    log_baseline: Tensor | float = 1.0,
    chunk_size: int | None = None,
) -> Tensor:
    """Poole et al.'s interpolated bound I_alpha, in nats.

    For y_j with K = N - 1 samples of x (held-out x_i dropped) the baseline interpolates between the
    InfoNCE mean m_ij = mean_{k != i} exp(s_kj) and a baseline a(y_j) = exp(log_baseline_j)::

        b_ij  = log(alpha * m_ij + (1 - alpha) * a(y_j))
        I_a   = 1 + mean_{i != j} [ s_jj - b_ij ] - mean_{i != j} exp(s_ij - b_jj)

    (Poole et al.'s reference implementation, transposed to the ``scores[i, j] = T(x_i, y_j)``
    convention: the baseline is a mean over x, i.e. down a column.) alpha = 0 gives TUBA with
    baseline a (NWJ for ``log_baseline = 1``); alpha = 1 gives InfoNCE over N - 1 samples (contrasting
    each y_j against the x's), so I_1 <= log(N - 1). Positives are the diagonal (N == M); there is no
    ``pos_mask`` / ``n_negatives`` option. The leave-one-out means are computed exactly (no
    catastrophic cancellation when a positive dominates its column).

    Args:
        scores: (N, N) scores ``scores[i, j] = T(x_i, y_j)``, or a ``ScoreRows``; N >= 2.
        alpha: interpolation weight in [0, 1].
        log_baseline: log a(y): scalar or (N,) per column (may be learned).
        chunk_size: row blocks (two passes over the rows; O(N) autograd memory).

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> from infomax.bounds import nwj
        >>> s = torch.randn(5, 5)
        >>> bool(torch.isclose(interpolated_nce(s, alpha=0.0), nwj(s), atol=1e-5))
        True
    """
    n, m = check_scores(scores)
    check_pos_mask((n, m), None)
    if not (isinstance(alpha, int | float) and 0.0 <= alpha <= 1.0):
        raise UserError(f"alpha must be a number in [0, 1], got {alpha!r}")
    log_a = math.log(alpha) if alpha > 0 else -math.inf
    log_1ma = math.log1p(-alpha) if alpha < 1 else -math.inf
    slices = row_slices(n, chunk_size)
    use_ckpt = chunk_size is not None and torch.is_grad_enabled()

    def pass1(a: int, b: int) -> tuple[Tensor, ...]:
        s = _rows(scores, a, b)  # (c, N)
        idx = torch.arange(a, b, device=s.device)
        return (*_column_stats(s), s[idx - a, idx])  # column stats (N,) x 4, block diagonal (c,)

    firsts = [checkpoint(pass1, a, b, use_reentrant=False) if use_ckpt else pass1(a, b) for a, b in slices]
    lse_k, max_k, arg_k, excl_k = (torch.stack([f[t] for f in firsts]) for t in range(4))  # (K, N) each
    starts = torch.tensor([a for a, _ in slices], device=lse_k.device)
    best = max_k.argmax(0)  # (N,) block holding each column's max
    col_arg = starts[best] + arg_k.gather(0, best[None]).squeeze(0)  # (N,) global arg-max row
    col_lse = torch.logsumexp(lse_k, 0)  # (N,)
    col_excl = excl_k.gather(0, best[None]).squeeze(0)  # (N,)
    if len(slices) > 1:  # add the other blocks' mass
        other = torch.arange(len(slices), device=lse_k.device)[:, None] != best[None, :]  # (K, N)
        col_excl = torch.logaddexp(col_excl, torch.logsumexp(lse_k.masked_fill(~other, -math.inf), 0))
    diag = torch.cat([f[4] for f in firsts])  # (N,)

    def interp(loo: Tensor, lb: Tensor) -> Tensor:
        if alpha == 1.0:
            return loo
        if alpha == 0.0:
            return lb.expand_as(loo)
        return torch.logaddexp(log_a + loo, log_1ma + lb)

    def pass2(a: int, b: int, col_lse: Tensor, col_excl: Tensor, diag: Tensor) -> tuple[Tensor, Tensor]:
        s = _rows(scores, a, b)  # (c, N), row i = held-out x_i
        lb = _log_baseline_row(log_baseline, n, s)  # (1, N)
        rows = torch.arange(a, b, device=s.device)[:, None]  # (c, 1)
        cols = torch.arange(n, device=s.device)  # (N,)
        b_ij = interp(_loo(s, rows, col_lse, col_arg, col_excl, n), lb)  # (c, N)
        b_jj = interp(_loo(diag, cols, col_lse, col_arg, col_excl, n)[None, :], lb)  # (1, N)
        off = rows != cols[None, :]  # (c, N)
        zero = torch.zeros((), dtype=s.dtype, device=s.device)
        joint = torch.where(off, diag[None, :] - b_ij, zero).sum()
        marg_lse = torch.logsumexp((s - b_jj).masked_fill(~off, -math.inf).flatten(), 0)  # overflow-safe
        return joint, marg_lse

    args = [(a, b, col_lse, col_excl, diag) for a, b in slices]
    seconds = [checkpoint(pass2, *x, use_reentrant=False) if use_ckpt else pass2(*x) for x in args]
    pairs = n * (n - 1)
    joint = torch.stack([t[0] for t in seconds]).sum() / pairs
    marg = torch.exp(torch.logsumexp(torch.stack([t[1] for t in seconds]), 0) - math.log(pairs))
    return 1.0 + joint - marg
