"""``max_items``: at most N items of each split, a stratified fixed-seed sample in the original order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infomax.data.datasets import ImageArrays, cap_items, load_dataset


def _arrays(labels: list[int]) -> ImageArrays:
    n = len(labels)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)  # pixel = original index
    return ImageArrays(images, np.array(labels), ["a", "b", "c"])


def test_class_proportions_are_kept_and_the_order_too():
    a = _arrays([0] * 60 + [1] * 30 + [2] * 10)
    capped = cap_items(a, 20)
    assert np.bincount(capped.labels).tolist() == [12, 6, 2]
    idx = capped.images.ravel()
    assert (np.diff(idx.astype(int)) > 0).all()  # original order
    assert (a.labels[idx] == capped.labels).all()


def test_leftover_items_go_to_the_largest_remainders_and_unlabelled_items_are_a_group():
    a = _arrays([0] * 5 + [1] * 3 + [-1] * 2)  # quotas for 4: 2.0, 1.2, 0.8
    assert sorted(cap_items(a, 4).labels.tolist()) == [-1, 0, 0, 1]


def test_the_sample_is_fixed_by_the_seed():
    a = _arrays([0] * 50 + [1] * 50)
    assert cap_items(a, 10).images.tolist() == cap_items(a, 10).images.tolist()
    assert cap_items(a, 10, seed=1).images.tolist() != cap_items(a, 10).images.tolist()


def test_a_cap_at_or_above_the_size_keeps_everything():
    a = _arrays([0, 1, 2])
    assert cap_items(a, 3) is a and cap_items(a, 10) is a


def test_load_dataset_caps_every_split_and_keeps_the_full_statistics():
    full, capped = load_dataset("digits"), load_dataset("digits", max_items=100)
    assert (len(capped.train), len(capped.val), len(capped.test)) == (100, 100, 100)
    assert capped.info == full.info  # mean/std of the whole train split
    quota = np.bincount(full.test.labels) * 100 / len(full.test)  # stratified: floor or ceil of each quota
    got = np.bincount(capped.test.labels)
    assert ((got == np.floor(quota)) | (got == np.ceil(quota))).all(), (got, quota)


@pytest.mark.parametrize("value", ["1", "0", "-5"])
def test_max_items_below_two_is_a_user_error(value, tmp_path, capsys):
    from infomax.cli import main

    assert main(["train", "dim", "--set", f"max_items={value}", "--out", str(tmp_path / "r")]) == 2
    assert "max_items must be >= 2" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_the_cap_is_stored_and_eval_reads_the_same_items(tmp_path, capsys):
    from infomax.cli import main

    out = tmp_path / "r"
    assert main(["train", "dim", "--max-epochs", "1", "--set", "limit_train_batches=1", "--set",
                 "max_items=120", "--set", "final_probe_samples=60", "--no-baselines", "--threads", "1",
                 "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["max_items"] == 120
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["final"]["n_val"], metrics["final"]["n_test"]) == (120, 120)
    capsys.readouterr()
    assert main(["eval", str(out), "--protocol", "knn", "--layer", "y", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["eval/knn/y"]["n_test"] == 120
