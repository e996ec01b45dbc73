"""Shared machinery of the contrastive bounds: input checks, positive/negative masks, negative sampling
and the row-chunked reduction every bound is written on.

Every contrastive bound here is a function of *per-row* statistics of the score matrix (sums over a
row's positives and negatives, a log-sum-exp over its negatives), so it can be computed one block of
rows at a time. :func:`reduce_rows` does exactly that: it walks the rows in chunks of ``chunk_size``,
asks the bound for each chunk's statistics and combines them (sums add; entries whose name starts
with ``"lse"`` combine by log-sum-exp). With gradients enabled each chunk runs under
:func:`torch.utils.checkpoint.checkpoint`, so only the chunk's inputs and its few statistics are kept
for the backward pass: O(N) memory (plus one chunk's O(chunk_size * M) working set) instead of O(N*M)
autograd intermediates. Without ``chunk_size`` the whole matrix is one chunk (the "dense" path).

The score matrix may be a tensor (N, M) or a :class:`ScoreRows` (a critic plus its inputs) that
produces row blocks on demand, so that with a chunk size the full (N, M) matrix is never built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from infomax.errors import UserError

#: A chunk's statistics: name -> tensor. Names starting with "lse" combine by log-sum-exp, others add.
Stats = dict[str, Tensor]

#: ``stats_fn(s, pos, neg) -> Stats`` with ``s`` (c, M) scores of a row block, ``pos``/``neg`` (c, M) bool.
StatsFn = Callable[[Tensor, Tensor, Tensor], Stats]


@dataclass(frozen=True)
class ScoreRows:
    """A score matrix given as a critic and its inputs: ``rows(a, b) = score_fn(x[a:b], y)`` (b-a, M).

    Args:
        score_fn: ``(x_rows (r, ...), y (M, ...)) -> scores (r, M)``, e.g. any critic module.
        x: (N, ...) first argument, split along dim 0.
        y: (M, ...) second argument, always passed whole.

    Example:
        >>> import torch
        >>> x, y = torch.randn(6, 3), torch.randn(6, 3)
        >>> sr = ScoreRows(lambda a, b: a @ b.T, x, y)
        >>> sr.shape, sr.rows(0, 2).shape
        ((6, 6), torch.Size([2, 6]))
    """

    score_fn: Callable[[Tensor, Tensor], Tensor]
    x: Tensor
    y: Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.x.shape[0]), int(self.y.shape[0]))

    @property
    def device(self) -> torch.device:
        return self.x.device

    def rows(self, start: int, stop: int) -> Tensor:
        s = self.score_fn(self.x[start:stop], self.y)  # (stop - start, M)
        if s.dim() != 2 or tuple(s.shape) != (stop - start, self.shape[1]):
            raise UserError(
                f"score function returned shape {tuple(s.shape)}, expected ({stop - start}, {self.shape[1]})"
            )
        return s


Scores = Tensor | ScoreRows


def check_scores(scores: Scores) -> tuple[int, int]:
    """Validate a score matrix (2-D floating tensor or :class:`ScoreRows`); return its shape (N, M)."""
    if isinstance(scores, ScoreRows):
        return scores.shape
    if not isinstance(scores, Tensor):
        raise UserError(f"scores must be a torch.Tensor of shape (N, M), got {type(scores).__name__}")
    if scores.dim() != 2:
        raise UserError(f"scores must be 2-D (N, M), got shape {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise UserError(f"scores must be a floating-point tensor, got {scores.dtype}")
    return int(scores.shape[0]), int(scores.shape[1])


def check_pos_mask(shape: tuple[int, int], pos_mask: Tensor | None, need_negative: bool = True) -> None:
    """Check a positive mask against the scores' shape (None: the diagonal, which needs N == M).

    Raises UserError for a non-boolean mask, a shape mismatch, a row without a positive, or (when
    ``need_negative``) a row without a negative.
    """
    n, m = shape
    if pos_mask is None:
        if n != m:
            raise UserError(
                f"scores of shape ({n}, {m}) are not square: pass pos_mask (N, M) to mark the positive pairs"
            )
        if need_negative and m < 2:
            raise UserError("need at least 2 samples: with one sample there are no negative pairs")
        return
    if not isinstance(pos_mask, Tensor) or pos_mask.dtype != torch.bool:
        raise UserError("pos_mask must be a boolean tensor of the same shape as scores")
    if tuple(pos_mask.shape) != (n, m):
        raise UserError(f"pos_mask has shape {tuple(pos_mask.shape)} but scores have shape ({n}, {m})")
    n_pos = pos_mask.sum(1)  # (N,)
    if bool((n_pos == 0).any()):
        raise UserError(f"pos_mask row {int((n_pos == 0).nonzero()[0])} has no positive pair")
    if need_negative and bool((n_pos == m).any()):
        raise UserError(f"pos_mask row {int((n_pos == m).nonzero()[0])} has no negative pair")


def pos_block(
    shape: tuple[int, int], pos_mask: Tensor | None, start: int, stop: int, device: torch.device
) -> Tensor:
    """Rows ``start:stop`` of the positive mask, (stop - start, M) bool (None: the diagonal)."""
    if pos_mask is not None:
        return pos_mask[start:stop].to(device)
    rows = torch.arange(start, stop, device=device)[:, None]  # (c, 1)
    cols = torch.arange(shape[1], device=device)[None, :]  # (1, M)
    return rows == cols


def neg_candidates(pos: Tensor, exclude_positives: bool = True) -> Tensor:
    """Negatives of a row block: every non-positive entry, or every entry when not ``exclude_positives``."""
    return ~pos if exclude_positives else torch.ones_like(pos)


def sample_negatives(candidates: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
    """Pick ``n`` of each row's candidate negatives uniformly without replacement.

    Each entry gets a uniform key from ``torch.rand`` (``generator``, or the global torch RNG when
    None); a row keeps its ``n`` candidates with the smallest keys.

    Args:
        candidates: (c, M) bool, the allowed negatives of each row.
        n: negatives to keep per row (every row must have at least ``n`` candidates).
        generator: source of randomness; None uses the global RNG.

    Returns:
        (c, M) bool mask with exactly ``n`` True entries per row, all among the candidates.
    """
    have = candidates.sum(1)  # (c,)
    if bool((have < n).any()):
        raise UserError(f"n_negatives={n} but some row has only {int(have.min())} negative pairs")
    dev = generator.device if generator is not None else candidates.device
    keys = torch.rand(candidates.shape, generator=generator, device=dev).to(candidates.device)  # (c, M)
    keys = keys.masked_fill(~candidates, 2.0)
    idx = keys.topk(n, dim=1, largest=False).indices  # (c, n)
    return torch.zeros_like(candidates).scatter(1, idx, True)


def masked_lse(s: Tensor, mask: Tensor, dim: int | Sequence[int] = 1) -> Tensor:
    """log sum exp of ``s`` over the True entries of ``mask`` (-inf where there are none)."""
    return torch.logsumexp(s.masked_fill(~mask, -math.inf), dim=dim)


def masked_sum(v: Tensor, mask: Tensor) -> Tensor:
    """Sum of ``v`` over the True entries of ``mask`` (a scalar); never touches masked-out values."""
    return torch.where(mask, v, torch.zeros((), dtype=v.dtype, device=v.device)).sum()


def logmeanexp_offdiag(scores: Tensor) -> Tensor:
    """log mean_{i != j} exp(scores[i, j]) of a square (N, N) matrix, N >= 2, a scalar."""
    n = scores.shape[0]
    return masked_lse(scores, offdiag_mask(n, scores.device), dim=(0, 1)) - math.log(n * (n - 1))


def dense_diagonal(
    scores: Scores, pos_mask: Tensor | None, n_negatives: int | None, chunk_size: int | None
) -> Tensor | None:
    """The (validated) square score tensor when the plain dense formulas apply, else None.

    The common training case (a tensor, diagonal positives, all negatives, no chunking) has direct
    vectorised formulas, several times faster than the masked row reduction; the bounds use them and
    the tests check them against :func:`reduce_rows` (chunked == dense).
    """
    options = (pos_mask, n_negatives, chunk_size)
    if isinstance(scores, ScoreRows) or any(o is not None for o in options):
        return None
    check_pos_mask(check_scores(scores), None)
    return scores


def dense_blocks(
    scores: Scores, pos_mask: Tensor | None, n_negatives: int | None, chunk_size: int | None
) -> Tensor | None:
    """An (N, N, L) view of the scores when ``pos_mask`` is the block mask of local Deep InfoMax, else None.

    The block mask has N rows and M = N * L columns, row ``i`` positive exactly at columns
    ``i * L .. i * L + L - 1`` (one global vector against the L locations of its own image). With all
    negatives and no chunking the bounds then reduce over the view ``s3[i, j, l] = scores[i, j * L + l]``
    (positives ``s3[i, i, :]``) instead of masking the whole matrix, which is several times faster; the
    tests check this path against :func:`reduce_rows`.
    """
    if pos_mask is None or isinstance(scores, ScoreRows) or n_negatives is not None or chunk_size is not None:
        return None
    n, m = check_scores(scores)
    if n < 2 or m % n or not isinstance(pos_mask, Tensor) or pos_mask.dtype != torch.bool:
        return None
    if tuple(pos_mask.shape) != (n, m):
        return None
    eye = torch.eye(n, dtype=torch.bool, device=pos_mask.device)  # (N, N)
    if not torch.equal(pos_mask, eye.repeat_interleave(m // n, dim=1)):
        return None
    return scores.reshape(n, n, m // n)  # (N, N, L)


def block_diagonal(s3: Tensor) -> Tensor:
    """The positives ``s3[i, i, :]`` of an (N, N, L) block view, as (N, L)."""
    return s3.diagonal(dim1=0, dim2=1).t()


def offdiag_mask(n: int, device: torch.device) -> Tensor:
    """(n, n) bool, True off the diagonal."""
    return ~torch.eye(n, dtype=torch.bool, device=device)


def row_slices(n: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in blocks of ``chunk_size`` (one block when None)."""
    if chunk_size is None:
        return [(0, n)]
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise UserError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]


def combine(parts: list[Stats]) -> Stats:
    """Merge per-chunk statistics: "lse*" entries by log-sum-exp, the others by summation."""
    out: Stats = {}
    for key in parts[0]:
        vals = torch.stack([p[key] for p in parts])
        out[key] = torch.logsumexp(vals, 0) if key.startswith("lse") else vals.sum(0)
    return out


def reduce_rows(
    stats_fn: StatsFn,
    scores: Scores,
    pos_mask: Tensor | None = None,
    n_negatives: int | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    exclude_positives: bool = True,
) -> Stats:
    """Validate the inputs, then compute ``stats_fn`` over row blocks and combine (see the module doc).

    Args:
        stats_fn: ``(s (c, M), pos (c, M) bool, neg (c, M) bool) -> Stats`` for one row block.
        scores: (N, M) tensor or :class:`ScoreRows`, ``scores[i, j] = T(x_i, y_j)``.
        pos_mask: (N, M) bool positives; None = the diagonal (N == M).
        n_negatives: keep only this many negatives per row (sampled, see :func:`sample_negatives`).
        chunk_size: rows per block; None = one block.
        generator: RNG for the negative sampling (None: global torch RNG). The keys are drawn block by
            block in row order, which on CPU gives the same sample for every chunk size.
        exclude_positives: negatives are the non-positive entries (True) or all entries (False).

    Returns:
        The combined statistics.
    """
    shape = check_scores(scores)
    check_pos_mask(shape, pos_mask, need_negative=exclude_positives)
    if n_negatives is not None and (not isinstance(n_negatives, int) or n_negatives < 1):
        raise UserError(f"n_negatives must be a positive integer or None, got {n_negatives!r}")
    device = scores.device
    parts: list[Stats] = []
    for a, b in row_slices(shape[0], chunk_size):
        pos = pos_block(shape, pos_mask, a, b, device)  # (c, M)
        neg = neg_candidates(pos, exclude_positives)  # (c, M)
        if n_negatives is not None:
            neg = sample_negatives(neg, n_negatives, generator)

        def block(pos: Tensor, neg: Tensor, a: int = a, b: int = b) -> Stats:
            s = scores.rows(a, b) if isinstance(scores, ScoreRows) else scores[a:b]  # (c, M)
            return stats_fn(s, pos, neg)

        if chunk_size is not None and torch.is_grad_enabled():
            parts.append(checkpoint(block, pos, neg, use_reentrant=False))
        else:
            parts.append(block(pos, neg))
    return combine(parts)
