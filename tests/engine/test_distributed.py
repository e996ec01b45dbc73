"""gather_with_grad: identity in one process; with 2 gloo processes the loss and (DDP-averaged) gradients
equal those of one process on the full batch."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from infomax.engine.distributed import gather_with_grad, rank, world_size


def test_identity_in_one_process():
    x = torch.randn(4, 3, requires_grad=True)
    assert world_size() == 1 and rank() == 0
    assert gather_with_grad(x) is x


@pytest.mark.slow
@pytest.mark.parametrize("world", [2])
def test_two_processes_match_one_process_on_the_full_batch(tmp_path, monkeypatch, world):
    import torch.multiprocessing as mp

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    gw = importlib.import_module("gather_worker")
    mp.spawn(gw.worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    res = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]

    x, w = gw.inputs()
    x.requires_grad_(True)
    w.requires_grad_(True)
    loss = gw.infonce_loss(x, w)  # one process, the full batch
    loss.backward()
    b = len(x) // world
    for mode in ("full", "local"):
        losses = torch.stack([r[mode]["loss"] for r in res])
        if mode == "full":  # every process computed the same full-batch loss
            torch.testing.assert_close(losses, loss.detach().expand(world), rtol=1e-12, atol=1e-12)
        else:  # the mean of the per-process row losses is the full loss
            torch.testing.assert_close(losses.mean(), loss.detach(), rtol=1e-12, atol=1e-12)
        # DDP averages parameter gradients over processes: that average is the full-batch gradient
        w_grad = torch.stack([r[mode]["w_grad"] for r in res]).mean(0)
        torch.testing.assert_close(w_grad, w.grad, rtol=1e-10, atol=1e-12)
        # each process gets the gradient of its own slice (summed over processes, hence W times the mean's)
        for r in range(world):
            torch.testing.assert_close(res[r][mode]["x_grad"] / world, x.grad[r * b : (r + 1) * b],
                                       rtol=1e-10, atol=1e-12)
