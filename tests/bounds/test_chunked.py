"""Chunked == dense, values and gradients, for every bound (two code paths: one block of rows without
checkpointing vs several checkpointed blocks, scored from a tensor or on demand from a critic)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from infomax.bounds import BOUNDS, MINE, chunked
from infomax.critics import ConcatCritic, SeparableCritic
from infomax.errors import UserError

N = 7


def _kwargs(name: str) -> dict[str, Any]:
    if name == "tuba":
        return {"log_baseline": torch.linspace(-0.5, 1.5, N, dtype=torch.float64)}
    if name == "interpolated":
        return {"alpha": 0.4}
    if name == "smile":
        return {"tau": 1.0}
    return {}


def _grads(value: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(value, params))


@pytest.mark.parametrize("name", sorted(BOUNDS))
@pytest.mark.parametrize("chunk_size", [1, 3, N])
def test_tensor_chunks_equal_dense(name: str, chunk_size: int) -> None:
    g = torch.Generator().manual_seed(1)
    s = torch.randn(N, N, generator=g, dtype=torch.float64).requires_grad_(True)
    dense = BOUNDS[name](s, **_kwargs(name))
    chunk = BOUNDS[name](s, chunk_size=chunk_size, **_kwargs(name))
    torch.testing.assert_close(chunk, dense, rtol=0, atol=1e-12)
    torch.testing.assert_close(_grads(chunk, [s]), _grads(dense, [s]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_critic_chunks_equal_dense(name: str) -> None:
    """``chunked`` never builds the (N, N) matrix; it must agree with scoring it densely."""
    critic = SeparableCritic(3, 2, hidden=(8,), embed_dim=4).double()
    x = torch.randn(N, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(N, 2, dtype=torch.float64)
    params = [x, *critic.parameters()]
    dense = BOUNDS[name](critic(x, y), **_kwargs(name))
    chunk = chunked(name, critic, x, y, chunk_size=3, **_kwargs(name))
    torch.testing.assert_close(chunk, dense, rtol=0, atol=1e-12)
    torch.testing.assert_close(_grads(chunk, params), _grads(dense, params), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["infonce", "nwj", "dv", "jsd"])
def test_chunks_with_mask_and_sampled_negatives(name: str) -> None:
    """Non-square scores (local-DIM layout), a positive mask and sampled negatives (same generator seed)."""
    critic = ConcatCritic(3, 3, hidden=(6,)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.randn(8, 3, dtype=torch.float64)
    mask = torch.zeros(4, 8, dtype=torch.bool)
    for i in range(4):
        mask[i, 2 * i : 2 * i + 2] = True
    kw = {"pos_mask": mask, "n_negatives": 3}
    params = list(critic.parameters())
    dense = BOUNDS[name](critic(x, y), generator=torch.Generator().manual_seed(5), **kw)
    chunk = chunked(name, critic, x, y, chunk_size=3, generator=torch.Generator().manual_seed(5), **kw)
    torch.testing.assert_close(chunk, dense, rtol=0, atol=1e-12)
    torch.testing.assert_close(_grads(chunk, params), _grads(dense, params), rtol=0, atol=1e-12)


def test_mine_chunks_equal_dense() -> None:
    s = torch.randn(N, N, dtype=torch.float64).requires_grad_(True)
    a, b = MINE().double(), MINE().double()
    for step in range(2):
        dense, chunk = a(s * (1 + step)), b(s * (1 + step), chunk_size=2)
        torch.testing.assert_close(chunk, dense, rtol=0, atol=1e-12)
        torch.testing.assert_close(_grads(chunk, [s]), _grads(dense, [s]), rtol=0, atol=1e-12)


def test_unknown_bound_and_bad_chunk() -> None:
    x = torch.randn(4, 2)
    with pytest.raises(UserError, match="unknown bound"):
        chunked("nope", lambda a, b: a @ b.T, x, x, 2)
    with pytest.raises(UserError, match="chunk_size"):
        chunked("dv", lambda a, b: a @ b.T, x, x, 0)
    with pytest.raises(UserError, match="score function returned shape"):
        chunked("dv", lambda a, b: a @ b.T[:, :1], x, x, 2)


def _block_mask(n: int, n_loc: int) -> torch.Tensor:
    return torch.eye(n, dtype=torch.bool).repeat_interleave(n_loc, dim=1)  # (n, n * n_loc)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("infonce", {}),
        ("dv", {}),
        ("smile", {"tau": 0.5}),
        ("jsd", {}),
        ("jsd", {"exclude_positives": False}),
    ],
)
def test_local_block_path_equals_row_reduction(name: str, kwargs: dict[str, Any]) -> None:
    """The local-DIM block mask takes a vectorised (N, N, L) path; it must equal the masked row reduction
    (``chunk_size=N``: one block through :func:`reduce_rows`), values and gradients."""
    n, n_loc = 5, 3
    g = torch.Generator().manual_seed(3)
    s = (2 * torch.randn(n, n * n_loc, generator=g, dtype=torch.float64)).requires_grad_(True)
    mask = _block_mask(n, n_loc)
    fast = BOUNDS[name](s, pos_mask=mask, **kwargs)
    rows = BOUNDS[name](s, pos_mask=mask, chunk_size=n, **kwargs)
    torch.testing.assert_close(fast, rows, rtol=0, atol=1e-12)
    torch.testing.assert_close(_grads(fast, [s]), _grads(rows, [s]), rtol=0, atol=1e-12)


def test_local_block_infonce_hand_value() -> None:
    """2 images x 2 locations: positive (0, l) is contrasted with itself and row 0's 2 negatives."""
    s = torch.tensor([[1.0, 0.0, 2.0, -1.0], [0.5, 0.5, 3.0, 1.0]], dtype=torch.float64)
    mask = _block_mask(2, 2)
    e = torch.exp
    want = (
        sum(torch.log(e(s[0, k]) / (e(s[0, k]) + e(s[0, 2]) + e(s[0, 3]))) for k in (0, 1))
        + sum(torch.log(e(s[1, k]) / (e(s[1, k]) + e(s[1, 0]) + e(s[1, 1]))) for k in (2, 3))
    ) / 4 + torch.log(torch.tensor(3.0, dtype=torch.float64))
    torch.testing.assert_close(BOUNDS["infonce"](s, pos_mask=mask), want, rtol=0, atol=1e-12)


def test_block_path_not_taken_for_other_masks() -> None:
    """A mask that is not the block layout (here rows swapped) goes through the general reduction."""
    from infomax.bounds._reduce import dense_blocks

    s = torch.randn(3, 6)
    assert dense_blocks(s, _block_mask(3, 2), None, None) is not None
    assert dense_blocks(s, _block_mask(3, 2).flip(0), None, None) is None
    assert dense_blocks(s, _block_mask(3, 2), 2, None) is None
    assert dense_blocks(s, _block_mask(3, 2), None, 2) is None
    one = torch.randn(1, 4)
    with pytest.raises(UserError, match="no negative"):
        BOUNDS["infonce"](one, pos_mask=_block_mask(1, 4))
