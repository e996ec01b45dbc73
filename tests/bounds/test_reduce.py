"""Shared machinery: input validation, negative sampling, positive masks (infomax.bounds._reduce)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from infomax.bounds import BOUNDS
from infomax.bounds._reduce import logmeanexp_offdiag, sample_negatives
from infomax.errors import UserError

MASK_BOUNDS = ["infonce", "nwj", "dv", "smile", "jsd", "tuba"]


def _kw(name: str) -> dict[str, Any]:
    return {"log_baseline": 0.5} if name == "tuba" else {}


@pytest.mark.parametrize("name", MASK_BOUNDS)
def test_identity_mask_equals_diagonal(name: str, s3: torch.Tensor) -> None:
    eye = torch.eye(3, dtype=torch.bool)
    assert float(BOUNDS[name](s3, pos_mask=eye, **_kw(name))) == pytest.approx(
        float(BOUNDS[name](s3, **_kw(name))), abs=1e-12
    )


@pytest.mark.parametrize("name", MASK_BOUNDS)
def test_permuted_mask_equals_permuted_columns(name: str, s3: torch.Tensor) -> None:
    """Positives at (i, p(i)) are the diagonal of the column-permuted matrix."""
    p = torch.tensor([2, 0, 1])
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[torch.arange(3), p] = True
    assert float(BOUNDS[name](s3, pos_mask=mask, **_kw(name))) == pytest.approx(
        float(BOUNDS[name](s3[:, p], **_kw(name))), abs=1e-12
    )


BAD: list[tuple[str, Any, dict[str, Any]]] = [
    ("2-D", torch.randn(3), {}),
    ("2-D", torch.randn(2, 2, 2), {}),
    ("not square", torch.randn(3, 4), {}),
    ("floating", torch.ones(3, 3, dtype=torch.long), {}),
    ("torch.Tensor", [[1.0, 0.0], [0.0, 1.0]], {}),
    ("pos_mask has shape", torch.randn(3, 4), {"pos_mask": torch.ones(3, 3, dtype=torch.bool)}),
    ("boolean", torch.randn(3, 3), {"pos_mask": torch.eye(3)}),
    ("no positive", torch.randn(2, 3), {"pos_mask": torch.tensor([[True, False, False], [False] * 3])}),
    ("no negative", torch.randn(2, 3), {"pos_mask": torch.tensor([[True, False, False], [True] * 3])}),
    ("at least 2", torch.randn(1, 1), {}),
    ("n_negatives=3", torch.randn(3, 3), {"n_negatives": 3}),
    ("n_negatives must be", torch.randn(3, 3), {"n_negatives": 0}),
    ("chunk_size", torch.randn(3, 3), {"chunk_size": 0}),
]


@pytest.mark.parametrize("name", sorted(BOUNDS))
@pytest.mark.parametrize("match,scores,kw", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_user_error(name: str, match: str, scores: Any, kw: dict[str, Any]) -> None:
    extra = {"tuba": {"log_baseline": 1.0}, "interpolated": {"alpha": 0.5}}.get(name, {})
    if name == "interpolated" and ("pos_mask" in kw or "n_negatives" in kw):
        with pytest.raises(TypeError):  # not an option of the interpolated bound
            BOUNDS[name](scores, **kw, **extra)
        return
    with pytest.raises(UserError, match=match):
        BOUNDS[name](scores, **kw, **extra)


def test_sample_negatives_exact_count_and_uniform() -> None:
    cand = torch.tensor([[False, True, True, True, True], [True, True, False, False, True]])
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(2, 5)
    for _ in range(2000):
        sel = sample_negatives(cand, 2, g)
        assert torch.equal(sel.sum(1), torch.tensor([2, 2]))
        assert not bool((sel & ~cand).any())
        counts += sel
    freq = counts / 2000  # each candidate picked with probability 2 / (#candidates)
    torch.testing.assert_close(freq[0, 1:], torch.full((4,), 0.5), atol=0.05, rtol=0)
    torch.testing.assert_close(freq[1, [0, 1, 4]], torch.full((3,), 2 / 3), atol=0.05, rtol=0)


def test_sample_negatives_reproducible_and_chunk_invariant() -> None:
    cand = ~torch.eye(9, dtype=torch.bool)
    a = sample_negatives(cand, 3, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    b = torch.cat([sample_negatives(cand[i : i + 4], 3, g) for i in range(0, 9, 4)])
    assert torch.equal(a, b)


def test_logmeanexp_offdiag(s3: torch.Tensor) -> None:
    off = s3[~torch.eye(3, dtype=torch.bool)]
    assert float(logmeanexp_offdiag(s3)) == pytest.approx(float(off.exp().mean().log()), abs=1e-12)
