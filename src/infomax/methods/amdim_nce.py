"""AMDIM's NCE between a source feature and every location of a target map, negatives shared per row.

Bachman, Hjelm, Buchwalter, NeurIPS 2019, eq. 1-5 and sec. 3.3. For image ``i`` (and source component
``k``) the positives are the L locations of image i's target map; the negatives are all locations of every
*other* image's map, one set shared by the row's L positives, so its log-sum-exp is computed once per row::

    s_nce[i, k, l] = s[i, k, i, l] - log( exp(s[i, k, i, l]) + sum_{j != i, l'} exp(s[i, k, j, l']) )

With ``K = 1`` the mean of ``s_nce`` plus ``log(1 + (B - 1) L)`` is :func:`infomax.bounds.infonce` with the
local positive mask (the tests check it).
"""

from __future__ import annotations

import torch
from torch import Tensor


def nce_scores(scores: Tensor) -> Tensor:
    """Per-positive NCE log-softmax (B, K, L) from scores (B, K, B, L) ``[i, k, j, l] = T(src_ik, trg_jl)``.

    Example:
        >>> s = torch.zeros(2, 1, 2, 3)  # all scores equal: each positive vs itself + 3 negatives
        >>> round(float(nce_scores(s)[0, 0, 0]), 4)  # -log(4)
        -1.3863
    """
    b, k, b2, n_loc = scores.shape
    assert b == b2, f"scores must be (B, K, B, L), got {tuple(scores.shape)}"
    eye = torch.eye(b, dtype=torch.bool, device=scores.device)[:, None, :, None]  # (B, 1, B, 1)
    pos = scores.diagonal(dim1=0, dim2=2).permute(2, 0, 1)  # (B, K, L): [i, k, l] = s[i, k, i, l]
    neg = scores.masked_fill(eye, float("-inf")).reshape(b, k, b * n_loc)  # (B, K, B*L)
    neg_lse = torch.logsumexp(neg, dim=2, keepdim=True)  # (B, K, 1): computed once per row
    return pos - torch.logaddexp(pos, neg_lse)  # (B, K, L)
