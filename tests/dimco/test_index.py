"""The exact code index: same ranking and scores as brute force, ties included; persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.dimco.codes import code_bytes, similarity
from infomax.dimco.index import CodeIndex, brute_force_search
from infomax.errors import UserError


def _queries(q: int, d: int, k: int, temp: float, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(temp * torch.randn(q, d, k, generator=g), -1).numpy()


def test_brute_force_reference_by_hand() -> None:
    lp = np.log(np.array([[[0.6, 0.4], [0.3, 0.7]]]))  # one query, d=2, k=2
    sym = np.array([[0, 0], [0, 1], [1, 1], [0, 1], [1, 0]])  # items 1 and 3 tie
    s, i = brute_force_search(lp, sym, 4)
    assert i.tolist() == [[1, 3, 2, 0]]
    assert np.allclose(np.exp(s), [[0.42, 0.42, 0.28, 0.18]])


@pytest.mark.parametrize(
    "backend,d,k,temp",
    [("fastscan", 64, 16, 2.0), ("fastscan", 7, 5, 3.0), ("fastscan", 8, 16, 30.0), ("brute", 6, 40, 2.0)],
)
def test_index_equals_brute_force_with_ties(backend: str, d: int, k: int, temp: float) -> None:
    rng = np.random.default_rng(d)
    sym = rng.integers(0, k, (3000, d))
    sym[500:600] = sym[7]  # 100 duplicates of item 7: exact ties, broken by id
    idx = CodeIndex(d, k, backend=backend)
    idx.add(sym[:1000])
    idx.add(sym[1000:])  # incremental add keeps ids
    assert np.array_equal(idx.symbols(), sym)
    lp = _queries(40, d, k, temp)
    lp[:3] = np.log(1.0 / k)  # a constant table: every item ties
    lp[3] = lp[4] = torch.log_softmax(torch.from_numpy(8 * np.eye(k)[sym[7]]).float(), -1).numpy()
    s, i = idx.search(lp, 20)
    rs, ri = brute_force_search(lp, sym, 20)
    assert np.array_equal(i, ri) and np.array_equal(s, rs)
    assert i[0].tolist() == list(range(20))
    assert i[3].tolist() == [7] + list(range(500, 519))
    assert np.array_equal(s, np.take_along_axis(similarity(lp, sym), i, 1))


def test_fastscan_error_bound_holds() -> None:
    # the certification bound used by the index must cover faiss's 8-bit table quantization
    d, k = 16, 16
    sym = np.random.default_rng(0).integers(0, k, (2000, d))
    idx = CodeIndex(d, k, backend="fastscan")
    idx.add(sym)
    for temp in (0.5, 3.0, 40.0):
        lp = _queries(30, d, k, temp, seed=int(temp))
        approx, cand = idx._fs.search(lp.reshape(30, -1), 200)
        exact = np.take_along_axis(similarity(lp, sym), cand, 1)
        span = lp.reshape(30, -1).max(1) - lp.reshape(30, -1).min(1)
        assert (np.abs(approx - exact) <= (d * span / 510)[:, None] + 1e-4).all()


def test_memory_is_the_packed_code_size() -> None:
    idx = CodeIndex(64, 16)
    idx.add(np.random.default_rng(0).integers(0, 16, (3200, 64)))
    assert idx.memory_bytes() == 3200 * code_bytes(64, 16) == 3200 * 32
    assert idx.code_bits == 256


def test_topk_clipped_and_flattened_queries() -> None:
    idx = CodeIndex(3, 4, backend="brute")
    idx.add(np.array([[0, 1, 2], [3, 3, 3]]))
    lp = _queries(2, 3, 4, 1.0)
    s, i = idx.search(lp.reshape(2, 12), 10)
    assert i.shape == (2, 2) and sorted(i[0].tolist()) == [0, 1]


@pytest.mark.parametrize("backend", ["fastscan", "brute"])
def test_save_load_round_trip(tmp_path, backend: str) -> None:
    sym = np.random.default_rng(1).integers(0, 8, (300, 5))
    labels = np.arange(300) % 7
    idx = CodeIndex(5, 8, backend=backend)
    idx.add(sym)
    idx.save(tmp_path / "i.safetensors", labels=labels, metadata={"run_dir": "runs/x"})
    back, lab, meta = CodeIndex.load(tmp_path / "i.safetensors")
    assert np.array_equal(back.symbols(), sym) and np.array_equal(lab, labels)
    assert meta["run_dir"] == "runs/x" and meta["d"] == "5" and meta["k"] == "8"
    lp = _queries(5, 5, 8, 2.0)
    assert np.array_equal(back.search(lp, 7)[1], idx.search(lp, 7)[1])


def test_bad_input(tmp_path) -> None:
    idx = CodeIndex(4, 16)
    with pytest.raises(UserError, match="empty"):
        idx.search(_queries(1, 4, 16, 1.0), 3)
    idx.add(np.zeros((10, 4), dtype=np.int64))
    with pytest.raises(UserError, match="another \\(d, k\\)"):
        idx.search(_queries(1, 8, 16, 1.0), 3)
    with pytest.raises(UserError, match="finite"):
        idx.search(np.full((1, 4, 16), -np.inf), 3)
    with pytest.raises(UserError, match="d=4"):
        idx.add(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(UserError, match="k <= 16"):
        CodeIndex(4, 32, backend="fastscan")
    with pytest.raises(UserError, match="backend"):
        CodeIndex(4, 16, backend="hnsw")
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(UserError, match="not a DIMCO index"):
        CodeIndex.load(tmp_path / "bad.safetensors")
    with pytest.raises(UserError, match="not found"):
        CodeIndex.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("backend", ["fastscan", "brute"])
def test_search_excluding_each_querys_own_item(backend: str) -> None:
    d, k = 8, 16
    sym = np.random.default_rng(3).integers(0, k, (400, d))
    sym[10] = sym[11]  # item 10's best other is its duplicate 11
    idx = CodeIndex(d, k, backend=backend)
    idx.add(sym)
    own = np.array([10, 11, 200, 5])
    lp = torch.log_softmax(torch.from_numpy(6.0 * np.eye(k)[sym[own]]).float(), -1).numpy()  # peaked
    exclude = np.array([10, 11, 200, -1])  # the last query keeps its own item
    s, i = idx.search(lp, 5, exclude=exclude)
    sim = similarity(lp, sym)  # (4, 400)
    sim[np.arange(3), exclude[:3]] = -np.inf
    want = np.lexsort((np.broadcast_to(np.arange(400), sim.shape), -sim), axis=1)[:, :5]
    assert np.array_equal(i, want) and i.shape == (4, 5)
    assert i[0, 0] == 11 and i[1, 0] == 10 and 200 not in i[2] and i[3, 0] == 5
    assert np.array_equal(s, np.take_along_axis(similarity(lp, sym), i, 1))
    # topk clipped to the N - 1 other items; one item alone cannot be searched without itself
    tiny = CodeIndex(2, 4, backend=backend)
    tiny.add(np.array([[0, 1], [2, 3]]))
    assert tiny.search(lp[:1, :2, :4], 9, exclude=np.array([0]))[1].tolist() == [[1]]
    with pytest.raises(UserError, match="one item id per query"):
        idx.search(lp, 3, exclude=np.array([1]))
    one = CodeIndex(2, 4, backend=backend)
    one.add(np.array([[0, 1]]))
    with pytest.raises(UserError, match="single item"):
        one.search(lp[:1, :2, :4], 1, exclude=np.array([0]))
