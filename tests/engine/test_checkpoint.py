"""Checkpoints: weights_only round trip, RNG capture, atomic writes, NaN refusal, clear errors."""

from __future__ import annotations

import errno
import os
import random
import tempfile

import numpy as np
import pytest
import torch

from infomax.engine.checkpoint import (
    FORMAT,
    derive_seed,
    load_checkpoint,
    load_method_state,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from infomax.errors import UserError


def _state(**over) -> dict:
    """A complete training checkpoint (what the engine writes), with ``over`` replacing entries."""
    return {"format": FORMAT, "method": {"w": torch.ones(2)}, "optimizers": {}, "rng": rng_state(),
            "epoch": 1, "batch": 0, "step": 3, "elapsed_s": 0.5, "stopped_by": None, **over}


def _draw() -> tuple:
    # the global numpy RNG is what the engine seeds and checkpoints
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(),  # noqa: NPY002
            [random.random() for _ in range(3)], np.random.randn(1).tolist())  # noqa: NPY002


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    seed_everything(7)
    np.random.randn()  # noqa: NPY002 - leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / "c.pt", _state(rng=rng_state()))
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


def _fail(err: OSError):
    def failing(*args, **kwargs):
        raise err

    return failing


@pytest.mark.parametrize("target, err, reason", [
    ("tempfile.mkstemp", PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
    ("os.fsync", OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    ("os.replace", OSError(errno.EROFS, "Read-only file system"), "Read-only file system"),
], ids=["unwritable-folder", "disk-full", "read-only"])
def test_a_failed_write_is_one_user_error_and_keeps_the_old_file(tmp_path, monkeypatch, target, err, reason):
    path = tmp_path / "ckpt" / "last.pt"
    save_checkpoint(path, _state())
    before = path.read_bytes()
    module, name = target.split(".")
    monkeypatch.setattr({"tempfile": tempfile, "os": os}[module], name, _fail(err))
    with pytest.raises(UserError) as e:
        save_checkpoint(path, _state(method={"w": torch.zeros(2)}))
    monkeypatch.undo()
    assert str(e.value) == f"cannot write {path}: {reason} (any previous version is unchanged)"
    assert e.value.__cause__ is None and e.value.__suppress_context__  # one line, no chained traceback
    assert path.read_bytes() == before and torch.equal(load_checkpoint(path)["method"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind


def test_a_disk_full_midway_through_the_bytes_keeps_the_old_file(tmp_path, monkeypatch):
    """The write itself fails after part of the file is out (``torch.save`` to a file would report this
    as an opaque RuntimeError; the checkpoint is serialised in memory, so it is an OSError with errno)."""
    import builtins

    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    real_open = builtins.open

    class HalfFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(bytes(data[:100]))
            raise OSError(errno.ENOSPC, "No space left on device")

    def half_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return HalfFile(f) if "w" in mode and str(file).endswith(".tmp") else f

    monkeypatch.setattr(builtins, "open", half_open)
    with pytest.raises(UserError, match=f"cannot write {path}: No space left on device"):
        save_checkpoint(path, _state(method={"w": torch.zeros(2)}))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["method"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_non_finite_weights_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="non-finite"):
        save_checkpoint(tmp_path / "c.pt", {"format": FORMAT, "method": {"w": torch.tensor([1.0, np.nan])}})
    assert not (tmp_path / "c.pt").exists()


def test_corrupt_missing_and_foreign_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt checkpoint .*: not a plain tensor file .Unsupported") as e:
        load_checkpoint(tmp_path / "bad.pt")
    assert "weights_only" not in str(e.value)
    torch.save({"w": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not an infomax checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"format": FORMAT, "method": {"w": torch.ones(1)}}, tmp_path / "partial.pt")
    with pytest.raises(UserError, match="not a valid infomax checkpoint .it lacks optimizers, rng, epoch"):
        load_checkpoint(tmp_path / "partial.pt")


class _RunsCode:
    """Unpickling this runs code (here: creates a marker file) - what a tampered checkpoint would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("payload", ["code", "class"], ids=["runs-code", "arbitrary-class"])
def test_a_tampered_checkpoint_is_refused_without_running_it_or_advising_an_unsafe_load(tmp_path, payload):
    import argparse
    import pickle

    marker = tmp_path / "pwned"
    evil = _RunsCode(str(marker)) if payload == "code" else argparse.Namespace(a=1)
    torch.save(_state(rng={"x": evil}), tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):  # (the file is a real attack: torch refuses it too)
        torch.load(tmp_path / "evil.pt", weights_only=True)
    with pytest.raises(UserError) as e:
        load_checkpoint(tmp_path / "evil.pt")
    msg = str(e.value)
    assert "is not a valid infomax checkpoint" in msg and "tampered" in msg, msg
    assert "weights_only" not in msg and "pickle" not in msg.lower() and len(msg.splitlines()) == 1
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert not marker.exists()  # nothing in the file ran


@pytest.mark.parametrize("state, problem", [
    ({"w": torch.ones(3)}, "w is (3,) in the checkpoint, (2,) here"),
    ({"w": torch.ones(2), "head.weight": torch.ones(2)}, "unexpected head.weight"),
    ({"v": torch.ones(2), "b": torch.ones(2)}, "missing w; unexpected v, b"),
], ids=["size", "extra-keys", "other-method"])
def test_a_checkpoint_that_does_not_fit_the_method_is_one_user_error(state, problem):
    module = torch.nn.Module()
    module.register_buffer("w", torch.zeros(2))
    with pytest.raises(UserError) as e:
        load_method_state(module, _state(method=state), "runs/x/last.pt")
    msg = str(e.value)
    assert msg.startswith("checkpoint runs/x/last.pt does not fit this run's method and settings")
    assert problem in msg, msg
    assert len(msg.splitlines()) == 1 and torch.equal(module.w, torch.zeros(2))  # nothing was loaded
