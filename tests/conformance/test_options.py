"""Conformance: every named option of every method accepts each value it declares and refuses any other.

Each method's ``Config`` declares its string options with :func:`infomax.config.choice` (derived from the
registries: ``BOUNDS``, ``CRITICS``, encoder tables). For every method, every such field and every value:

- ``infomax train METHOD --set field=value`` passes every check that needs no data (the test stops the
  command where it would load the data), and the method builds and takes one training step on random
  images of the smallest size it accepts: a value that validates must also run (``bound=tuba`` on
  multiview used to pass validation and then crash);
- an unknown value exits 2 with one ``infomax: error:`` line naming the field and its choices, before any
  data is loaded, and leaves no run directory.
"""

from __future__ import annotations

import dataclasses
import typing
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from infomax.cli import main
from infomax.config import allowed_values, choice_fields
from infomax.errors import UserError
from infomax.methods import METHODS, available_methods, method_module

#: (channels, image size) of the random images a method is tried on, smallest first (digits, MNIST, CIFAR).
SHAPES = ((1, 8), (1, 28), (3, 32))


class _DataLoaded(Exception):
    """Raised instead of loading the data: every check before it passed."""


def _values() -> list[Any]:
    cases = []
    for method in available_methods():
        cfg = method_module(method).Config()
        for name in choice_fields(type(cfg)):
            for value in allowed_values(cfg, name) or ():
                cases.append(pytest.param(method, name, value, id=f"{method}-{name}={value}"))
    return cases


def _fields() -> list[Any]:
    return [pytest.param(m, n, id=f"{m}-{n}") for m in available_methods()
            for n in choice_fields(type(method_module(m).Config()))]


def _built(method: str, cfg: Any) -> tuple[Any, Any]:
    """(method, info) at the first of ``SHAPES`` the method accepts with ``cfg``."""
    module, errors = method_module(method), []
    for channels, size in SHAPES:
        info = SimpleNamespace(name="random", channels=channels, image_size=size, num_classes=4,
                               mean=(0.5,) * channels, std=(0.25,) * channels)
        try:
            torch.manual_seed(0)
            return module.build(cfg, info), info
        except UserError as e:
            errors.append(f"{channels}x{size}x{size}: {e}")
    raise AssertionError(f"{method} builds at none of {SHAPES}: " + "; ".join(errors))


@pytest.mark.parametrize("method, name, value", _values())
def test_each_declared_value_passes_the_cli_checks_and_trains_one_step(method, name, value, tmp_path,
                                                                      monkeypatch, capsys):
    def stop(train_cfg):
        raise _DataLoaded

    monkeypatch.setattr("infomax.experiment.load_splits", stop)
    with pytest.raises(_DataLoaded):
        main(["train", method, "--set", f"{name}={value}", "--out", str(tmp_path / "run")])
    assert "infomax: error" not in capsys.readouterr().err

    cfg = dataclasses.replace(method_module(method).Config(), **{name: value})
    model, info = _built(method, cfg)
    model.train()
    x = torch.rand(8, info.channels, info.image_size, info.image_size)
    out = model((x, torch.arange(8) % info.num_classes))
    assert torch.isfinite(out["loss"]), out
    out["loss"].backward()


@pytest.mark.parametrize("method, name", _fields())
def test_an_unknown_value_exits_2_with_one_line_before_the_data_and_leaves_no_run(method, name, tmp_path,
                                                                                  monkeypatch, capsys):
    def stop(train_cfg):
        raise _DataLoaded

    monkeypatch.setattr("infomax.experiment.load_splits", stop)
    out = tmp_path / "run"
    assert main(["train", method, "--set", f"{name}=no-such-{name}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infomax:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    choices = ", ".join(allowed_values(method_module(method).Config(), name))
    assert lines[0] == (f"infomax: error: unknown {name} 'no-such-{name}' for {method}; choose one of: "
                        f"{choices}")
    assert not out.exists()


@pytest.mark.parametrize("method, name, value, match", [
    ("dim", "views", "cros", "unknown views 'cros' for dim; choose one of: none, crop-flip, cross,"),
    ("dim", "bound", "tuba", "unknown bound 'tuba' for dim; choose one of: infonce, jsd, dv"),
    ("multiview", "bound", "tuba", "unknown bound 'tuba' for multiview; choose one of: infonce, nwj,"),
    ("multiview", "bound", "interpolated", "unknown bound 'interpolated' for multiview"),
    ("multiview", "critic", "stabilized", "unknown critic 'stabilized' for multiview"),
], ids=["dim-views-near-miss", "dim-bound", "multiview-tuba", "multiview-interpolated",
        "multiview-stabilized"])
def test_values_that_once_slipped_through(method, name, value, match, tmp_path, capsys):
    assert main(["train", method, "--set", f"{name}={value}", "--out", str(tmp_path / "run")]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method", [m for m in METHODS if m in available_methods()])
def test_every_plain_string_option_declares_its_choices(method):
    """A ``str`` field without :func:`choice` would take any typo silently (``str | None`` fields such as
    dimco's ``frozen_run`` path are free text)."""
    cls = type(method_module(method).Config())
    hints = typing.get_type_hints(cls)
    plain = {f.name for f in dataclasses.fields(cls) if hints[f.name] is str}
    assert plain <= set(choice_fields(cls)), sorted(plain - set(choice_fields(cls)))


@pytest.mark.parametrize("method", [m for m in METHODS if m in available_methods()])
def test_the_defaults_are_among_the_choices(method):
    cfg = method_module(method).Config()
    cfg.validate()
    assert all(getattr(cfg, n) in allowed_values(cfg, n) for n in choice_fields(type(cfg)))


def _numeric_fields() -> list[Any]:
    from infomax.config import _base_types

    cases = []
    for method in available_methods():
        cls = type(method_module(method).Config())
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kinds = [t for t in _base_types(hints[f.name]) if t is not type(None)]
            if kinds and all(t in (int, float) for t in kinds):
                cases.append(pytest.param(method, f.name, id=f"{method}-{f.name}"))
    return cases


@pytest.mark.parametrize("method, name", _numeric_fields())
def test_every_numeric_option_refuses_a_negative_value_naming_it(method, name, tmp_path, monkeypatch, capsys):
    """No count, width, weight, temperature or probability of any method is meaningful below 0."""
    monkeypatch.setattr("infomax.experiment.load_splits", lambda cfg: (_ for _ in ()).throw(_DataLoaded()))
    assert main(["train", method, "--set", f"{name}=-1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infomax:")]
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()
