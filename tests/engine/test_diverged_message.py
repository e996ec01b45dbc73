"""Divergence advice names what this run did not already use: another bound, a lower lr (issue #24)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infomax.engine.checkpoint import FORMAT, save_checkpoint
from infomax.engine.fit import _diverged_message


def _run(tmp_path: Path, method: str, method_config: dict | None, lr: float = 1e-3) -> Path:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    if method_config is not None:
        config = {"method": method, "train": {"lr": lr}, "method_config": method_config}
        (run / "config.json").write_text(json.dumps(config))
    diverged = {"message": "loss is nan at epoch 2, step 8"}
    (run / "checkpoints" / "diverged.json").write_text(json.dumps(diverged))
    last = {"format": FORMAT, "epoch": 1, "batch": 0, "method": {}, "optimizers": {}, "rng": {}, "step": 8,
            "elapsed_s": 1.0}
    save_checkpoint(run / "checkpoints" / "last.pt", last)
    return run


def _msg(run: Path) -> str:
    return _diverged_message(run, run / "checkpoints" / "last.pt")


def test_a_jsd_run_is_not_told_to_try_jsd(tmp_path: Path) -> None:
    import dataclasses

    from infomax.methods.dim import Config

    run = _run(tmp_path, "dim", dataclasses.asdict(Config(bound="jsd")), lr=1e-3)
    msg = _msg(run)
    assert "\n" not in msg and msg.startswith("training diverged: loss is nan at epoch 2, step 8; ")
    assert "(epoch 1)" in msg and "this run trained the jsd bound with lr=0.001" in msg
    assert "--set bound=infonce" in msg and "--set lr=0.0001" in msg
    assert "JSD" not in msg and "bound=jsd" not in msg
    assert "smile" not in msg.lower()  # dim offers infonce, jsd and dv only; dv is less stable than jsd


@pytest.mark.parametrize(
    ("bound", "lr", "want", "not_want"),
    [
        ("nwj", 5e-4, ["--set bound=smile (SMILE clips the critic's", "--set bound=jsd", "lr=5e-05"], []),
        ("smile", 1e-3, ["--set bound=jsd", "--set bound=infonce", "lr=0.0001"], ["bound=smile"]),
        ("infonce", 2e-3, ["--set bound=smile", "--set bound=jsd", "lr=0.0002"], ["bound=infonce"]),
    ],
)
def test_multiview_suggests_other_bounds(tmp_path: Path, bound: str, lr: float, want, not_want) -> None:
    import dataclasses

    from infomax.methods.multiview import Config

    msg = _msg(_run(tmp_path, "multiview", dataclasses.asdict(Config(bound=bound)), lr=lr))
    assert f"this run trained the {bound} bound with lr={lr:g}" in msg
    for w in want:
        assert w in msg
    for w in not_want:
        assert w not in msg


def test_a_method_without_a_bound_setting_gets_a_concrete_lr(tmp_path: Path) -> None:
    msg = _msg(_run(tmp_path, "moco", {"queue_size": 4096}, lr=0.03))
    assert "this run trained with lr=0.03" in msg and "--set lr=0.003" in msg
    assert "--set bound=" not in msg  # moco has no bound to set


def test_an_unreadable_config_still_gives_the_message(tmp_path: Path) -> None:
    run = _run(tmp_path, "dim", None)
    msg = _msg(run)
    assert msg.startswith("training diverged: loss is nan") and "lower learning rate" in msg
    (run / "config.json").write_text("{not json")
    assert "lower learning rate" in _msg(run)
