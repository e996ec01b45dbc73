"""An exact search index over packed DIMCO codes.

The DIMCO similarity of a query ``q`` to an item with code ``c`` (Lee et al., arXiv 1905.11656, eq. 8) is
``sum_i L_q[i, c_i]`` with ``L_q = log p(. | q)`` a (d, k) lookup table: exactly asymmetric-distance
product-quantization scanning with ``d`` sub-quantizers whose sub-codebooks are the identity (one-hot
centroids) and the query being the flattened log-probabilities, under the inner-product metric.

Backends:

- ``"fastscan"`` (default for ``k <= 16``): faiss ``IndexPQFastScan`` (4-bit codes, SIMD kernels) over the
  *distinct* codes, each stored once (real codes repeat a lot: saturated probabilities give identical
  argmax codes), with the ids of the items of every repeated code (``int32``). faiss only *shortlists*
  codes; the answer is re-scored exactly with the scorer of :func:`infomax.dimco.codes.similarity` and
  *certified*:

  1. each query's table is clipped ``tau`` below each row's maximum (a code using a clipped entry scores at
     most ``best - tau``: clipping never lowers a score and leaves every score above ``best - tau``
     exact) and rounded *up* to integers 0..255 on a grid ``step``. faiss's own 8-bit table quantization
     reproduces these integers exactly (checked on every search), so its scores ``A(c)`` are exact
     integer sums and ``score(c) <= base + step * A(c) + err`` for every code (``err``: floating-point
     rounding, 1e-9 of the table's magnitude);
  2. the shortlist (the ``L`` codes with the largest ``A``) is re-scored exactly and expanded into items;
     ``S_K``, the K-th best item score (similarity desc, id asc), is certified when
     ``S_K > base + step * A(last shortlisted code) + err``: every code outside then scores strictly
     below ``S_K``, so none of its items can enter or reorder the top K, ties at ``S_K`` included;
  3. otherwise ``tau`` is reset just below the ``S_K`` found (a lower bound on the true one: a finer grid
     that still keeps every code that can matter exact) and, unless the old table was far too deep, the
     shortlist grows (x4); after a few rounds, or once the shortlist would exceed a quarter of the codes,
     the query falls back to an exact scan of the distinct codes.

  ``tau`` starts from the depth that fitted 90% of the previous search's queries (x1.25), so a stream of
  similar queries mostly certifies in one round. Results are identical to brute force, scores included,
  whatever ``tau`` is, so searching one index from several threads at once is safe (``tau`` and ``stats``
  are updated under a lock); adding codes while another thread searches is not.
- ``"brute"`` (any ``k``): packed codes in a numpy array, scored exhaustively with the same scorer.

Ranking order everywhere: similarity descending, then item id ascending (deterministic ties).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import torch

from infomax.dimco.codes import (
    _check_symbols,
    bits_per_symbol,
    check_code_shape,
    code_bits,
    code_bytes,
    pack_codes,
    similarity,
    unpack_codes,
)
from infomax.errors import UserError

FORMAT = "infomax-dimco-index"
_BBS = 32  # faiss fast-scan block size (items per block)
_BACKENDS = ("auto", "fastscan", "brute")
_FALLBACK_RATIO = 4  # a shortlist longer than 1/4 of the codes: scan them all exactly instead
_MAX_ROUNDS = 6  # shortlist rounds before a query falls back to the exact scan
_TAU0 = 16.0  # initial clipping depth (nats below the best possible score); adapted after every search
_MIN_TAU = 1e-6  # relative floor of the clipping depth


def _faiss():
    import faiss

    return faiss


def _top_k_rows(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` best (score desc, id asc) of (R, M) ``scores`` with (R, M) or (M,) ``ids``."""
    r, m = scores.shape
    ids = np.broadcast_to(ids, (r, m))
    out_s = np.empty((r, k), dtype=np.float64)
    out_i = np.empty((r, k), dtype=np.int64)
    for j in range(r):
        row = scores[j]
        if k < m:
            thr = np.partition(row, m - k)[m - k]  # the k-th largest value
            cand = np.flatnonzero(row >= thr)  # includes every tie at the threshold
        else:
            cand = np.arange(m)
        order = np.lexsort((ids[j, cand], -row[cand]))[:k]
        out_s[j] = row[cand[order]]
        out_i[j] = ids[j, cand[order]]
    return out_s, out_i


def brute_force_search(
    query_logprobs: np.ndarray, symbols: np.ndarray, topk: int, block_bytes: int = 1 << 27
) -> tuple[np.ndarray, np.ndarray]:
    """Reference exact search: score every item, keep the best ``topk`` (similarity desc, id asc).

    Args:
        query_logprobs: (Q, d, k) log-probabilities.
        symbols: (N, d) codes.
        topk: results per query (clipped to N).
        block_bytes: memory for one block of (queries x N) float64 scores.

    Returns:
        ``(scores (Q, K) float64, ids (Q, K) int64)`` with ``K = min(topk, N)``.
    """
    n = symbols.shape[0]
    kk = min(topk, n)
    qb = max(1, block_bytes // (8 * max(n, 1)))
    out_s, out_i = [], []
    ids = np.arange(n, dtype=np.int64)
    for s in range(0, query_logprobs.shape[0], qb):
        sc = similarity(query_logprobs[s : s + qb], symbols)  # (qb, N)
        a, b = _top_k_rows(sc, ids, kk)
        out_s.append(a)
        out_i.append(b)
    if not out_s:
        return np.zeros((0, kk)), np.zeros((0, kk), dtype=np.int64)
    return np.concatenate(out_s), np.concatenate(out_i)


class CodeIndex:
    """Exact DIMCO similarity search over packed codes (see the module docstring).

    Args:
        d: symbols per code.
        k: alphabet size.
        backend: ``"auto"`` (fastscan when k <= 16, else brute), ``"fastscan"`` or ``"brute"``.

    Example:
        >>> idx = CodeIndex(d=2, k=4, backend="brute")
        >>> idx.add(np.array([[0, 1], [3, 3], [0, 2]]))
        >>> lp = np.log(np.array([[[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]]]))
        >>> idx.search(lp, 2)[1].tolist()
        [[0, 2]]
    """

    def __init__(self, d: int, k: int, backend: str = "auto") -> None:
        check_code_shape(d, k)
        if backend not in _BACKENDS:
            raise UserError(f"unknown index backend {backend!r}; choose one of: {', '.join(_BACKENDS)}")
        if backend == "fastscan" and k > 16:
            raise UserError(
                f"the fastscan backend needs k <= 16 (4-bit symbols), got k={k}; use backend='brute'"
            )
        self.d, self.k = int(d), int(k)
        self.backend = ("fastscan" if k <= 16 else "brute") if backend == "auto" else backend
        self._packed: np.ndarray = np.zeros((0, code_bytes(d, k)), dtype=np.uint8)  # brute storage
        self._fs = None  # faiss.IndexPQFastScan over the distinct codes, in order of first occurrence
        self._layout: tuple[np.ndarray, np.ndarray] | None = None
        self._n = 0  # items (fastscan)
        # items grouped by distinct code: code u holds items _order[_starts[u]:_starts[u + 1]] (ids
        # ascending); None when every code is distinct (code u is item u)
        self._order: np.ndarray | None = None
        self._starts: np.ndarray | None = None
        #: shortlist length (distinct codes) of the first round
        self.shortlist = 16
        self._tau = _TAU0
        self.stats = {"queries": 0, "fallbacks": 0, "rounds": 0, "retries": 0}
        self._lock = threading.Lock()  # guards _tau and stats: concurrent searches are safe

    # ------------------------------------------------------------------ storage
    @property
    def ntotal(self) -> int:
        return self._n if self.backend == "fastscan" else int(self._packed.shape[0])

    @property
    def n_distinct(self) -> int:
        """Distinct codes held (fastscan keeps one copy of each; brute keeps every item's)."""
        return int(self._fs.ntotal) if self._fs is not None else self.ntotal

    @property
    def code_bits(self) -> float:
        """Information length of one code, d*log2(k) bits."""
        return code_bits(self.d, self.k)

    def memory_bytes(self) -> int:
        """Bytes held for the codes: fastscan, the faiss arrays of the distinct codes (incl. block
        padding) plus the item lists of repeated codes (none when all codes are distinct)."""
        if self._fs is not None:
            extra = 0 if self._order is None else self._order.nbytes + self._starts.nbytes
            return int(self._fs.codes.size()) + int(extra)
        return int(self._packed.nbytes)

    def add(self, symbols: np.ndarray) -> None:
        """Append (N, d) integer codes (ids continue from ``ntotal``)."""
        symbols = _check_symbols(symbols, self.k)
        if symbols.shape[1] != self.d:
            raise UserError(f"codes have d={symbols.shape[1]} symbols but the index was built for d={self.d}")
        if self.ntotal + len(symbols) >= 2**32:
            raise UserError("an index holds fewer than 2**32 items (ids are sorted as 32-bit keys)")
        if self.backend == "brute":
            self._packed = np.concatenate([self._packed, pack_codes(symbols, self.k)])
        else:
            old = self.symbols() if self.ntotal else symbols[:0]
            self._build_fastscan(np.concatenate([old, symbols.astype(np.uint8)]))

    def add_packed(self, packed: np.ndarray) -> None:
        """Append codes already packed by :func:`~infomax.dimco.codes.pack_codes` for this (d, k)."""
        self.add(unpack_codes(packed, self.d, self.k))

    def symbols(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Stored codes (N, d) (all, or the given ids), decoded from the packed storage."""
        n = self.ntotal
        ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise UserError(f"item ids must lie in [0, {n})")
        if self.backend == "brute":
            return unpack_codes(self._packed[ids.ravel()], self.d, self.k).reshape(*ids.shape, self.d)
        return self._decode_fastscan(ids if self._order is None else self._item_codes()[ids])

    def _item_codes(self) -> np.ndarray:
        """(N,) distinct-code number of every item (computed on demand: not stored)."""
        out = np.empty(self._n, dtype=np.int64)
        out[self._order] = np.repeat(np.arange(self._fs.ntotal), np.diff(self._starts))
        return out

    def packed_codes(self) -> np.ndarray:
        """All codes packed with :func:`~infomax.dimco.codes.pack_codes`: (N, code_bytes(d, k)) uint8."""
        return self._packed.copy() if self.backend == "brute" else pack_codes(self.symbols(), self.k)

    # ------------------------------------------------------------------ faiss fast scan
    def _new_fastscan(self, symbols16: np.ndarray):
        """A faiss IndexPQFastScan over (N, M) 4-bit symbols with identity sub-codebooks of width k."""
        faiss = _faiss()
        m = symbols16.shape[1]
        pq = faiss.IndexPQ(m * self.k, m, 4, faiss.METRIC_INNER_PRODUCT)
        cent = np.zeros((m, 16, self.k), dtype=np.float32)
        cent[:, np.arange(self.k), np.arange(self.k)] = 1.0  # one-hot centroids; symbols >= k unused
        faiss.copy_array_to_vector(cent.ravel(), pq.pq.centroids)
        pq.is_trained = True
        if len(symbols16):
            pq.add_sa_codes(pack_codes(symbols16, 16))
        return faiss.IndexPQFastScan(pq, _BBS)

    def _probe_layout(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Where faiss's fast-scan block layout stores symbol ``(item v, dim i)``: byte and bit shift."""
        n_cells = _BBS * m
        n_probes = max(1, math.ceil(math.log(n_cells + 2, 16)))
        cell = np.arange(1, n_cells + 1).reshape(_BBS, m)  # 0 marks padding nibbles
        decoded = None
        for t in range(n_probes):
            fs = self._new_fastscan(((cell >> (4 * t)) & 15).astype(np.uint8))
            raw = _faiss().rev_swig_ptr(fs.codes.get(), fs.codes.size()).copy()
            nib = np.stack([raw & 15, raw >> 4], 1).astype(np.int64).ravel()  # (2 * block bytes,)
            decoded = nib << (4 * t) if decoded is None else decoded | (nib << (4 * t))
        byte_pos = np.full((_BBS, m), -1, dtype=np.int64)
        shift = np.zeros((_BBS, m), dtype=np.uint8)
        for pos in np.flatnonzero((decoded >= 1) & (decoded <= n_cells)):
            v, i = divmod(int(decoded[pos]) - 1, m)
            byte_pos[v, i], shift[v, i] = pos // 2, 4 * (pos % 2)
        if (byte_pos < 0).any() or (shift != shift[:, :1]).any():
            raise RuntimeError("could not map faiss's fast-scan code layout (unexpected faiss version)")
        return byte_pos, shift

    def _build_fastscan(self, symbols: np.ndarray) -> None:
        """Index the distinct codes once each (real codes repeat a lot) and list the items of each."""
        n = len(symbols)
        packed = np.ascontiguousarray(pack_codes(symbols, 16))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        code_of = rank[inverse.ravel()]  # distinct codes numbered by first occurrence
        distinct = symbols[np.sort(first)]
        if len(first) == n:  # all distinct: code u is item u
            self._order = self._starts = None
        else:
            idt = np.int32 if n < 2**31 else np.int64
            self._order = np.argsort(code_of, kind="stable").astype(idt)  # by code, then id
            self._starts = np.concatenate([[0], np.cumsum(np.bincount(code_of))]).astype(idt)
        self._n = n
        self._fs = self._new_fastscan(distinct)
        if self._layout is None:
            self._layout = self._probe_layout(self.d)
        # verify the layout decoding on a sample: results must never silently be wrong
        rng = np.random.default_rng(0)
        sample = rng.choice(len(distinct), size=min(len(distinct), 2048), replace=False)
        if not np.array_equal(self._decode_fastscan(sample), distinct[sample]):
            raise RuntimeError("faiss fast-scan code layout check failed (unexpected faiss version)")

    def _decode_fastscan(self, ids: np.ndarray) -> np.ndarray:
        """Symbols of distinct codes ``ids`` (any shape) -> (*ids.shape, d) uint8."""
        ids = np.asarray(ids, dtype=np.int64)
        byte_pos, shift = self._layout
        raw = _faiss().rev_swig_ptr(self._fs.codes.get(), self._fs.codes.size())
        stride = _BBS * ((self.d + 1) // 2)  # bytes per block of 32 items (M rounded up to even)
        flat = ids.ravel()
        block, v = flat // _BBS, flat % _BBS
        pos = block[:, None] * stride + byte_pos[v]  # (n, d)
        return ((raw[pos] >> shift[v]) & 15).astype(np.uint8).reshape(*ids.shape, self.d)

    # ------------------------------------------------------------------ search
    def _check_queries(self, query_logprobs) -> np.ndarray:
        lut = (
            query_logprobs.detach().cpu().numpy()
            if isinstance(query_logprobs, torch.Tensor)
            else query_logprobs
        )
        lut = np.asarray(lut)
        if lut.ndim == 2 and lut.shape[1] == self.d * self.k:
            lut = lut.reshape(-1, self.d, self.k)
        if lut.ndim != 3 or lut.shape[1:] != (self.d, self.k):
            raise UserError(
                f"queries must be (Q, d, k) = (Q, {self.d}, {self.k}) log-probabilities, got shape "
                f"{lut.shape}: were they made by a model with another (d, k) than this index?"
            )
        if not np.isfinite(lut).all():
            raise UserError("query log-probabilities must be finite (use log_softmax of the logits)")
        return np.ascontiguousarray(lut, dtype=np.float32)

    def search(
        self, query_logprobs, topk: int = 10, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``topk`` most similar items per query, exactly (similarity desc, then id asc).

        Args:
            query_logprobs: (Q, d, k) (or (Q, d*k)) log-probabilities ``log_softmax(logits, -1)``.
            topk: results per query; clipped to ``ntotal`` (``ntotal - 1`` with ``exclude``).
            exclude: optional (Q,) item ids, one per query, left out of that query's results (-1: none):
                the query's own item when the queries are items of the index, so that an item is not
                counted as its own nearest neighbour.

        Returns:
            ``(scores (Q, K) float64, ids (Q, K) int64)``, ``K = min(topk, ntotal)`` (``ntotal - 1`` with
            ``exclude``); scores are ``log p(c | q)`` computed by :func:`~infomax.dimco.codes.similarity`.

        Example:
            >>> idx = CodeIndex(d=1, k=2, backend="brute")
            >>> idx.add(np.array([[0], [0], [1]]))
            >>> lp = np.log(np.array([[[0.9, 0.1]], [[0.9, 0.1]]]))
            >>> idx.search(lp, 1, exclude=np.array([0, -1]))[1].tolist()  # query 0 is item 0
            [[1], [0]]
        """
        lut = self._check_queries(query_logprobs)
        if int(topk) < 1:
            raise UserError(f"topk must be >= 1, got {topk}")
        n = self.ntotal
        if n == 0:
            raise UserError("the index is empty: add codes before searching")
        if exclude is None:
            return self._search(lut, min(int(topk), n))
        exclude = np.asarray(exclude, dtype=np.int64)
        if exclude.shape != (lut.shape[0],):
            raise UserError(
                f"exclude must hold one item id per query, shape ({lut.shape[0]},), got {exclude.shape}"
            )
        if n == 1:
            raise UserError(
                "the index holds a single item: nothing is left once a query's own item is excluded"
            )
        kk = min(int(topk), n - 1)
        s, i = self._search(lut, kk + 1)  # (Q, kk + 1): the kk best others are among them
        keep = i != exclude[:, None]
        keep[keep.all(1), kk] = False  # rows whose excluded id is not among them: drop the last
        return s[keep].reshape(-1, kk), i[keep].reshape(-1, kk)

    def _search(self, lut: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.ntotal
        with self._lock:
            self.stats["queries"] += lut.shape[0]
        if self.backend == "brute" or n <= 4 * _BBS:
            return brute_force_search(lut, self.symbols(), kk)
        return self._search_fastscan(lut, kk)

    def _search_fastscan(self, lut: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        q, d, _ = lut.shape
        n_codes = int(self._fs.ntotal)
        lut64 = lut.astype(np.float64)
        by_symbol = np.ascontiguousarray(lut64.transpose(2, 0, 1))  # (k, Q, d): fast reductions over k
        row_max, row_min = by_symbol.max(0), by_symbol.min(0)  # (Q, d)
        best = row_max.sum(1)  # the largest score any code could have
        out_s = np.empty((q, kk), dtype=np.float64)
        out_i = np.empty((q, kk), dtype=np.int64)
        flat = (row_max == row_min).all(1)  # a constant table: every item ties, the answer is 0..K-1
        if flat.any():
            out_i[flat] = np.arange(kk)
            out_s[flat] = similarity(lut[flat], self.symbols(np.arange(kk)))
        pending = np.flatnonzero(~flat)
        tau = np.full(pending.size, self._tau)
        length = min(max(self.shortlist, kk + 8), n_codes)
        needed = []
        counts = {"rounds": 0, "fallbacks": 0, "retries": 0}
        for round_no in range(_MAX_ROUNDS + 1):
            if not pending.size:
                break
            counts["rounds"] += 1
            if length * _FALLBACK_RATIO > n_codes or round_no == _MAX_ROUNDS:
                # a shortlist this long costs as much as the exact scan
                counts["fallbacks"] += pending.size
                s, i = self._exact_scan(lut64[pending], kk)
                out_s[pending], out_i[pending] = s, i
                needed.append(best[pending] - s[:, -1])
                break
            s, i, ok = self._shortlist_round(
                lut64[pending], row_max[pending], row_min[pending], tau, length, kk
            )
            done = np.flatnonzero(ok)
            out_s[pending[done]], out_i[pending[done]] = s[done], i[done]
            needed.append(best[pending[done]] - s[done, kk - 1])
            retry = np.flatnonzero(~ok)
            # the K-th score found so far is a lower bound on the true one: clipping just below it keeps
            # every code that can matter exact while making the grid as fine as it can be. Unless the
            # table was far too deep (then the finer grid alone should do), the shortlist also grows:
            # one longer faiss search costs less than another round.
            gap = best[pending[retry]] - s[retry, kk - 1]  # +inf where the shortlist held fewer than K items
            grow = np.isfinite(gap) & (tau[retry] <= 1.5 * gap)
            tau = np.where(np.isfinite(gap), gap * 1.01, 4 * tau[retry])
            pending = pending[retry]
            if grow.any():
                length = min(4 * length, n_codes)
            counts["retries"] += pending.size
        gaps = np.concatenate(needed) if needed else np.zeros(0)
        gaps = gaps[np.isfinite(gaps)]
        with self._lock:
            for key, v in counts.items():
                self.stats[key] += int(v)
            if gaps.size:  # the next search starts from a clipping depth that fits most queries seen here
                self._tau = float(np.quantile(gaps, 0.9)) * 1.25
        return out_s, out_i

    def _exact_scan(self, lut64: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``kk`` items by scoring every distinct code once (the certificate's fallback)."""
        codes = self._decode_fastscan(np.arange(self._fs.ntotal))
        if self._order is None:
            return brute_force_search(lut64, codes, kk)
        code_of = self._item_codes()
        ids = np.arange(self._n, dtype=np.int64)
        qb = max(1, (1 << 27) // (8 * self._n))
        out_s, out_i = [], []
        for s in range(0, lut64.shape[0], qb):
            a, b = _top_k_rows(similarity(lut64[s : s + qb], codes)[:, code_of], ids, kk)
            out_s.append(a)
            out_i.append(b)
        return np.concatenate(out_s), np.concatenate(out_i)

    @staticmethod
    def _integer_tables(lut64: np.ndarray, row_max: np.ndarray, row_min: np.ndarray, tau: np.ndarray):
        """Per query, an integer table ``T`` (0..255) and ``base, step, err`` with, for every code ``c``,
        ``score(c) <= base + step * sum_i T[i, c_i] + err``.

        Each row is clipped ``tau`` below its maximum (a code using a clipped entry scores at most
        ``best - tau``, exactly and after clipping), then rounded *up* onto a grid of ``step = widest
        clipped row / 255``. Row minima are 0 and the widest row spans exactly 0..255, so faiss's own 8-bit
        table quantization (per-row minimum, one scale ``255 / widest span``) reproduces these integers and
        its scores are the exact integer sums (checked on every search). ``err`` (1e-9 of the table's
        magnitude) covers the floating-point rounding of the grid (a few ulps per entry).
        """
        scale = np.maximum(row_max, -row_min).sum(1)  # sum_i max_j |lut_ij|
        tau = np.maximum(tau, _MIN_TAU * (1.0 + scale))
        lo = np.maximum(row_min, row_max - tau[:, None])  # (P, d)
        step = (row_max - lo).max(1) / 255.0  # > 0: constant tables are handled before
        table = lut64 - lo[:, :, None]
        table /= step[:, None, None]
        np.ceil(table, out=table)
        np.clip(table, 0, 255, out=table)
        return table.astype(np.float32), lo.sum(1), step, 1e-9 * (1.0 + scale)

    def _shortlist_round(self, lut64, row_max, row_min, tau, length, kk):
        """One shortlist round for P queries: the best ``kk`` items of the shortlisted codes (score desc,
        id asc; -inf where fewer) and whether each row is certified exact."""
        p, d, k = lut64.shape
        table, base, step, err = self._integer_tables(lut64, row_max, row_min, tau)
        approx, cand = self._fs.search(table.reshape(p, -1), length)  # (P, L) best integer sums
        if (cand < 0).any():
            raise RuntimeError("faiss returned fewer candidates than codes (unexpected faiss version)")
        exact, last = self._rescore(lut64, table, cand)
        if not np.array_equal(last, approx[:, -1].astype(np.float64)):
            raise RuntimeError("faiss fast-scan table quantization changed (unexpected faiss version)")
        s, ids = self._expand(exact, cand, kk)
        bound = base + step * last + err  # no code outside the shortlist scores above this
        ok = (s[:, -1] > bound) | (length >= self._fs.ntotal)
        return s, ids, ok

    def _rescore(self, lut64: np.ndarray, table: np.ndarray, cand: np.ndarray):
        """Exact scores of the (P, L) candidate codes, summed over dims 0..d-1 in order (bit-identical to
        :func:`~infomax.dimco.codes.similarity`), and the integer table sums of the last candidates."""
        p, d, k = lut64.shape
        flat = cand.ravel()
        rows = np.repeat(np.arange(p, dtype=np.intp) * k, cand.shape[1])  # (P*L,) row offsets
        by_dim = np.ascontiguousarray(lut64.transpose(1, 0, 2)).reshape(d, p * k)
        fast = self._symbol_reader(flat)
        if fast is None:  # another faiss layout: decode every candidate first
            decoded = self._decode_fastscan(flat)

            def fast(i: int) -> np.ndarray:
                return decoded[:, i]

        exact = np.zeros(flat.size, dtype=np.float64)
        symbols = np.empty((d, p), dtype=np.intp)
        for i in range(d):  # one dimension at a time: small arrays that stay in cache
            sym_i = fast(i)
            exact += by_dim[i].take(rows + sym_i)
            symbols[i] = sym_i.reshape(p, -1)[:, -1]
        last = table[np.arange(p)[:, None], np.arange(d)[None, :], symbols.T].sum(1, dtype=np.float64)
        return exact.reshape(cand.shape), last

    def _symbol_reader(self, ids: np.ndarray):
        """``f(i)``: symbol ``i`` of distinct codes ``ids`` (n,) read straight from faiss's block layout
        (item v of a block keeps dimension i at byte col[v] + off[i]); None for another layout."""
        byte_pos, shift = self._layout
        col, off = byte_pos[:, 0], byte_pos[0] - byte_pos[0, 0]
        if not np.array_equal(byte_pos, col[:, None] + off[None, :]):
            return None
        raw = _faiss().rev_swig_ptr(self._fs.codes.get(), self._fs.codes.size())
        block, v = np.divmod(ids, _BBS)
        start = block * (_BBS * ((self.d + 1) // 2)) + col[v]
        shift_v = shift[v, 0]

        def read(i: int) -> np.ndarray:
            out = raw[start + off[i]]
            out >>= shift_v
            out &= 15
            return out

        return read

    def _expand(self, code_scores: np.ndarray, cand: np.ndarray, kk: int):
        """The ``kk`` best items (score desc, id asc) of the shortlisted codes; -inf / -1 rows where the
        codes hold fewer than ``kk`` items."""
        p, length = cand.shape
        by_score = np.argsort(-code_scores, axis=1)
        sc = np.take_along_axis(code_scores, by_score, 1)  # (P, L) codes, best first
        codes = np.take_along_axis(cand, by_score, 1)
        if self._order is None:  # one item per code, code id == item id
            start, count = codes, np.ones_like(codes)
        else:
            start = self._starts[codes].astype(np.int64)
            count = self._starts[codes + 1] - start
        cum = np.cumsum(count, axis=1)
        enough = cum[:, -1] >= kk
        s_k = np.where(enough, sc[np.arange(p), np.argmax(cum >= kk, axis=1)], np.inf)
        # only codes scoring at least the K-th item score hold answers, at most kk items each (ids ascend)
        take = np.where(sc >= s_k[:, None], np.minimum(count, kk), 0).ravel()
        total = int(take.sum())
        seg = np.repeat(np.arange(take.size), take)  # (total,) flat (row, code) of each item
        within = np.arange(total) - np.repeat(np.cumsum(take) - take, take)
        first = start.ravel()[seg] + within
        ids = first if self._order is None else self._order[first].astype(np.int64)
        item_sc, row = sc.ravel()[seg], seg // length
        order = np.lexsort((ids, -item_sc, row))  # by row, then score desc, then id asc
        per_row = take.reshape(p, -1).sum(1)
        rank = np.arange(total) - np.repeat(np.cumsum(per_row) - per_row, per_row)  # within its row, sorted
        keep = order[rank < kk]
        out_s = np.full((p, kk), -np.inf)
        out_i = np.full((p, kk), -1, dtype=np.int64)
        rows = np.flatnonzero(enough)
        out_s[rows] = item_sc[keep].reshape(-1, kk)
        out_i[rows] = ids[keep].reshape(-1, kk)
        return out_s, out_i

    # ------------------------------------------------------------------ persistence
    def save(
        self, path: str | Path, labels: np.ndarray | None = None, metadata: dict[str, str] | None = None
    ) -> None:
        """Write the packed codes (+ optional (N,) labels) to a safetensors file with (d, k) metadata."""
        from safetensors.numpy import save_file

        tensors = {"codes": self.packed_codes()}
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (self.ntotal,):
                raise UserError(f"labels must have shape ({self.ntotal},), got {labels.shape}")
            tensors["labels"] = labels
        meta = {str(a): str(b) for a, b in (metadata or {}).items()}
        meta.update(format=FORMAT, version="1", d=str(self.d), k=str(self.k), code_bits=f"{self.code_bits:g}")
        meta["bits_per_symbol"] = str(bits_per_symbol(self.k))
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)

    @classmethod
    def load(
        cls, path: str | Path, backend: str = "auto"
    ) -> tuple[CodeIndex, np.ndarray | None, dict[str, str]]:
        """Read a file written by :meth:`save`: ``(index, labels or None, metadata)``."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise UserError(f"index file not found: {path}")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = dict(f.metadata() or {})
                tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
        except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
            raise UserError(f"{path} is not a DIMCO index file ({type(e).__name__})") from None
        if meta.get("format") != FORMAT or "codes" not in tensors:
            raise UserError(f"{path} is not a DIMCO index file (format {meta.get('format')!r})")
        index = cls(int(meta["d"]), int(meta["k"]), backend=backend)
        index.add_packed(tensors["codes"])
        return index, tensors.get("labels"), meta
