"""AMDIM's NCE between a source feature and every location of a target map, negatives shared per row.

Bachman, Hjelm, Buchwalter, NeurIPS 2019, eq. 1-5 and sec. 3.3. For image ``i`` (and source component
``k``) the positives are the L locations of image i's target map; the negatives are all locations of every
*other* image's map, one set shared by the row's L positives, so its log-sum-exp is computed once per row::

    s_nce[i, k, l] = s[i, k, i, l] - log( exp(s[i, k, i, l]) + sum_{j != i, l'} exp(s[i, k, j, l']) )

With ``K = 1`` the mean of ``s_nce`` plus ``log(1 + (B - 1) L)`` is :func:`infomax.bounds.infonce` with the
local positive mask (the tests check it).

Under multi-process training the targets of every process are gathered: the scores of this process's B
sources are then (B, K, W * B, L), and source ``i``'s own image is target ``offset + i`` (``offset`` =
rank * B).
"""

from __future__ import annotations

import torch
from torch import Tensor


def nce_scores(scores: Tensor, offset: int = 0) -> Tensor:
    """Per-positive NCE log-softmax (B, K, L) from scores (B, K, B, L) ``[i, k, j, l] = T(src_ik, trg_jl)``.

    With targets gathered from several processes the scores are (B, K, M, L), M >= B, and the positives of
    source ``i`` are at target ``offset + i`` (its negatives: every other target image).

    Example:
        >>> s = torch.zeros(2, 1, 2, 3)  # all scores equal: each positive vs itself + 3 negatives
        >>> round(float(nce_scores(s)[0, 0, 0]), 4)  # -log(4)
        -1.3863
    """
    b, k, b2, n_loc = scores.shape
    if b2 != b or offset:
        return _nce_scores_offset(scores, offset)
    eye = torch.eye(b, dtype=torch.bool, device=scores.device)[:, None, :, None]  # (B, 1, B, 1)
    pos = scores.diagonal(dim1=0, dim2=2).permute(2, 0, 1)  # (B, K, L): [i, k, l] = s[i, k, i, l]
    neg = scores.masked_fill(eye, float("-inf")).reshape(b, k, b * n_loc)  # (B, K, B*L)
    neg_lse = torch.logsumexp(neg, dim=2, keepdim=True)  # (B, K, 1): computed once per row
    return pos - torch.logaddexp(pos, neg_lse)  # (B, K, L)


def _nce_scores_offset(scores: Tensor, offset: int) -> Tensor:
    """:func:`nce_scores` for (B, K, M, L) scores whose positives are at target ``offset + i``."""
    b, k, m, n_loc = scores.shape
    assert 0 <= offset and offset + b <= m, f"positives {offset}..{offset + b - 1} outside {m} targets"
    own = torch.arange(b, device=scores.device) + offset  # (B,)
    is_pos = own[:, None] == torch.arange(m, device=scores.device)[None, :]  # (B, M)
    pos = scores[torch.arange(b, device=scores.device), :, own]  # (B, K, L)
    neg = scores.masked_fill(is_pos[:, None, :, None], float("-inf")).reshape(b, k, m * n_loc)  # (B, K, M*L)
    neg_lse = torch.logsumexp(neg, dim=2, keepdim=True)  # (B, K, 1)
    return pos - torch.logaddexp(pos, neg_lse)  # (B, K, L)
