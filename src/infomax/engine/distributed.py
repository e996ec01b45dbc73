"""All-gather with gradients, so contrastive bounds can use the negatives of every process.

``torch.distributed.all_gather`` is not differentiable. :func:`gather_with_grad` is: its backward sums
the incoming gradients over processes (all-reduce) and hands each process the rows of its own slice.
Under DDP, whose gradient averaging divides by the world size W, the parameter gradients then equal
those of one process computing the same loss on the full batch, both when every process computes the
full-batch loss and when each computes the loss of its own rows (with a mean over rows). The same
construction is used by SimCLR and MoCo v3 implementations (Chen et al., 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", sec. B.1, global batch norm / gathered negatives).

The contrastive methods use it through :func:`gather_candidates` (their ``gather_negatives`` option, on
by default; :func:`gather_world` is 1 in one process or with the option off, and the methods then run
their one-process code unchanged): each process scores its own B rows against the W * B gathered
candidates, positives at column offset ``rank * B`` (:func:`shard_pos_mask`), and averages over its own
rows. Bounds that are not such means (:data:`ROW_MEAN_BOUNDS` lists those that are) gather the row
blocks into the full score matrix instead (:func:`gather_rows`).

Example:
    >>> z = torch.randn(4, 8, requires_grad=True)
    >>> gather_with_grad(z) is z  # one process: identity
    True
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Number of processes in the default group (1 when torch.distributed is not initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 when torch.distributed is not initialised)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # (B, ...) -> (W * B, ...)
        w = dist.get_world_size()
        ctx.rank, ctx.batch = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(w)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # (W * B, ...) -> (B, ...)
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.batch : (ctx.rank + 1) * ctx.batch]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (B, ...) from every process along dim 0 -> (W * B, ...), differentiably.

    Every process must pass the same shape. Rows ``rank * B : (rank + 1) * B`` of the result are this
    process's own ``x``. The gradient reaching ``x`` is the sum, over processes, of the gradients of their
    losses with respect to this slice; DDP's averaging over W processes then gives the gradient of the
    mean loss. In one process (or without torch.distributed) this is the identity.

    Args:
        x: a (B, ...) tensor, e.g. embeddings (B, D).

    Returns:
        (W * B, ...) tensor, ordered by rank.
    """
    if world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


# -- negatives from every process --------------------------------------------------------------------------
#: Bounds that are, on each process, a mean over that process's own rows (or over its own positive and
#: negative pairs, of which every process has the same number): the mean over processes of the per-process
#: value is the full-batch value, so each process may score only its own rows against the gathered
#: candidates. Others (DV, SMILE, the interpolated bound, or a loss that is non-linear in the bound such
#: as ``|I - target|``) need the full score matrix, see :func:`gather_rows`.
ROW_MEAN_BOUNDS = frozenset({"infonce", "jsd", "nwj"})


def gather_world(enabled: bool = True) -> int:
    """The number of processes whose negatives a contrastive method scores: :func:`world_size` when
    ``enabled`` (the methods' ``gather_negatives``), else 1. At 1 the methods run their one-process code,
    untouched (no copy, no collective)."""
    return world_size() if enabled else 1


def gather_candidates(x: Tensor) -> tuple[Tensor, int]:
    """The candidate side of a contrastive score matrix from every process, and this process's offset.

    Args:
        x: (B, ...) this process's candidates (the "columns" of its score matrix), e.g. embeddings (B, D)
            or location rows (B * L, D) ordered image-major.

    Returns:
        (``gather_with_grad(x)`` (W * B, ...), ``rank() * B``): this process's own candidates are rows
        ``offset : offset + B`` of the result, so the positive of local row ``i`` is at ``offset + i``.

    Example:
        >>> z = torch.randn(4, 8)
        >>> cands, offset = gather_candidates(z)  # one process: the tensor itself, offset 0
        >>> cands is z, offset
        (True, 0)
    """
    return gather_with_grad(x), rank() * x.shape[0]


def gather_rows(x: Tensor) -> Tensor:
    """Every process's rows of a score matrix (B, M) -> (W * B, M), differentiably: the full-batch matrix.

    For bounds outside :data:`ROW_MEAN_BOUNDS`: every process then computes the same full-batch value; the
    backward of the gather sums the W identical gradients, which DDP's averaging divides by W again, so the
    parameter gradients are those of one process on the full batch.
    """
    return gather_with_grad(x)


def shard_pos_mask(
    batch: int, world: int, locations: int = 1, device: torch.device | None = None
) -> Tensor:
    """Positives of this process's ``batch`` rows among the ``world * batch * locations`` gathered columns.

    Row ``i`` is True at columns ``(rank * B + i) * L .. (rank * B + i) * L + L - 1`` (with L = 1: the
    diagonal shifted by ``rank * B``). Rank 0 of one process gives the identity (L = 1) or
    :func:`infomax.methods.dim_heads.local_pos_mask`.

    Example:
        >>> shard_pos_mask(2, 1, 2).int().tolist()
        [[1, 1, 0, 0], [0, 0, 1, 1]]
    """
    cols = torch.arange(world * batch * locations, device=device) // locations  # (W*B*L,) image index
    own = torch.arange(batch, device=device) + rank() * batch  # (B,)
    return own[:, None] == cols[None, :]  # (B, W*B*L)


@torch.no_grad()
def all_gather_detached(x: Tensor) -> Tensor:
    """(B, ...) from every process concatenated along dim 0, ordered by rank, without gradient (e.g.
    MoCo's keys, which join every process's queue); the tensor itself in one process."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, 0)
