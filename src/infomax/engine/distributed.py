"""All-gather with gradients, so contrastive bounds can use the negatives of every process.

``torch.distributed.all_gather`` is not differentiable. :func:`gather_with_grad` is: its backward sums
the incoming gradients over processes (all-reduce) and hands each process the rows of its own slice.
Under DDP, whose gradient averaging divides by the world size W, the parameter gradients then equal
those of one process computing the same loss on the full batch, both when every process computes the
full-batch loss and when each computes the loss of its own rows (with a mean over rows). The same
construction is used by SimCLR and MoCo v3 implementations (Chen et al., 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", sec. B.1, global batch norm / gathered negatives).

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
