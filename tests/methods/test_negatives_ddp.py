"""Negatives gathered across processes (``gather_negatives``): with 2 gloo processes, each holding half of a
fixed batch, the mean of the per-process losses and the mean of the per-process gradients (what DDP's
averaging applies) equal the loss and gradients of one process on the whole batch, for every contrastive
method. Without the gathering they do not (each process would see only its own half's negatives).

Set-up that makes both runs see the same computation: float64, the methods in eval mode (batch norm then
normalises with its running statistics; in training mode its per-process batch statistics differ from
the full batch's, which no gathering of negatives changes), identity or fixed views, and AMDIM's random
5-5 source locations replaced by a fixed table. The processes are forked (the test process has already
imported torch), which keeps a case well under a second of start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from infomax.engine.distributed import shard_pos_mask
from infomax.methods import amdim, cpc, dim, hybrid, moco, multiview
from infomax.methods.base import MethodBase
from infomax.methods.dim_heads import local_pos_mask

WORLD = 2


def _info(channels: int, size: int) -> SimpleNamespace:
    return SimpleNamespace(channels=channels, image_size=size, num_classes=10, mean=(0.5,) * channels,
                           std=(0.25,) * channels, name="toy")


def _amdim() -> MethodBase:
    m = amdim.AMDIM(3, 32, (0.5,) * 3, (0.25,) * 3, num_classes=10, views=lambda x: (x, x.flip(3)),
                    ndf=8, n_rkhs=16, n_mix=2, mix_hidden=8, probe_hidden=8)
    locs = torch.randint(0, 25, (2, 64), generator=torch.Generator().manual_seed(1))
    rank = dist.get_rank() if dist.is_initialized() else 0
    m.source_locations = lambda b, device: locs[:, rank * b:(rank + 1) * b].to(device)  # type: ignore
    return m


#: case -> (build the method, image channels, image size, full batch size, steps). Each build draws its
#: weights from the global RNG, seeded identically in every process.
CASES: dict[str, tuple[Callable[[], MethodBase], int, int, int, int]] = {
    "multiview": (lambda: multiview.build(multiview.Config(mlp_hidden=(16,), out_dim=8, noise_std=0.0),
                                          _info(1, 8)), 1, 8, 8, 1),
    "multiview-target-nwj": (lambda: multiview.build(multiview.Config(
        critic="separable", critic_hidden=(8,), critic_embed_dim=4, bound="nwj", target_mi=1.0,
        mlp_hidden=(16,), out_dim=8, noise_std=0.0), _info(1, 8)), 1, 8, 8, 1),
    "dim-local": (lambda: dim.build(dim.Config(embed_dim=16, hidden=16, y_dim=8), _info(1, 8)), 1, 8, 8, 1),
    "dim-global-local-dv-concat": (lambda: dim.build(dim.Config(
        alpha=0.5, beta=0.1, bound="dv", local_arch="concat", hidden=8, y_dim=8), _info(1, 8)), 1, 8, 8, 1),
    "dim-global-local-jsd": (lambda: dim.build(dim.Config(
        alpha=1.0, beta=1.0, bound="jsd", embed_dim=16, hidden=8, y_dim=8), _info(1, 8)), 1, 8, 8, 1),
    "amdim": (_amdim, 3, 32, 4, 1),
    "cpc": (lambda: cpc.build(cpc.Config(ndf=8, dim=16, probe_hidden=8), _info(1, 8)), 1, 8, 8, 1),
    "cpc-dim": (lambda: cpc.build(cpc.Config(objective="dim", ndf=8, dim=16, y_dim=8, embed_dim=16,
                                             probe_hidden=8), _info(1, 8)), 1, 8, 8, 1),
    "moco": (lambda: moco.build(moco.Config(y_dim=8, proj_hidden=16, proj_dim=8, queue_size=16,
                                            augment=False), _info(1, 8)), 1, 8, 8, 2),
    "hybrid": (lambda: hybrid.build(hybrid.Config(hidden=8, proj_hidden=16, proj_dim=8, queue_size=16,
                                                  augment=False), _info(1, 8)), 1, 8, 8, 2),
}


def run_case(case: str, rank: int, world: int, gather: bool = True) -> list[dict[str, Any]]:
    """Loss, gradients and queue per step of ``case`` on this process's share of the fixed batch."""
    build, channels, size, n, steps = CASES[case]
    torch.manual_seed(0)
    method = build().double().eval()
    for mod in method.modules():
        if hasattr(mod, "gather_negatives"):
            mod.gather_negatives = gather
    g = torch.Generator().manual_seed(2)
    x = torch.rand(n, channels, size, size, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % 10
    b = n // world
    mine = slice(rank * b, (rank + 1) * b)
    results = []
    for _ in range(steps):
        method.zero_grad(set_to_none=True)
        out = method((x[mine], labels[mine]))
        out["loss"].backward()
        queue = [m.keys.detach().clone() for m in method.modules() if isinstance(m, moco.KeyQueue)]
        results.append({
            "loss": out["loss"].detach(),
            "grads": {k: p.grad.detach().clone() for k, p in method.named_parameters() if p.grad is not None},
            "queue": queue,
        })
    return results


def _worker(rank: int, world: int, case: str, gather: bool, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        torch.save(run_case(case, rank, world, gather), os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_processes(case: str, tmp_path: Path, gather: bool = True) -> list[list[dict[str, Any]]]:
    out = tmp_path / f"{case}-{gather}"
    out.mkdir()
    mp.start_processes(_worker, args=(WORLD, case, gather, str(out / "init"), str(out)), nprocs=WORLD,
                       join=True, start_method="fork")
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def assert_matches_one_process(case: str, tmp_path: Path) -> None:
    per_rank = run_processes(case, tmp_path)
    ref = run_case(case, 0, 1)
    for step, want in enumerate(ref):
        got = [r[step] for r in per_rank]
        loss = torch.stack([g["loss"] for g in got]).mean()
        torch.testing.assert_close(loss, want["loss"], rtol=1e-9, atol=1e-12, msg=f"{case} step {step} loss")
        assert set(got[0]["grads"]) == set(want["grads"]), case
        for name, grad in want["grads"].items():
            mean = torch.stack([g["grads"][name] for g in got]).mean(0)  # DDP's gradient averaging
            torch.testing.assert_close(mean, grad, rtol=1e-8, atol=1e-11, msg=f"{case} step {step} {name}")
        for g in got:  # every process's queue holds the keys of the whole batch
            for q, q_ref in zip(g["queue"], want["queue"], strict=True):
                torch.testing.assert_close(q, q_ref, rtol=0, atol=1e-12)


def test_multiview_two_processes_match_one_process_and_not_without_gathering(tmp_path):
    """The fast representative: InfoNCE over own rows; without gathering the losses differ."""
    assert_matches_one_process("multiview", tmp_path)
    local = run_processes("multiview", tmp_path, gather=False)
    ref = run_case("multiview", 0, 1)[0]["loss"]
    assert not torch.allclose(torch.stack([r[0]["loss"] for r in local]).mean(), ref, rtol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c != "multiview"])  # each well under 5 s
def test_two_processes_match_one_process_on_the_full_batch(case, tmp_path):
    assert_matches_one_process(case, tmp_path)


def test_gathering_is_off_in_one_process():
    """One process: the mask of the process's rows is the one-process mask, and the methods' losses do not
    depend on the option (the one-process code runs either way)."""
    assert torch.equal(shard_pos_mask(3, 1), torch.eye(3, dtype=torch.bool))
    assert torch.equal(shard_pos_mask(3, 1, 4), local_pos_mask(3, 4))
    on, off = run_case("dim-local", 0, 1, gather=True), run_case("dim-local", 0, 1, gather=False)
    assert torch.equal(on[0]["loss"], off[0]["loss"])


def test_queue_size_is_checked_against_the_keys_of_every_process():
    """With gathered keys a step enqueues batch_size x devices keys: the queue must hold whole such steps."""
    from infomax.config import TrainConfig
    from infomax.errors import UserError

    train = TrainConfig(batch_size=16, devices=2)
    moco.check_train(moco.Config(queue_size=64), train)
    hybrid.check_train(hybrid.Config(queue_size=64), train)
    for check, cfg in ((moco.check_train, moco.Config), (hybrid.check_train, hybrid.Config)):
        with pytest.raises(UserError, match="multiple of the batch size"):
            check(cfg(queue_size=48), train)
        check(cfg(queue_size=48, gather_negatives=False), train)  # each process enqueues its own 16
