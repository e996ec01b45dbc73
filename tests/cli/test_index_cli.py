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
    split = (images, labels, list("abcde"))
    monkeypatch.setattr(index_cli, "_load_images", lambda name, split_name, root, size: split)
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

    # DATA queries are encoded with the index's run; queries of the indexed split never return themselves
    assert main(["index", "search", str(out), "--queries", "digits:test", "--limit", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["queries"] == 4 and "precision@10" in res and res["self_excluded"] is True
    assert all(i not in row for i, row in enumerate(res["ids"]))
    others = sim[:4].copy()
    others[np.arange(4), np.arange(4)] = -np.inf  # brute force over the other 59 items
    want = np.lexsort((np.broadcast_to(np.arange(60), others.shape), -others), axis=1)[:, :10]
    assert res["ids"] == want.tolist()
    assert res["precision@10"] == pytest.approx(np.mean(fake.labels[want] == fake.labels[:4, None]))
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


# --- issue #24: a query's own copy is not a hit; labels are compared by class, not by number ----------

# Five items, d=2 symbols, k=2: codes [0,0] [0,1] [1,1] [1,0] [0,0] with labels 0 1 0 1 0. Each item's
# query puts 0.9 on its own symbol in dim 0 and 0.8 in dim 1, so its best *other* item keeps dim 0 and
# flips dim 1: item 0 -> item 4 (same code, hit), 1 -> 0 (miss), 2 -> 3 (miss), 3 -> 2 (miss), 4 -> 0 (hit).
_CODES = np.array([[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]])
_LABELS = np.array([0, 1, 0, 1, 0])


def _hand_logprobs(codes: np.ndarray) -> np.ndarray:
    p = np.empty((len(codes), 2, 2))
    for i, (a, b) in enumerate(codes):
        p[i, 0] = [0.9, 0.1] if a == 0 else [0.1, 0.9]
        p[i, 1] = [0.8, 0.2] if b == 0 else [0.2, 0.8]
    return np.log(p).astype(np.float32)


@pytest.fixture
def hand(monkeypatch):
    """Splits of 5 hand-coded items: name:split -> (images, labels, classes)."""
    images = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1)  # the image value is the item number
    splits = {
        ("toy", "test"): (images, _LABELS, ["cat", "dog"]),
        ("toy", "train"): (images, 1 - _LABELS, ["dog", "cat"]),  # same classes, other label numbers
        ("omni", "evaluation"): (images, _LABELS, ["A/char01", "A/char02"]),
        ("omni", "background"): (images, _LABELS, ["B/char01", "B/char02"]),  # disjoint classes
    }
    run = _run(d=2, k=2)
    monkeypatch.setattr(index_cli, "_load_run", lambda path: run)
    monkeypatch.setattr(index_cli, "_load_images", lambda name, split, root, size: splits[(name, split)])
    monkeypatch.setattr(
        index_cli, "encode_logprobs", lambda run, images, bs=256: _hand_logprobs(_CODES[images.ravel()])
    )
    return splits


def _build(tmp_path, capsys, data: str, split: str) -> str:
    out = tmp_path / f"{data}-{split}.safetensors"
    assert main(["index", "build", "runA", "--data", data, "--split", split, "--out", str(out)]) == 0
    capsys.readouterr()
    return str(out)


def test_search_of_the_indexed_items_leaves_each_query_out(hand, tmp_path, capsys) -> None:
    idx = _build(tmp_path, capsys, "toy", "test")
    assert main(["index", "search", idx, "--queries", "toy:test", "--k", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ids"] == [[4], [0], [3], [2], [0]]  # never the query's own id
    assert res["precision@1"] == pytest.approx(2 / 5)  # was 1.0 counting the self-matches
    assert res["indexed"] == "toy:test" and res["queried"] == "toy:test" and res["self_excluded"] is True
    assert res["precision_queries"] == 5 and res["self_excluded_queries"] == 5
    # k=2: flipping dim 1 costs a factor 0.25, dim 0 a factor 1/9; every second neighbour is a miss:
    # 0 -> 4, 1 | 1 -> 0, 4 | 2 -> 3, 1 | 3 -> 2, 0 | 4 -> 0, 1; precision@2 = (1+0+0+0+1) / (5*2)
    assert main(["index", "search", idx, "--queries", "toy:test", "--k", "2", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ids"] == [[4, 1], [0, 4], [3, 1], [2, 0], [0, 1]]
    assert res["precision@2"] == pytest.approx(0.2)
    # the text output says what was indexed and queried, and that the queries' own items were left out
    assert main(["index", "search", idx, "--queries", "toy:test", "--k", "1"]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines()[0] == "query 0: 4(-0.33)"
    assert "indexed toy:test (5 items)" in cap.err and "queried toy:test (5 queries)" in cap.err
    assert "own item left out" in cap.err and "precision@1 = 0.4000" in cap.err


def test_labels_are_compared_by_class_name_across_splits(hand, tmp_path, capsys) -> None:
    idx = _build(tmp_path, capsys, "toy", "test")
    # toy:train holds the same classes with swapped label numbers; other images: no self-exclusion
    assert main(["index", "search", idx, "--queries", "toy:train", "--k", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["self_excluded"] is False and res["queried"] == "toy:train"
    assert res["ids"] == [[0], [1], [2], [3], [0]]  # its own code first (item 4 ties item 0, id order)
    # by name: query i's class is the index item i's class -> all hits (by number: all misses)
    assert res["precision@1"] == pytest.approx(1.0)


def test_disjoint_classes_give_no_precision(hand, tmp_path, capsys) -> None:
    idx = _build(tmp_path, capsys, "omni", "evaluation")
    assert main(["index", "search", idx, "--queries", "omni:background", "--k", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "precision@1" not in res and res["indexed"] == "omni:evaluation"
    assert any("share no class" in n for n in res["notes"])
    assert main(["index", "search", idx, "--queries", "omni:background", "--k", "1"]) == 0
    err = capsys.readouterr().err
    assert "precision" in err and "share no class" in err and "precision@1 =" not in err


def test_build_says_how_much_was_indexed_and_search_flags_a_foreign_run(hand, tmp_path, capsys) -> None:
    out = tmp_path / "i.safetensors"
    assert main(["index", "build", "runA", "--data", "toy", "--limit", "3", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("indexed the first 3 of 5 items of toy:test -> ")
    # queries 0..2 are items 0..2 of the index; queries 3, 4 lie beyond it and keep every result
    assert main(["index", "search", str(out), "--queries", "toy:test", "--k", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ids"] == [[1], [0], [1], [2], [0]] and res["index_items"] == 3
    assert res["self_excluded_queries"] == 3
    # classes: 0 1 0 in the index; query 1 (label 1) has no other item of its class: scored over 4
    assert res["precision_queries"] == 4 and res["precision@1"] == pytest.approx(1 / 4)
    assert any("over 4 of 5 queries" in n for n in res["notes"])
    assert main(["index", "search", str(out), "--queries", "toy:test", "--k", "1"]) == 0
    assert "queried toy:test (5 queries): queries 0-2 are the indexed items" in capsys.readouterr().err
    argv = ["index", "search", str(out), "--queries", "toy:test", "--run", "runZ", "--json"]
    assert main(argv) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("encoded with runZ, but the index holds codes of runA" in n for n in notes)


def test_an_index_without_class_names_gives_no_cross_split_precision(hand, tmp_path, capsys) -> None:
    from infomax.dimco.index import CodeIndex

    old = tmp_path / "old.safetensors"  # as written before class names were recorded
    idx = CodeIndex(2, 2)
    idx.add(_CODES)
    idx.save(old, labels=_LABELS, metadata={"run_dir": "runA", "data": "toy", "split": "test"})
    assert main(["index", "search", str(old), "--queries", "toy:train", "--k", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "precision@1" not in res and any("records no class names" in n for n in res["notes"])
    assert main(["index", "search", str(old), "--queries", "toy:test", "--k", "1", "--json"]) == 0
    # the same split: the same label numbers
    assert json.loads(capsys.readouterr().out)["precision@1"] == pytest.approx(2 / 5)


@pytest.mark.parametrize("queries, split, self_excluded", [
    ("folder:photos", "test", True),  # the folder's default split: the indexed items themselves
    ("folder:photos:test", "test", True),
    ("folder:photos:train", "train", False),
], ids=["default-split", "test", "train"])
def test_queries_from_an_image_folder(hand, tmp_path, capsys, queries, split, self_excluded) -> None:
    hand[("folder:photos", "test")] = hand[("toy", "test")]
    hand[("folder:photos", "train")] = hand[("toy", "train")]
    idx = _build(tmp_path, capsys, "folder:photos", "test")
    assert main(["index", "search", idx, "--queries", queries, "--k", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["queried"] == f"folder:photos:{split}" and res["self_excluded"] is self_excluded


def test_an_unknown_split_of_the_queries_is_one_line(hand, tmp_path, capsys) -> None:
    idx = _build(tmp_path, capsys, "toy", "test")
    assert main(["index", "search", idx, "--queries", "mnist:val"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "infomax: error: unknown split 'val' of mnist; choose one of: train, test"
