"""Worker for test_distributed.py, importable by name so torch.multiprocessing.spawn can start it."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from infomax.engine.distributed import gather_with_grad


def inputs(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The full batch x (n, 5) and the weights w (5, 6) of a linear encoder, float64."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    return x, torch.randn(5, 6, generator=g, dtype=torch.float64)


def infonce_loss(
    x: torch.Tensor, w: torch.Tensor, rows: slice | None = None, gather: bool = False
) -> torch.Tensor:
    """InfoNCE (cross-entropy form) on scores[i, j] = <u_i, v_j> of a two-headed linear encoder; the
    positives are on the diagonal; ``rows`` keeps only those rows' terms (the rest are negatives only)."""
    z = x @ w  # (B, 6)
    if gather:
        z = gather_with_grad(z)  # (W * B, 6)
    scores = z[:, :3] @ z[:, 3:].T  # (N, N)
    target = torch.arange(len(z))
    rows = rows or slice(0, len(z))
    return F.cross_entropy(scores[rows], target[rows])


def worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    x, w = inputs()
    b = len(x) // world
    mine = slice(rank * b, (rank + 1) * b)
    results = {}
    for mode in ("full", "local"):  # every process: the full-batch loss, or only its own rows' terms
        xr, wr = x[mine].clone().requires_grad_(True), w.clone().requires_grad_(True)
        loss = infonce_loss(xr, wr, rows=mine if mode == "local" else None, gather=True)
        loss.backward()
        results[mode] = {"loss": loss.detach(), "x_grad": xr.grad, "w_grad": wr.grad}
    torch.save(results, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()
