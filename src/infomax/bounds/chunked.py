"""Bounds computed from a critic in row chunks, never building the full (N, M) score matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from infomax.bounds._reduce import ScoreRows
from infomax.errors import UserError


def chunked(
    bound: str,
    score_fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    chunk_size: int,
    **kw: Any,
) -> Tensor:
    """Evaluate ``BOUNDS[bound]`` on ``score_fn(x, y)`` one block of ``chunk_size`` rows at a time.

    Each block ``score_fn(x[a:b], y)`` (b-a, M) is scored, reduced to a few statistics and (with
    gradients on) re-scored during the backward pass (activation checkpointing), so memory is
    O(N + chunk_size * M) instead of O(N * M) activations. Values and gradients equal the dense
    ``BOUNDS[bound](score_fn(x, y), **kw)``.

    Args:
        bound: a name in ``infomax.bounds.BOUNDS``.
        score_fn: a critic ``(x_rows (r, Dx), y (M, Dy)) -> (r, M)``.
        x: (N, Dx) first inputs (rows).
        y: (M, Dy) second inputs (columns).
        chunk_size: rows per block.
        **kw: the bound's other options (``pos_mask``, ``alpha``, ...).

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> from infomax.critics import InnerProductCritic
        >>> x, y = torch.randn(10, 3), torch.randn(10, 3)
        >>> v = chunked("infonce", InnerProductCritic(), x, y, chunk_size=4)
    """
    from infomax.bounds import BOUNDS

    if bound not in BOUNDS:
        raise UserError(f"unknown bound {bound!r}; choose one of: {', '.join(sorted(BOUNDS))}")
    if chunk_size is None or chunk_size < 1:
        raise UserError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return BOUNDS[bound](ScoreRows(score_fn, x, y), chunk_size=chunk_size, **kw)
