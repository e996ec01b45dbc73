"""The online linear probe: its fixed samples, known accuracies, and no draw from the global RNGs."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from infomax.engine.online_probe import OnlineLinearProbe, probe_key

TOY_DIR = Path(__file__).parent


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    return importlib.import_module("engine_toy").register(monkeypatch)


class PixelEncoder(nn.Module):
    """``label``: the mean brightness of each quadrant (separates the toy classes); ``flat``: a constant."""

    layers = ("label", "flat")
    output_layer = "label"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        quads = nn.functional.avg_pool2d(x, 4).flatten(1)  # (B, 4)
        return {"label": quads, "flat": torch.ones(len(x), 3)}


def test_samples_are_stratified_train_and_val(toy):
    splits = toy.toy_splits()
    probe = OnlineLinearProbe.from_splits(splits, n=40, layers=("y",))
    assert len(probe.train_labels) == 40 and len(probe.eval_labels) == 20  # all 20 val items (<= n)
    expected = np.bincount(splits.train.labels, minlength=4) * 40 / 96
    assert np.all(np.abs(np.bincount(probe.train_labels, minlength=4) - expected) < 1)
    assert np.array_equal(np.sort(probe.eval_labels), np.sort(splits.val.labels))


def test_without_labelled_val_it_scores_on_held_out_train_items(toy):
    splits = toy.toy_splits()
    no_val = dataclasses.replace(splits.val, labels=np.full_like(splits.val.labels, -1))
    probe = OnlineLinearProbe.from_splits(dataclasses.replace(splits, val=no_val), n=40, layers=("y",))
    assert len(probe.train_labels) == 40 and len(probe.eval_labels) == 10
    fit_rows = {img.tobytes() for img in probe.train_images}
    assert not any(img.tobytes() in fit_rows for img in probe.eval_images)  # disjoint (toy images distinct)


def test_known_accuracies_and_no_global_rng_draw(toy):
    """A layer that separates the classes: 1.0; a constant layer: the share of the majority train class."""
    splits = toy.toy_splits()
    probe = OnlineLinearProbe.from_splits(splits, n=96, layers=("label", "flat"), C=1.0)
    enc = PixelEncoder().train()
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    acc = probe(enc)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert enc.training  # the mode is restored
    assert acc[probe_key("label")] == 1.0
    majority = np.bincount(probe.train_labels).argmax()
    assert acc[probe_key("flat")] == pytest.approx(np.mean(probe.eval_labels == majority))
    assert set(acc) == {"probe/linear_acc/label", "probe/linear_acc/flat"}


def test_no_probe_without_two_classes(toy):
    splits = toy.toy_splits()
    one = dataclasses.replace(splits.train, labels=np.zeros_like(splits.train.labels))
    assert OnlineLinearProbe.from_splits(dataclasses.replace(splits, train=one), 40, ("y",)) is None
