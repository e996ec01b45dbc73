"""The final evaluation: the stratified train sample, and what the linear protocol is given and records."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest

from infomax.engine import evaluate
from infomax.engine.evaluate import final_linear_probe, stratified_indices, subsample_splits

TOY_DIR = Path(__file__).parent


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    return importlib.import_module("engine_toy").register(monkeypatch)


def test_stratified_indices_hand_computed():
    # 10 labelled items: 6 of class 0, 3 of class 1, 1 of class 2, plus 2 unlabelled. n = 5:
    # quotas 3, 1.5, 0.5 -> floors 3, 1, 0; the leftover one goes to the tied largest remainders' first
    # class (1) -> 3, 2, 0.
    labels = np.array([0, 1, 0, -1, 0, 2, 1, 0, 0, 1, -1, 0])
    idx = stratified_indices(labels, 5, seed=0)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0) and len(idx) == 5
    assert np.bincount(labels[idx], minlength=3).tolist() == [3, 2, 0]
    assert stratified_indices(labels, 5, seed=0).tolist() == idx.tolist()  # fixed seed: same sample
    assert stratified_indices(labels, 10).tolist() == np.flatnonzero(labels >= 0).tolist()  # n >= N: all
    assert stratified_indices(labels, None).tolist() == np.flatnonzero(labels >= 0).tolist()


def test_stratified_indices_keep_the_class_proportions():
    labels = np.random.default_rng(1).choice(7, size=4000, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.06, 0.04])
    idx = stratified_indices(labels, 1000, seed=3)
    assert len(idx) == len(np.unique(idx)) == 1000
    expected = np.bincount(labels, minlength=7) * 1000 / 4000
    assert np.all(np.abs(np.bincount(labels[idx], minlength=7) - expected) < 1)  # floor or floor + 1
    assert stratified_indices(labels, 1000, seed=4).tolist() != idx.tolist()  # the seed matters


def test_subsample_splits_cuts_train_only(toy):
    splits = toy.toy_splits()
    cut = subsample_splits(splits, 40)
    assert len(cut.train.labels) == 40 and cut.val is splits.val and cut.test is splits.test
    idx = stratified_indices(splits.train.labels, 40)
    assert np.array_equal(cut.train.images, splits.train.images[idx])
    assert np.array_equal(cut.train.labels, splits.train.labels[idx])
    assert subsample_splits(splits, 96) is splits and subsample_splits(splits, None) is splits


def test_final_probe_gives_the_protocol_the_sample_and_the_cs_and_records_the_counts(toy, monkeypatch):
    calls = []

    def recording(enc, splits, layer, Cs=None, **kw):
        calls.append((layer, len(splits.train.labels), len(splits.val.labels), len(splits.test.labels), Cs))
        return {"accuracy": 0.5 if enc == "a" else 0.25, "C": Cs[-1]}

    monkeypatch.setattr(evaluate, "linear_protocol", lambda: recording)
    splits = toy.toy_splits()
    final = final_linear_probe({"trained": "a", "random": "b"}, splits, ("conv", "y"), max_train=40,
                               cs=(0.01, 0.1))
    assert calls == [(layer, 40, 20, 40, (0.01, 0.1)) for layer in ("conv", "y") for _ in range(2)]
    seconds = final.pop("seconds")
    assert seconds >= 0 and final == {
        "protocol": "linear", "split": "test", "n_train": 40, "n_train_available": 96, "n_val": 20,
        "n_test": 40, "cs": [0.01, 0.1], "C": {"conv": {"trained": 0.1, "random": 0.1},
                                                "y": {"trained": 0.1, "random": 0.1}},
        "accuracy": {"conv": {"trained": 0.5, "random": 0.25}, "y": {"trained": 0.5, "random": 0.25}}}


def test_final_probe_is_skipped_without_labels(toy):
    splits = toy.toy_splits()
    unlabelled = dataclasses.replace(splits.test, labels=np.full_like(splits.test.labels, -1))
    assert final_linear_probe({"t": None}, dataclasses.replace(splits, test=unlabelled), ("y",)) is None



def test_probe_order_puts_the_output_layer_first_then_the_rest_from_the_last():
    assert evaluate.probe_order(("conv", "fc", "y"), "y") == ["y", "fc", "conv"]
    assert evaluate.probe_order(("z", "y"), "z") == ["z", "y"]
    assert evaluate.probe_order(("pooled",), "pooled") == ["pooled"]


@pytest.mark.parametrize(("seconds_left", "probed", "skipped"), [
    (-1.0, ["y"], ["conv", "fc"]),  # past the deadline: the output layer only, every encoder on it
    (3600.0, ["y", "fc", "conv"], []),  # time enough: every layer, output layer first
], ids=["deadline-passed", "time-enough"])
def test_final_probe_deadline_skips_the_layers_not_started(toy, monkeypatch, seconds_left, probed, skipped):
    import time

    calls = []

    def recording(enc, splits, layer, Cs=None, **kw):
        calls.append((layer, enc))
        return {"accuracy": 0.5, "C": Cs[0]}

    monkeypatch.setattr(evaluate, "linear_protocol", lambda: recording)
    final = final_linear_probe({"trained": "a", "random": "b"}, toy.toy_splits(), ("conv", "fc", "y"),
                               deadline=time.monotonic() + seconds_left, first="y")
    assert calls == [(layer, enc) for layer in probed for enc in ("a", "b")]
    assert list(final["accuracy"]) == [layer for layer in ("conv", "fc", "y") if layer in probed]  # as given
    assert final.get("skipped_layers", []) == skipped


@pytest.mark.parametrize(("seconds", "expected"), [
    (30.0, (None, None)),  # 3 encoders x 26,000 images x 1e-4 s x (2 + 10 / 50) = 17.16 s: everything fits
    (6.0, (3496, 3496)),  # scaled by 6 / 17.16 = 0.3497: 10,000 -> 3,496 train, max(6,000, 10,000) -> 3,496
    (0.01, (500, 500)),  # never below the floor
], ids=["fits", "scaled", "floor"])
def test_affordable_samples_hand_computed(seconds, expected):
    assert evaluate.affordable_samples(seconds, 1e-4, 3, 10, (10000, 6000, 10000)) == expected


def test_final_probe_max_eval_cuts_val_and_test_and_says_so(toy, monkeypatch):
    seen = []

    def recording(enc, splits, layer, Cs=None, **kw):
        seen.append((len(splits.train.labels), len(splits.val.labels), len(splits.test.labels)))
        return {"accuracy": 0.5, "C": Cs[0]}

    monkeypatch.setattr(evaluate, "linear_protocol", lambda: recording)
    final = final_linear_probe({"trained": "a"}, toy.toy_splits(), ("y",), max_train=30, max_eval=12)
    assert seen == [(30, 12, 12)]
    assert (final["n_train"], final["n_val"], final["n_test"], final["n_test_available"]) == (30, 12, 12, 40)
