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

from infomax.errors import UserError


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


class ClassBalancedBatchSampler(EpochBatchSampler):
    """Batches of ``classes_per_batch`` (P) classes x ``items_per_class`` (K) items, as metric-learning
    and few-shot training use: every item of a batch has K - 1 others of its class in it.

    Batch ``j`` of the epoch (over all processes; process ``rank`` takes batches ``rank::world_size``) is
    drawn from ``numpy.random.default_rng([seed, epoch, 1])`` consumed in batch order: P distinct classes
    among those with at least K items (labels < 0, i.e. unlabelled items, are never drawn), then K
    distinct items of each, the batch listing class after class. So an epoch is a pure function of
    (seed, epoch), a prefix of batches does not depend on ``limit_batches``, and ``resume_at`` skips
    batches exactly as in :class:`EpochBatchSampler`. An epoch has ``n // (P*K)`` batches per process
    (at least one), the same number of items as a plain epoch; items are drawn afresh for every batch
    (within a batch without replacement), so an epoch need not see every item once.

    Example:
        >>> s = ClassBalancedBatchSampler([0, 0, 1, 1, 2, 2, 2, 2], 2, 2, seed=0)
        >>> b = next(iter(s)); len(b), len(s)
        (4, 2)

    Raises:
        UserError: fewer than P classes have K items (the batch cannot be filled), or P, K < 1.
    """

    def __init__(
        self,
        labels: object,
        classes_per_batch: int,
        items_per_class: int,
        seed: int,
        epoch: int = 0,
        limit_batches: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)  # (N,)
        p, k = int(classes_per_batch), int(items_per_class)
        if p < 1 or k < 1:
            raise UserError(f"a class-balanced batch needs >= 1 class and >= 1 item per class, got {p} x {k}")
        super().__init__(len(labels), p * k, seed, epoch, limit_batches, rank, world_size)
        self.classes_per_batch, self.items_per_class = p, k
        classes, counts = np.unique(labels[labels >= 0], return_counts=True)
        eligible = classes[counts >= k]
        if len(eligible) < p:
            raise UserError(
                f"the class-balanced sampler needs {p} classes with at least {k} training items each "
                f"(batch_classes={p} x {k} items = batch_size {p * k}); the data has {len(eligible)} such "
                f"classes (of {len(classes)}): lower batch_classes or batch_size")
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], eligible)
        self._members = [order[s : s + c] for s, c in zip(starts, counts[np.isin(classes, eligible)])]

    def __len__(self) -> int:
        nb = max(1, self._per_rank() // self.batch_size)
        return nb if self.limit_batches is None else min(nb, self.limit_batches)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """Index batches (each int64 (P*K,)) of ``epoch`` for this rank, before any resume skip."""
        rng = np.random.default_rng([self.seed, epoch, 1])
        out = []
        for j in range(len(self) * self.world_size):
            chosen = rng.choice(len(self._members), self.classes_per_batch, replace=False)
            batch = np.concatenate([
                rng.choice(self._members[c], self.items_per_class, replace=False) for c in chosen])
            if j % self.world_size == self.rank:
                out.append(batch.astype(np.int64))
        return out
