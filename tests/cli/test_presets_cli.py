"""`infomax presets`: one line per preset (name, method, description)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from infomax.cli import main
from infomax.presets import all_presets

TOY_DIR = Path(__file__).parents[1] / "engine"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    return importlib.import_module("engine_toy").register(monkeypatch)


def test_one_line_per_preset(toy, capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    presets = all_presets()
    assert len(lines) == len(presets)
    for line, (name, p) in zip(lines, presets.items()):
        fields = line.split(maxsplit=2)
        assert fields == [name, p.method, p.description]
    assert "toy-fast" in presets and any(line.split()[:2] == ["toy-fast", "toy"] for line in lines)


def test_presets_json(toy, capsys):
    assert main(["presets", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["toy-fast"] == {"method": "toy", "description": "toy method, tiny", "overrides": {"y_dim": 4}}
