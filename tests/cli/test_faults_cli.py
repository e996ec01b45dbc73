"""Faults that used to end in tracebacks: each is one line on stderr and exit code 2, with nothing written
(or the previous checkpoint kept). In-process through ``infomax.cli.main`` with the toy method.

Write failures are injected (tests may run as root, for whom ``chmod`` denies nothing); the variants with a
real read-only folder run only as a non-root user.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
import torch

from infomax.cli import main
from infomax.engine.checkpoint import load_checkpoint

FAST = ["--set", "batch_size=16", "--no-baselines"]
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def run(toy, tmp_path, capsys):
    """A finished one-epoch toy run."""
    out = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--max-epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def _one_line(capsys, code: int = 2) -> str:
    """The command's only ``infomax:`` line on stderr (no traceback); returns it."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infomax:")]  # (progress bars aside)
    assert len(lines) == 1 and lines[0].startswith("infomax: error: "), err
    assert "Traceback" not in err and err.rstrip().endswith(lines[0]), err
    return lines[0]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- a checkpoint that does not fit ----------------------------------------------------------------------
@pytest.mark.parametrize("other", ["settings", "method"], ids=["tensor-size", "other-method"])
def test_resume_with_a_checkpoint_that_does_not_fit_is_refused_and_writes_nothing(toy, run, capsys, other):
    info = toy.toy_splits().info
    foreign = (toy.build(toy.Config(y_dim=4), info) if other == "settings"
               else toy.build_supervised(toy.SupConfig(), info))
    ckpt_path = run / "checkpoints/last.pt"
    ckpt = load_checkpoint(ckpt_path)
    ckpt["method"] = foreign.state_dict()  # copied in from another run
    torch.save(ckpt, ckpt_path)
    before = _files(run)
    assert main(["train", "--resume", str(run), "--max-epochs", "2"]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"infomax: error: checkpoint {ckpt_path} does not fit this run's method and")
    assert ("encoder.fc.weight is (4, 256) in the checkpoint, (8, 256) here" if other == "settings"
            else "missing w.weight; unexpected head.weight, head.bias") in line
    assert _files(run) == before  # config.json included: not rewritten with the new max_epochs


def test_a_tampered_checkpoint_is_refused_without_running_it(toy, run, capsys):
    marker = run.parent / "pwned"

    class RunsCode:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    ckpt_path = run / "checkpoints/last.pt"
    ckpt = load_checkpoint(ckpt_path)
    ckpt["rng"]["python"]["gauss"] = RunsCode()
    torch.save(ckpt, ckpt_path)
    assert main(["train", "--resume", str(run), "--max-epochs", "2"]) == 2
    line = _one_line(capsys)
    assert line == (f"infomax: error: {ckpt_path} is not a valid infomax checkpoint: it holds objects other "
                    "than tensors and plain containers, so it may have been tampered with; it was not "
                    "loaded. Restore it from a trusted copy or start a new run")
    assert "weights_only" not in line and not marker.exists()


# --- failed writes -----------------------------------------------------------------------------------------
def _resume_hint(out: Path) -> str:
    """What ``infomax train`` adds when a new run fails after its first step (its training is kept)."""
    return (f" (the training so far is kept in {out}: fix the cause, then finish the run with "
            f"`infomax train --resume {out}`)")


def test_a_full_disk_at_a_checkpoint_keeps_the_previous_one_and_resumes(toy, tmp_path, capsys, monkeypatch):
    out, calls = tmp_path / "run", []
    real_fsync = os.fsync

    def fsync(fd):  # the engine flushes each checkpoint: epoch 0, epoch 1, then epoch 2 finds the disk full
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert main(["train", "toy", *FAST, "--max-epochs", "3", "--out", str(out)]) == 2
    ckpt = out / "checkpoints/last.pt"
    assert _one_line(capsys) == (f"infomax: error: cannot write {ckpt}: No space left on device (any "
                                 f"previous version is unchanged){_resume_hint(out)}")
    assert load_checkpoint(ckpt)["epoch"] == 1  # the previous checkpoint, intact
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last.pt"]  # the temporary file removed
    assert not (out / "model.safetensors").exists()
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed
    assert main(["train", "--resume", str(out)]) == 0
    assert load_checkpoint(ckpt)["epoch"] == 3


class SafetensorError(Exception):
    """Stands in for safetensors' own error type, which reports an OS error in its message."""


def test_a_full_disk_at_the_export_is_one_line_and_the_run_resumes(toy, tmp_path, capsys, monkeypatch):
    from infomax.engine import export

    real_save = export.save_model

    def save_model(model, filename, metadata=None):
        if ".model.safetensors." in filename:  # the temporary file of model.safetensors
            Path(filename).write_bytes(b"half")
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        real_save(model, filename, metadata=metadata)

    out = tmp_path / "run"
    monkeypatch.setattr(export, "save_model", save_model)
    assert main(["train", "toy", *FAST, "--max-epochs", "1", "--out", str(out)]) == 2
    assert _one_line(capsys) == (f"infomax: error: cannot write {out / 'model.safetensors'}: No space left "
                                 f"on device (any previous version is unchanged){_resume_hint(out)}")
    assert not [p for p in out.iterdir() if "safetensors" in p.name]  # neither the file nor its temp file
    monkeypatch.setattr(export, "save_model", real_save)
    assert main(["train", "--resume", str(out)]) == 0 and (out / "model.safetensors").is_file()


def _deny_under(monkeypatch, locked: Path) -> None:
    """Creating anything inside ``locked`` fails as in a folder without write permission."""
    real_mkdir, real_mkstemp = Path.mkdir, tempfile.mkstemp

    def mkdir(self, *args, **kwargs):
        if Path(self).resolve().is_relative_to(locked.resolve()) and Path(self).resolve() != locked.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve().is_relative_to(locked.resolve()):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.fixture(params=["injected", "chmod"])
def locked(request, tmp_path, monkeypatch):
    """A folder nothing can be created in: by injection, or (non-root only) by ``chmod 0o555``."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if request.param == "chmod":
        if ROOT:
            pytest.skip("running as root: chmod does not deny writes (the injected variant covers it)")
        folder.chmod(0o555)
        request.addfinalizer(lambda: folder.chmod(0o755))
    else:
        _deny_under(monkeypatch, folder)
    return folder


@pytest.mark.parametrize("where", ["out-parent", "working-directory"])
def test_an_unwritable_out_parent_or_working_directory_is_one_line(toy, locked, capsys, monkeypatch, where):
    if where == "out-parent":
        argv, shown = ["--out", str(locked / "run")], str(locked / "run")
    else:
        monkeypatch.chdir(locked)
        argv, shown = [], "runs/toy-"
    assert main(["train", "toy", *FAST, "--max-epochs", "1", *argv]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"infomax: error: cannot create the run directory {shown}")
    assert "Permission denied" in line
    assert list(locked.iterdir()) == []


def test_eval_into_a_read_only_run_directory_is_one_line_and_changes_nothing(toy, run, capsys, monkeypatch):
    table = {"linear": lambda run_, splits, layer, **kw: {"accuracy": 0.5}}
    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: table)
    before = _files(run)
    if ROOT:  # chmod denies root nothing: inject the failure
        _deny_under(monkeypatch, run)
    else:
        run.chmod(0o555)
    try:
        assert main(["eval", str(run), "--protocol", "linear"]) == 2
    finally:
        run.chmod(0o755)
    line = _one_line(capsys)
    assert line == (f"infomax: error: cannot write {run / 'metrics.json'}: Permission denied (any previous "
                    "version is unchanged)")
    assert _files(run) == before


def test_any_other_os_error_is_one_line_naming_the_file(toy, tmp_path, capsys, monkeypatch):
    def unreadable(cfg):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/mnist/train-images-idx3-ubyte")

    monkeypatch.setattr("infomax.experiment.load_splits", unreadable)
    assert main(["train", "toy", *FAST, "--out", str(tmp_path / "run")]) == 2
    assert _one_line(capsys) == ("infomax: error: I/O error on /data/mnist/train-images-idx3-ubyte: "
                                 "Permission denied")


# --- a malformed config.json ------------------------------------------------------------------------------
MALFORMED = {
    "data-info-null": (lambda c: c.update(data_info=None), "'data_info' is null, not an object"),
    "data-info-lacks-a-field": (lambda c: c["data_info"].pop("channels"), "'data_info' lacks channels"),
    "data-info-field-null": (lambda c: c["data_info"].update(channels=None), "channels is null"),
    "data-info-bad-type": (lambda c: c["data_info"].update(channels="x"), "bad value 'x' for 'channels'"),
    "train-null": (lambda c: c.update(train=None), "'train' is null, not an object"),
    "train-bad-type": (lambda c: c["train"].update(batch_size="many"), "bad value 'many' for 'batch_size'"),
    "method-config-list": (lambda c: c.update(method_config=[1]), "'method_config' is [1], not an object"),
    "method-not-a-string": (lambda c: c.update(method=5), "'method' is 5, not a string"),
    "preset-not-a-string": (lambda c: c.update(preset=3), "'preset' is 3, not a string"),
}


@pytest.mark.parametrize("command", ["eval", "resume"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_config_is_one_line(toy, run, capsys, monkeypatch, case, command):
    edit, expected = MALFORMED[case]
    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: {"linear": lambda *a, **k: {"accuracy": 0.5}})
    cfg = json.loads((run / "config.json").read_text())
    edit(cfg)
    (run / "config.json").write_text(json.dumps(cfg))
    before = _files(run)
    argv = ["eval", str(run)] if command == "eval" else ["train", "--resume", str(run), "--max-epochs", "2"]
    assert main(argv) == 2
    line = _one_line(capsys)
    assert expected in line, line
    assert _files(run) == before
