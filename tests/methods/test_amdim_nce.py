"""AMDIM's shared-negative NCE against the project's infoNCE bound (two implementations agreeing)."""

from __future__ import annotations

import math

import torch

from infomax.bounds import infonce
from infomax.methods.amdim_nce import nce_scores
from infomax.methods.dim_heads import local_pos_mask


def test_matches_infonce_with_the_local_positive_mask() -> None:
    b, n_loc = 5, 3
    s = 3 * torch.randn(b, 1, b, n_loc)
    ours = nce_scores(s).mean() + math.log(1 + (b - 1) * n_loc)
    ref = infonce(s[:, 0].reshape(b, b * n_loc), pos_mask=local_pos_mask(b, n_loc))
    assert torch.allclose(ours, ref, atol=1e-5)


def test_equal_scores_give_minus_log_of_one_plus_negatives() -> None:
    s = torch.zeros(4, 2, 4, 6)
    assert torch.allclose(nce_scores(s), torch.full((4, 2, 6), -math.log(1 + 3 * 6)))


def test_components_are_scored_independently() -> None:
    s = torch.randn(3, 4, 3, 2)
    full = nce_scores(s)
    for k in range(4):
        assert torch.allclose(full[:, k], nce_scores(s[:, k : k + 1])[:, 0])


def test_own_other_locations_are_not_negatives() -> None:
    # Raising the scores of image i's own locations must not change how any single positive is scored
    # against the shared negatives, except through that positive itself.
    s = torch.randn(3, 1, 3, 4)
    t = s.clone()
    t[0, 0, 0, 1:] += 5.0  # image 0's other positives
    assert torch.allclose(nce_scores(s)[0, 0, 0], nce_scores(t)[0, 0, 0])


def test_negatives_log_sum_exp_is_computed_once_per_row(monkeypatch) -> None:
    # One logsumexp over the shared negatives per (image, component) row, reused by its L positives:
    # one call, output (B, K, 1), not one per positive (B, K, L).
    shapes = []
    real = torch.logsumexp

    def counting(x, *args, **kwargs):
        out = real(x, *args, **kwargs)
        shapes.append((tuple(x.shape), tuple(out.shape)))
        return out

    monkeypatch.setattr(torch, "logsumexp", counting)
    nce_scores(torch.randn(4, 2, 4, 6))
    assert shapes == [((4, 2, 24), (4, 2, 1))]
