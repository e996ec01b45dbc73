"""`infomax index build/search` with a stand-in DIMCO run and tiny in-test images."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from infomax.cli import index as index_cli
from infomax.cli import main
from infomax.dimco.codes import argmax_codes, similarity
from infomax.methods.dimco import DIMCO, DIMCOEncoder


class _Flat(nn.Module):
    layers = ("h",)
    output_layer = "h"

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 12)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"h": torch.tanh(self.fc(x.flatten(1)))}


def _run(d: int = 6, k: int = 4, seed: int = 0) -> SimpleNamespace:
    torch.manual_seed(seed)
    method = DIMCO(DIMCOEncoder(_Flat(), "h", 12, d=d, k=k)).eval()
    return SimpleNamespace(method=method, config={"method": "dimco"}, info=SimpleNamespace(image_size=4))


@pytest.fixture
def fake(monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 1, 4, 4), dtype=np.uint8)
    labels = np.arange(60) % 5
    runs = {
        "runA": _run(),
        "runB": _run(d=5, k=4, seed=1),
        "runC": SimpleNamespace(
            method=SimpleNamespace(encoder=nn.Identity()), config={"method": "dim"}, info=None
        ),
    }

    def load_run(path):
        if path not in runs:
            from infomax.errors import UserError

            raise UserError(f"{path} is not a run directory")
        return runs[path]

    monkeypatch.setattr(index_cli, "_load_run", load_run)
    monkeypatch.setattr(index_cli, "_load_images", lambda name, split, root, size: (images, labels))
    return SimpleNamespace(images=images, labels=labels, runs=runs)


def test_build_then_search_matches_brute_force(fake, tmp_path, capsys) -> None:
    out = tmp_path / "idx.safetensors"
    assert main(["index", "build", "runA", "--data", "digits", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == 60 and summary["d"] == 6 and summary["k"] == 4
    assert summary["code_bits"] == 12 and summary["bytes_per_item"] == 2 and summary["split"] == "test"

    run = fake.runs["runA"]
    with torch.no_grad():
        lp = run.method.logprobs(torch.from_numpy(fake.images).float() / 255).numpy()
    np.save(tmp_path / "q.npy", lp[:7])
    assert (
        main(["index", "search", str(out), "--queries", str(tmp_path / "q.npy"), "--k", "5", "--json"]) == 0
    )
    res = json.loads(capsys.readouterr().out)
    sim = similarity(lp[:7].astype(np.float32), argmax_codes(lp))
    want = np.lexsort((np.broadcast_to(np.arange(60), sim.shape), -sim), axis=1)[:, :5]
    assert res["ids"] == want.tolist() and res["topk"] == 5
    assert res["labels"] == fake.labels[want].tolist()

    # DATA queries are encoded with the index's run; every query finds an item of its own code first
    assert main(["index", "search", str(out), "--queries", "digits:test", "--limit", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["queries"] == 4 and "precision@10" in res
    assert main(["index", "search", str(out), "--queries", str(tmp_path / "q.npy"), "--k", "2"]) == 0
    assert capsys.readouterr().out.startswith("query 0: ")


@pytest.mark.parametrize(
    "argv,match",
    [
        (["index", "build", "runC", "--data", "digits"], "not a DIMCO run"),
        (["index", "build", "nope", "--data", "digits"], "not a run directory"),
        (["index", "search", "missing.safetensors", "--queries", "x.npy"], "not found"),
        (
            ["index", "search", "IDX", "--queries", "digits", "--run", "runB"],
            r"\(5, 4\) but the index holds \(6, 4\)",
        ),
        (["index", "search", "IDX", "--queries", "BADQ"], "another \\(d, k\\)"),
        (["index", "search", "IDX", "--queries", "Q", "--k", "0"], "--k must be"),
    ],
)
def test_bad_input_exit_2(fake, tmp_path, capsys, argv, match) -> None:
    idx = tmp_path / "idx.safetensors"
    assert main(["index", "build", "runA", "--data", "digits", "--out", str(idx)]) == 0
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 4), dtype=np.float32))
    np.save(tmp_path / "q.npy", np.zeros((2, 6, 4), dtype=np.float32))
    subst = {"IDX": str(idx), "BADQ": str(tmp_path / "bad.npy"), "Q": str(tmp_path / "q.npy")}
    capsys.readouterr()
    assert main([subst.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infomax: error: ") and len(err.strip().splitlines()) == 1
    import re

    assert re.search(match, err)
