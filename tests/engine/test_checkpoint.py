"""Checkpoints: weights_only round trip, RNG capture, atomic writes, NaN refusal, clear errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from infomax.engine.checkpoint import (
    FORMAT,
    derive_seed,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from infomax.errors import UserError


def _draw() -> tuple:
    # the global numpy RNG is what the engine seeds and checkpoints
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(),  # noqa: NPY002
            [random.random() for _ in range(3)], np.random.randn(1).tolist())  # noqa: NPY002


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    seed_everything(7)
    np.random.randn()  # noqa: NPY002 - leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / "c.pt", {"format": FORMAT, "rng": rng_state()})
    expected = _draw()
    seed_everything(99)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert _draw() == expected


def test_seed_everything_is_a_function_of_its_keys():
    seed_everything(1, 2, 0)
    a = _draw()
    seed_everything(1, 2, 0)
    assert _draw() == a
    seed_everything(1, 3, 0)
    assert _draw() != a
    assert derive_seed(1, 2, 0) == seed_everything(1, 2, 0) and 0 <= derive_seed(5) < 2**32


def test_save_is_atomic_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "last.pt"
    save_checkpoint(path, {"format": FORMAT, "method": {"w": torch.ones(2)}})

    def broken_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half a chec")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"format": FORMAT, "method": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["method"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind


def test_non_finite_weights_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="non-finite"):
        save_checkpoint(tmp_path / "c.pt", {"format": FORMAT, "method": {"w": torch.tensor([1.0, np.nan])}})
    assert not (tmp_path / "c.pt").exists()


def test_corrupt_missing_and_foreign_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"w": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not an infomax checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_pickled_objects_are_not_loaded(tmp_path):
    import argparse

    torch.save({"format": FORMAT, "x": argparse.Namespace(a=1)}, tmp_path / "evil.pt")  # an arbitrary class
    with pytest.raises(UserError, match="corrupt checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
