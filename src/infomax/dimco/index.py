"""An exact search index over packed DIMCO codes.

The DIMCO similarity of a query ``q`` to an item with code ``c`` (Lee et al., arXiv 1905.11656, eq. 8) is
``sum_i L_q[i, c_i]`` with ``L_q = log p(. | q)`` a (d, k) lookup table: exactly asymmetric-distance
product-quantization scanning with ``d`` sub-quantizers whose sub-codebooks are the identity (one-hot
centroids) and the query being the flattened log-probabilities, under the inner-product metric.

Backends:

- ``"fastscan"`` (default for ``k <= 16``): faiss ``IndexPQFastScan`` (4-bit codes, SIMD kernels). It
  quantizes the lookup table to 8 bits, so it only *shortlists* candidates; the shortlist is re-scored
  exactly with :func:`infomax.dimco.codes.similarity` and the answer is *certified*: if the K-th exact
  score does not strictly beat the largest score any non-shortlisted item could have (the last
  shortlisted approximate score plus a bound on the quantization error), the shortlist grows (x4) and
  finally falls back to a full exact scan. Results are therefore identical to brute force. The faiss
  arrays are the only copy of the codes (``code_bytes(d, 16)`` bytes per item, 32 for d=64).
- ``"brute"`` (any ``k``): packed codes in a numpy array, scored exhaustively with the same scorer.

Ranking order everywhere: similarity descending, then item id ascending (deterministic ties).
"""

from __future__ import annotations

import math
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
        self._fs = None  # faiss.IndexPQFastScan
        self._layout: tuple[np.ndarray, np.ndarray] | None = None
        self.stats = {"queries": 0, "fallbacks": 0, "rounds": 0}

    # ------------------------------------------------------------------ storage
    @property
    def ntotal(self) -> int:
        return int(self._fs.ntotal) if self._fs is not None else int(self._packed.shape[0])

    @property
    def code_bits(self) -> float:
        """Information length of one code, d*log2(k) bits."""
        return code_bits(self.d, self.k)

    def memory_bytes(self) -> int:
        """Bytes held for the codes (faiss arrays for fastscan, incl. block padding)."""
        if self._fs is not None:
            return int(self._fs.codes.size())
        return int(self._packed.nbytes)

    def add(self, symbols: np.ndarray) -> None:
        """Append (N, d) integer codes (ids continue from ``ntotal``)."""
        symbols = _check_symbols(symbols, self.k)
        if symbols.shape[1] != self.d:
            raise UserError(f"codes have d={symbols.shape[1]} symbols but the index was built for d={self.d}")
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
        return self._decode_fastscan(ids)

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
        if (byte_pos < 0).any():
            raise RuntimeError("could not map faiss's fast-scan code layout (unexpected faiss version)")
        return byte_pos, shift

    def _build_fastscan(self, symbols: np.ndarray) -> None:
        self._fs = self._new_fastscan(symbols)
        if self._layout is None:
            self._layout = self._probe_layout(self.d)
        # verify the layout decoding on a sample: results must never silently be wrong
        rng = np.random.default_rng(0)
        sample = rng.choice(len(symbols), size=min(len(symbols), 2048), replace=False)
        if not np.array_equal(self._decode_fastscan(sample), symbols[sample]):
            raise RuntimeError("faiss fast-scan code layout check failed (unexpected faiss version)")

    def _decode_fastscan(self, ids: np.ndarray) -> np.ndarray:
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
        self.stats["queries"] += lut.shape[0]
        if self.backend == "brute" or n <= 4 * _BBS:
            return brute_force_search(lut, self.symbols(), kk)
        return self._search_fastscan(lut, kk)

    def _search_fastscan(self, lut: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        q, d, k = lut.shape
        n = self.ntotal
        lut64 = lut.astype(np.float64)
        # bound on |approx - exact| per query: the 8-bit table step is at most span/255 (span = global
        # range of the table) and each of the d entries is rounded by at most half a step: d*span/510.
        # We use twice that, plus float slack.
        span = lut64.reshape(q, -1).max(1) - lut64.reshape(q, -1).min(1)
        slack = 1e-5 * np.abs(lut64).max(2).sum(1) + 1e-9
        delta = d * span / 255.0 + slack
        out_s = np.empty((q, kk), dtype=np.float64)
        out_i = np.empty((q, kk), dtype=np.int64)
        flat = span == 0  # a constant table: every item ties, the answer is ids 0..K-1
        if flat.any():
            out_i[flat] = np.arange(kk)
            out_s[flat] = similarity(lut[flat], self.symbols(np.arange(kk)))
        pending = np.flatnonzero(~flat)
        length = max(2 * kk, kk + 32)
        while pending.size:
            self.stats["rounds"] += 1
            if length >= n // 4:  # a shortlist this long costs as much as the exact scan
                self.stats["fallbacks"] += pending.size
                s, i = brute_force_search(lut[pending], self.symbols(), kk)
                out_s[pending], out_i[pending] = s, i
                break
            approx, cand = self._fs.search(lut[pending].reshape(len(pending), -1), length)  # (P, L)
            valid = (cand >= 0).all(1) & np.isfinite(approx).all(1)
            sym = self._decode_fastscan(np.where(cand >= 0, cand, 0))  # (P, L, d)
            exact = np.zeros(cand.shape, dtype=np.float64)
            for i in range(d):  # same order and dtype as codes.similarity -> bit-identical scores
                exact += lut64[pending[:, None], i, sym[:, :, i]]
            s, ids = _top_k_rows(exact, cand, kk)
            with np.errstate(invalid="ignore"):
                ok = valid & (s[:, -1] > approx[:, -1].astype(np.float64) + delta[pending])
            out_s[pending[ok]], out_i[pending[ok]] = s[ok], ids[ok]
            pending = pending[~ok]
            length *= 4
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
