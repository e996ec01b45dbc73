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


# --- ClassBalancedBatchSampler ------------------------------------------------------------------------
from infomax.config import TrainConfig  # noqa: E402
from infomax.engine.fit import make_sampler  # noqa: E402
from infomax.engine.sampler import ClassBalancedBatchSampler  # noqa: E402
from infomax.errors import UserError  # noqa: E402


def _labels():
    # class 0: 6 items, class 1: 2, class 2: 5, class 3: 1 (too few for K=2), unlabelled: 2
    return np.array([0, 1, 2, 0, 2, 0, -1, 1, 2, 0, 3, 2, 0, 2, 0, -1])


def test_balanced_batches_are_p_classes_times_k_items_of_the_eligible_classes():
    labels = _labels()
    s = ClassBalancedBatchSampler(labels, classes_per_batch=2, items_per_class=2, seed=0)
    assert len(s) == 16 // 4
    for b in s.batches(0):
        assert len(b) == 4 and len(set(b.tolist())) == 4  # no item twice in a batch
        lab = labels[b]
        # class after class: the first K items share a class, the next K another
        assert lab[0] == lab[1] and lab[2] == lab[3] and lab[0] != lab[2]
        assert set(lab.tolist()) <= {0, 1, 2}  # class 3 (1 item) and unlabelled items never drawn
    # hand-checked against the documented draw: P classes of the eligible [0, 1, 2], then K items each
    rng = np.random.default_rng([0, 0, 1])
    members = [np.flatnonzero(labels == c) for c in (0, 1, 2)]
    chosen = rng.choice(3, 2, replace=False)
    first = np.concatenate([rng.choice(members[c], 2, replace=False) for c in chosen])
    np.testing.assert_array_equal(s.batches(0)[0], first)


def test_balanced_order_is_a_function_of_seed_and_epoch_and_resumes_mid_epoch():
    labels = np.repeat(np.arange(10), 7)
    a = ClassBalancedBatchSampler(labels, 3, 2, seed=4)
    b = ClassBalancedBatchSampler(labels, 3, 2, seed=4, limit_batches=5)
    ea = [x.tolist() for x in a.batches(2)]
    assert ea == [x.tolist() for x in ClassBalancedBatchSampler(labels, 3, 2, seed=4).batches(2)]
    assert ea[:5] == [x.tolist() for x in b.batches(2)]  # a prefix does not depend on limit_batches
    assert ea != [x.tolist() for x in a.batches(3)]
    assert ea != [x.tolist() for x in ClassBalancedBatchSampler(labels, 3, 2, seed=5).batches(2)]
    a.epoch, a.resume_at = 2, (2, 4)
    assert list(a) == ea[4:] and a.served_epoch == 2
    a.epoch = 3  # the skip applies to its epoch only
    assert len(list(a)) == len(a) == 70 // 6


def test_balanced_shards_take_alternate_batches():
    labels = np.repeat(np.arange(10), 7)
    whole = ClassBalancedBatchSampler(labels, 2, 2, seed=0).batches(0)
    shards = [ClassBalancedBatchSampler(labels, 2, 2, seed=0, rank=r, world_size=2).batches(0)
              for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 70 // 2 // 4
    np.testing.assert_array_equal(shards[1][0], whole[1])
    np.testing.assert_array_equal(shards[0][1], whole[2])


@pytest.mark.parametrize("p,k,msg", [(4, 2, "has 3 such classes"), (2, 6, "has 1 such classes")])
def test_balanced_refuses_impossible_p_and_k(p, k, msg):
    with pytest.raises(UserError, match=msg):
        ClassBalancedBatchSampler(_labels(), p, k, seed=0)


def test_sampler_option_is_validated_and_selects_the_sampler():
    for bad in (TrainConfig(sampler="classes"),
                TrainConfig(sampler="balanced", batch_size=64, batch_classes=5),
                TrainConfig(sampler="balanced", batch_size=16, batch_classes=16)):
        with pytest.raises(UserError, match="sampler"):
            bad.validate()
    cfg = TrainConfig(sampler="balanced", batch_size=6, batch_classes=3)
    cfg.validate()
    s = make_sampler(np.repeat(np.arange(5), 4), cfg)
    assert isinstance(s, ClassBalancedBatchSampler) and (s.classes_per_batch, s.items_per_class) == (3, 2)
    assert type(make_sampler(np.arange(8), TrainConfig())) is EpochBatchSampler


def test_balanced_sampler_never_draws_a_methods_held_out_classes():
    """A method's holdout_classes are left out of the pool, so every batch keeps its P x K items."""
    labels = np.repeat(np.arange(6), 4)  # 6 classes x 4 items
    cfg = TrainConfig(sampler="balanced", batch_size=4, batch_classes=2)
    sampler = make_sampler(labels, cfg, exclude=(1, 4))
    batches = []
    for epoch in range(3):
        sampler.epoch = epoch
        batches += list(sampler)
    assert batches and all(len(b) == 4 for b in batches)
    drawn = set(labels[np.concatenate(batches)].tolist())
    assert drawn == {0, 2, 3, 5}
