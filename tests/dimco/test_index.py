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
    [
        ("fastscan", 64, 16, 2.0),
        ("fastscan", 7, 5, 3.0),
        ("fastscan", 8, 16, 30.0),
        ("fastscan", 300, 16, 3.0),  # 255 * d overflows 16 bits: faiss must still sum exactly
        ("brute", 6, 40, 2.0),
    ],
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


def _saturated(sym: np.ndarray, scale: float, noise: float, seed: int) -> np.ndarray:
    """float32 log-probabilities peaked on ``sym`` (N, d): like real DIMCO queries, many exact ties."""
    k = 16
    rng = np.random.default_rng(seed)
    logits = scale * np.eye(k, dtype=np.float32)[sym] + noise * rng.standard_normal((*sym.shape, k))
    return torch.log_softmax(torch.from_numpy(logits.astype(np.float32)), -1).numpy()


def _tie_heavy_codes(n: int, d: int, seed: int) -> np.ndarray:
    """Codes with heavy repetition: a few huge groups (larger than any shortlist), many pairs, near misses."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 16, (40, d))
    sym = protos[rng.integers(0, 40, n)]
    flip = rng.random((n, d)) < 0.03  # a few symbols changed: codes one or two symbols apart
    sym = np.where(flip, rng.integers(0, 16, (n, d)), sym)
    sym[: n // 5] = protos[0]  # one code held by a fifth of the items
    return sym[rng.permutation(n)]


@pytest.mark.parametrize("topk", [1, 10, 64, 700])
@pytest.mark.parametrize("case", ["saturated", "noisy", "duplicated-query"])
def test_fastscan_exact_on_tie_heavy_codes(case: str, topk: int) -> None:
    d, n = 32, 4000
    sym = _tie_heavy_codes(n, d, seed=1)
    idx = CodeIndex(d, 16, backend="fastscan")
    idx.add(sym)
    assert idx.n_distinct < n // 2 and np.array_equal(idx.symbols(), sym)
    src = np.random.default_rng(2).integers(0, n, 30)
    if case == "saturated":  # near one-hot: log-probabilities of 0 and below -40, exact score ties
        lp = _saturated(sym[src], 60.0, 0.5, seed=3)
    elif case == "noisy":
        lp = _saturated(sym[src], 3.0, 1.5, seed=4)
    else:  # every query is exactly the table of an item: the best score is shared by its whole group
        lp = np.repeat(_saturated(sym[src[:1]], 12.0, 0.0, seed=5), 30, 0)
        lp[1::2] = _saturated(sym[src[1::2]], 12.0, 0.0, seed=5)
    s, i = idx.search(lp, topk, exclude=src)
    ref = CodeIndex(d, 16, backend="brute")
    ref.add(sym)
    rs, ri = ref.search(lp, topk, exclude=src)
    assert np.array_equal(i, ri) and np.array_equal(s, rs)
    if topk <= 64:  # answered by certified shortlists, not by the exact fallback scan
        assert idx.stats["fallbacks"] == 0


@pytest.mark.parametrize("tau,shortlist", [(1e-9, 16), (1e4, 16), (0.5, 300)])
def test_fastscan_retries_stay_exact(tau: float, shortlist: int) -> None:
    # a clipping depth far too shallow or far too deep, or a long shortlist: more rounds, same answer
    d, n = 16, 3000
    sym = _tie_heavy_codes(n, d, seed=7)
    idx = CodeIndex(d, 16, backend="fastscan")
    idx.add(sym)
    idx._tau, idx.shortlist = tau, shortlist
    lp = _saturated(sym[:40], 8.0, 2.0, seed=8)
    s, i = idx.search(lp, 10)
    rs, ri = brute_force_search(lp, sym, 10)
    assert np.array_equal(i, ri) and np.array_equal(s, rs)
    if tau == 1e-9:
        assert idx.stats["retries"] > 0


@pytest.mark.parametrize("tau", [1e-3, 2.0, 30.0, 1e3])
def test_integer_table_bounds_every_score(tau: float) -> None:
    # the certificate's bound: score(c) <= base + step * A(c) + err for every code, with A(c) the integer
    # sum faiss computes (and returns exactly)
    d, n = 24, 3000
    sym = np.random.default_rng(0).integers(0, 16, (n, d))
    lp = _saturated(sym[:20], 6.0, 2.0, seed=9).astype(np.float64)
    lp[0, :, 1] = lp[0, :, 0]  # tied row maxima
    table, base, step, err = CodeIndex._integer_tables(lp, lp.max(2), lp.min(2), np.full(20, tau))
    assert table.min() == 0 and table.max() == 255 and (table == np.round(table)).all()
    a = np.zeros((20, n))
    for i in range(d):
        a += table[:, i, sym[:, i]]
    assert (similarity(lp, sym) <= base[:, None] + step[:, None] * a + err[:, None]).all()
    idx = CodeIndex(d, 16, backend="fastscan")
    idx.add(sym)
    approx, cand = idx._fs.search(table.reshape(20, -1), 50)
    assert np.array_equal(approx, np.take_along_axis(a, cand, 1))
    assert np.array_equal(approx[:, 0], a.max(1))


def test_duplicate_codes_stored_once() -> None:
    sym = np.random.default_rng(0).integers(0, 16, (100, 64))
    sym = sym[np.arange(3200) % 100]  # 100 distinct codes, each 32 times
    idx = CodeIndex(64, 16)
    idx.add(sym[:1000])
    idx.add(sym[1000:])
    assert idx.ntotal == 3200 and idx.n_distinct == 100
    # 100 codes (4 blocks of 32 x 32 bytes) + one int32 id per item + 101 int32 group starts
    assert idx.memory_bytes() == 128 * 32 + 3200 * 4 + 101 * 4
    assert np.array_equal(idx.symbols(), sym) and np.array_equal(idx.symbols(np.array([5, 105])), sym[[5, 5]])


def test_fastscan_exact_when_scores_differ_below_the_table_step() -> None:
    # one wide row sets a coarse integer grid; the other rows differ by far less than a grid step, so
    # faiss's integer scores tie and its shortlist is arbitrary: only the certificate keeps it exact
    d, n = 16, 3000
    rng = np.random.default_rng(11)
    sym = rng.integers(0, 16, (n, d))
    sym[:, 0] = 0
    lp = -0.02 * rng.random((20, d, 16))
    lp[:, 0, 1:] = -1000.0
    lp = lp.astype(np.float32)
    idx = CodeIndex(d, 16)
    idx.add(sym)
    for tau in (16.0, 1e4):
        idx._tau = tau
        s, i = idx.search(lp, 10)
        rs, ri = brute_force_search(lp, sym, 10)
        assert np.array_equal(i, ri) and np.array_equal(s, rs)


@pytest.mark.parametrize("tau", [8.0, 30.0])
def test_certified_shortlist_rounds_are_exact(tau: float) -> None:
    # one round with a shortlist barely longer than K: many rows miss true neighbours; every row that is
    # certified must equal brute force, and both outcomes must occur
    d, n, kk = 16, 3000, 10
    sym = _tie_heavy_codes(n, d, seed=12)
    sym[: n // 2] = np.random.default_rng(13).integers(0, 16, (n // 2, d))
    idx = CodeIndex(d, 16)
    idx.add(sym)
    lp = _saturated(sym[100:300], 2.0, 2.0, seed=14)
    lut64 = lp.astype(np.float64)
    s, i, ok = idx._shortlist_round(lut64, lut64.max(2), lut64.min(2), np.full(len(lp), tau), 12, kk)
    rs, ri = brute_force_search(lp, sym, kk)
    assert 0 < ok.sum() < len(ok)
    assert np.array_equal(i[ok], ri[ok]) and np.array_equal(s[ok], rs[ok])
    assert not all(np.array_equal(a, b) for a, b in zip(i[~ok], ri[~ok]))


def test_fastscan_long_answers_with_a_huge_tie_group() -> None:
    # K = 300 answered by a shortlist (not the fallback scan) while one code is held by 1,600 items
    d, n = 32, 8000
    sym = _tie_heavy_codes(n, d, seed=21)
    idx = CodeIndex(d, 16)
    idx.add(sym)
    assert idx.n_distinct > 4 * 308
    codes, counts = np.unique(sym, axis=0, return_counts=True)
    assert counts.max() >= 1600
    lp = _saturated(sym[:12], 5.0, 1.0, seed=22)
    lp[0] = _saturated(codes[counts.argmax()][None], 30.0, 0.0, seed=0)[0]  # its best items: the big group
    s, i = idx.search(lp, 300)
    rs, ri = brute_force_search(lp, sym, 300)
    assert np.array_equal(i, ri) and np.array_equal(s, rs)
    assert idx.stats["fallbacks"] == 0


def test_concurrent_searches_are_exact_and_counted() -> None:
    # eight threads search one index at once (each moving the shared clipping depth): every answer equals
    # brute force, and the query counter sees every query
    from concurrent.futures import ThreadPoolExecutor

    d, n = 16, 3000
    sym = _tie_heavy_codes(n, d, seed=11)
    idx = CodeIndex(d, 16, backend="fastscan")
    idx.add(sym)
    batches = [_saturated(sym[20 * b : 20 * b + 20], 8.0, 2.0, seed=b) for b in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda lp: idx.search(lp, 10), batches))
    for lp, (s, i) in zip(batches, results, strict=True):
        rs, ri = brute_force_search(lp, sym, 10)
        assert np.array_equal(i, ri) and np.array_equal(s, rs)
    assert idx.stats["queries"] == 16 * 20 and idx.stats["rounds"] >= 16
