"""EpochBatchSampler: the order is a function of (seed, epoch); shards are disjoint and equal."""

from __future__ import annotations

import numpy as np
import pytest

from infomax.engine.sampler import EpochBatchSampler


def test_order_is_a_function_of_seed_and_epoch():
    a = EpochBatchSampler(50, 8, seed=1)
    b = EpochBatchSampler(50, 8, seed=1)
    b.epoch = 0
    assert [x.tolist() for x in a.batches(3)] == [x.tolist() for x in b.batches(3)]
    assert a.batches(3)[0].tolist() != a.batches(4)[0].tolist()
    assert a.batches(3)[0].tolist() != EpochBatchSampler(50, 8, seed=2).batches(3)[0].tolist()
    expected = np.random.default_rng([1, 3]).permutation(50)[:48].reshape(6, 8)
    np.testing.assert_array_equal(np.stack(a.batches(3)), expected)


def test_iteration_serves_self_epoch_and_drops_the_last_partial_batch():
    s = EpochBatchSampler(50, 8, seed=0, epoch=2)
    batches = list(s)
    assert s.served_epoch == 2 and len(s) == 6 and len(batches) == 6
    assert all(len(b) == 8 for b in batches) and len(set(sum(batches, []))) == 48


def test_small_dataset_gives_one_smaller_batch():
    s = EpochBatchSampler(5, 8, seed=0)
    assert len(s) == 1 and sorted(next(iter(s))) == [0, 1, 2, 3, 4]


def test_limit_and_resume_skip():
    s = EpochBatchSampler(64, 4, seed=0, limit_batches=5)
    full = [b.tolist() for b in s.batches(1)]
    assert len(s) == 5 and len(full) == 5
    s.epoch, s.resume_at = 1, (1, 3)
    assert list(s) == full[3:]
    s.epoch = 2  # the skip applies to its epoch only
    assert len(list(s)) == 5


@pytest.mark.parametrize("world", [2, 3])
def test_shards_are_disjoint_equal_and_cover_the_shared_permutation(world):
    shards = [EpochBatchSampler(50, 4, seed=0, rank=r, world_size=world) for r in range(world)]
    items = [np.concatenate(s.batches(0)) for s in shards]
    assert len({len(s) for s in shards}) == 1
    flat = np.concatenate(items)
    assert len(np.unique(flat)) == len(flat)
    perm = np.random.default_rng([0, 0]).permutation(50)
    np.testing.assert_array_equal(items[1][:3], perm[1::world][:3])
