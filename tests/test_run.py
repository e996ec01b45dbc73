"""Run directory helpers and load_run: atomic JSON, new/resumed run checks, rebuilding a trained method."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from infomax.config import TrainConfig
from infomax.errors import UserError
from infomax.run import (
    check_new_run_dir,
    check_run_dir,
    default_run_dir,
    is_run_dir,
    load_run,
    read_metrics,
    update_metrics,
    write_json,
)

TOY_DIR = Path(__file__).parent / "engine"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    return importlib.import_module("engine_toy").register(monkeypatch)


@pytest.fixture
def trained(toy, tmp_path):
    from infomax.engine.fit import build_method, fit

    splits, cfg = toy.toy_splits(), toy.Config(y_dim=6)
    method = build_method("toy", cfg, splits.info, 0)
    fit(method, splits, TrainConfig(max_epochs=1, batch_size=16), tmp_path / "run", "toy", cfg,
        progress=False)
    return tmp_path / "run", method


def test_load_run_rebuilds_the_method_with_the_trained_weights(trained, toy):
    run_dir, method = trained
    run = load_run(run_dir)
    assert isinstance(run.method, toy.Toy) and run.method.cfg.y_dim == 6 and not run.method.training
    assert run.info.image_size == 8 and run.info.mean == (0.5,)  # JSON lists back to tuples
    for k, v in method.state_dict().items():
        assert torch.equal(run.method.state_dict()[k], v), k
    x = torch.rand(3, 1, 8, 8)
    method.eval()
    assert torch.equal(run.method.features(x, "y"), method.features(x, "y"))


def test_encoder_safetensors_carries_its_metadata(trained):
    run_dir, method = trained
    with safe_open(str(run_dir / "encoder.safetensors"), "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert keys == set(method.encoder.state_dict())
    assert meta["layers"] == "conv,y" and meta["output_layer"] == "y" and meta["code_length"] == "6"
    assert json.loads(meta["feature_shapes"]) == {"conv": [4, 8, 8], "y": [6]}
    assert meta["method"] == "toy" and meta["channels"] == "1" and json.loads(meta["std"]) == [0.25]


def test_load_run_errors(trained, tmp_path):
    run_dir, _ = trained
    with pytest.raises(UserError, match="not a run directory"):
        load_run(tmp_path)
    (run_dir / "model.safetensors").unlink()
    with pytest.raises(UserError, match="has not finished.*--resume"):
        load_run(run_dir)
    (run_dir / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(UserError, match="cannot read"):
        load_run(run_dir)
    (run_dir / "config.json").write_text("{broken")
    with pytest.raises(UserError, match="not a run directory"):
        load_run(run_dir)


def test_json_writes_are_atomic_and_metrics_merge(tmp_path):
    write_json(tmp_path / "m.json", {"a": (1, 2), "b": float("nan"), "c": Path("x")})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1, 2], "b": None, "c": "x"}
    update_metrics(tmp_path, {"eval/knn/y": {"accuracy": 0.5}})
    update_metrics(tmp_path, {"eval/linear/y": {"accuracy": 0.75}})
    assert read_metrics(tmp_path) == {"eval/knn/y": {"accuracy": 0.5}, "eval/linear/y": {"accuracy": 0.75}}

    class Boom:
        pass

    with pytest.raises(TypeError):
        write_json(tmp_path / "metrics.json", {"x": Boom()})  # fails mid-way: the old file stays
    assert read_metrics(tmp_path)["eval/linear/y"] == {"accuracy": 0.75}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "metrics.json"]


def test_run_dir_checks(tmp_path):
    assert check_new_run_dir(tmp_path / "new") == tmp_path / "new"  # absent: fine
    (tmp_path / "empty").mkdir()
    check_new_run_dir(tmp_path / "empty")  # empty: fine
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        check_new_run_dir(tmp_path / "full")
    assert not is_run_dir(tmp_path / "full")
    with pytest.raises(UserError, match="not a run directory"):
        check_run_dir(tmp_path / "full")
    (tmp_path / "full" / "config.json").write_text('{"method": "dim"}')
    assert is_run_dir(tmp_path / "full")
    with pytest.raises(UserError, match="--resume"):
        check_new_run_dir(tmp_path / "full")


def test_default_run_dir_never_reuses_a_name(tmp_path):
    a = default_run_dir("dim-l", root=tmp_path)
    assert a.parent == tmp_path and a.name.startswith("dim-l-")
    a.mkdir()
    b = default_run_dir("dim-l", root=tmp_path)
    assert b != a and b.name.startswith(a.name)
    assert default_run_dir("folder:/x/y", root=tmp_path).name.startswith("folder__x_y-")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)],
                         ids=["022", "027", "077"])
def test_run_files_get_the_usual_umask_mode_not_mkstemps_0600(tmp_path, umask, mode):
    """atomic_path's temporary file comes from mkstemp (0600); the file it becomes is 0666 & ~umask, also
    for writers that create the file anew (safetensors) and for a replaced file."""
    import os
    import stat

    from safetensors.torch import save_file

    from infomax.run import atomic_path

    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_json(tmp_path / "a.json", {"x": 2})  # replacing an existing file
        with atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))
        with atomic_path(tmp_path / "t.pt") as tmp:
            torch.save({"w": torch.zeros(2)}, tmp)
    finally:
        os.umask(old)
    for name in ("a.json", "w.safetensors", "t.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
