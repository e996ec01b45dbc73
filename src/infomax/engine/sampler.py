"""The training data order: a fixed function of (seed, epoch), sharded over processes.

Making the order of every epoch a pure function of (seed, epoch) is what lets a killed run resume
bit-identically: the resumed process recomputes the same permutation instead of having to save a
data-loader's internal state.

Example:
    >>> s = EpochBatchSampler(n=10, batch_size=4, seed=0)
    >>> [len(b) for b in s]  # drop_last: two full batches
    [4, 4]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochBatchSampler(Sampler[list[int]]):
    """Yields the index batches of epoch ``self.epoch``: a shuffled, rank-sharded, drop-last order.

    The permutation is ``numpy.random.default_rng([seed, epoch]).permutation(n)``, shared by all
    processes; process ``rank`` of ``world_size`` takes items ``rank::world_size`` (truncated so every
    process gets the same count), then cuts them into batches of ``batch_size`` dropping the incomplete
    last batch (unless no full batch fits: then one smaller batch). Batch norm cannot train on a batch of
    one, and gathered contrastive batches need equal sizes on every process.

    Args:
        n: dataset size.
        batch_size: items per batch and process.
        seed: the run's seed.
        epoch: the epoch the next ``iter()`` serves (set by the engine at each epoch start).
        limit_batches: use only the first ``limit_batches`` batches of each epoch.
        rank: this process's rank; world_size: number of processes.

    Attributes:
        resume_at: ``(epoch, batch)``: in that epoch, skip the first ``batch`` batches (a run resumed from
            a checkpoint taken mid-epoch). ``len()`` stays the full epoch length.
        served_epoch: the epoch of the last ``iter()``, for the engine to check.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        epoch: int = 0,
        limit_batches: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.epoch, self.limit_batches = int(epoch), limit_batches
        self.rank, self.world_size = rank, world_size
        self.resume_at: tuple[int, int] | None = None
        self.served_epoch: int | None = None

    def _per_rank(self) -> int:
        return self.n // self.world_size

    def __len__(self) -> int:
        per = self._per_rank()
        nb = per // self.batch_size if per >= self.batch_size else int(per > 0)
        return nb if self.limit_batches is None else min(nb, self.limit_batches)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """Index batches (each int64 (b,)) of ``epoch`` for this rank, before any resume skip."""
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        mine = perm[self.rank :: self.world_size][: self._per_rank()]
        size = min(self.batch_size, len(mine)) or 1
        return [mine[i * size : (i + 1) * size] for i in range(len(self))]

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.served_epoch = epoch
        skip = self.resume_at[1] if self.resume_at is not None and self.resume_at[0] == epoch else 0
        for b in self.batches(epoch)[skip:]:
            yield b.tolist()
