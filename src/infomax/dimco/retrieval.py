"""Retrieval metrics (precision@k, recall@k, mAP) for DIMCO codes and for continuous embeddings.

Codes are searched by the DIMCO similarity with :class:`infomax.dimco.index.CodeIndex`; continuous
embeddings exactly by cosine similarity. Both rank the database by score descending, then id ascending.
A query's relevant items are the database items with its label (the query itself excluded when the
query set is the database, ``exclude_self=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from infomax.errors import UserError


def retrieval_metrics(
    ranked_ids: np.ndarray,
    query_labels: np.ndarray,
    db_labels: np.ndarray,
    ks: tuple[int, ...] = (1, 5, 10),
    n_relevant: np.ndarray | None = None,
) -> dict[str, float]:
    """Mean precision@k, recall@k and average precision over queries.

    Args:
        ranked_ids: (Q, R) database ids, best first (R = the whole database for exact mAP; with R < N
            the AP counts only relevant items in the first R ranks, divided by all relevant items).
        query_labels: (Q,) labels; db_labels: (N,) labels.
        ks: cut-offs (each <= R).
        n_relevant: (Q,) relevant items per query (default: count of ``db_labels == query label``).

    Returns:
        ``{"precision@k": ..., "recall@k": ..., "mAP": ...}``; queries without relevant items are skipped.

    Example:
        >>> m = retrieval_metrics(np.array([[0, 1, 2]]), np.array([1]), np.array([1, 0, 1]), ks=(1, 2))
        >>> m["precision@2"], m["recall@2"], round(m["mAP"], 4)  # AP = (1/1 + 2/3) / 2
        (0.5, 0.5, 0.8333)
    """
    return _means(per_query_metrics(ranked_ids, query_labels, db_labels, ks, n_relevant))


def per_query_metrics(
    ranked_ids: np.ndarray,
    query_labels: np.ndarray,
    db_labels: np.ndarray,
    ks: tuple[int, ...] = (1, 5, 10),
    n_relevant: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """:func:`retrieval_metrics` per query, before the mean: ``{name: (Q',)}`` over the Q' queries that
    have a relevant item (possibly none), so that queries ranked in blocks can be averaged together."""
    ranked_ids = np.asarray(ranked_ids)
    query_labels, db_labels = np.asarray(query_labels), np.asarray(db_labels)
    if ranked_ids.ndim != 2 or ranked_ids.shape[0] != query_labels.shape[0]:
        raise UserError(f"ranked_ids must be (Q, R) with Q = {query_labels.shape[0]}, got {ranked_ids.shape}")
    if any(k < 1 or k > ranked_ids.shape[1] for k in ks):
        raise UserError(f"cut-offs {ks} must lie in [1, {ranked_ids.shape[1]}] (the ranking length)")
    rel = db_labels[ranked_ids] == query_labels[:, None]  # (Q, R)
    if n_relevant is None:
        classes, counts = np.unique(db_labels, return_counts=True)
        lookup = dict(zip(classes.tolist(), counts.tolist()))
        n_relevant = np.array([lookup.get(c, 0) for c in query_labels.tolist()])
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    has = n_relevant > 0
    rel, n_rel = rel[has], n_relevant[has]
    hits = np.cumsum(rel, axis=1)  # (Q', R)
    ranks = np.arange(1, rel.shape[1] + 1)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"precision@{k}"] = hits[:, k - 1] / k
        out[f"recall@{k}"] = hits[:, k - 1] / n_rel
    out["mAP"] = (rel * hits / ranks).sum(1) / n_rel  # average precision per query
    return out


def _means(per_query: dict[str, np.ndarray]) -> dict[str, float]:
    if not len(per_query["mAP"]):
        raise UserError("no query has a relevant item in the database")
    return {name: float(np.mean(v)) for name, v in per_query.items()}


def rank_continuous(
    query_emb: np.ndarray, db_emb: np.ndarray, topk: int | None = None, block: int = 256
) -> np.ndarray:
    """Exact cosine-similarity ranking (Q, R) of a database for each query (score desc, id asc)."""
    from infomax.dimco.index import _top_k_rows

    q = np.asarray(query_emb, dtype=np.float64)
    db = np.asarray(db_emb, dtype=np.float64)
    if q.ndim != 2 or db.ndim != 2 or q.shape[1] != db.shape[1]:
        raise UserError(f"embeddings must be (Q, D) and (N, D) with the same D, got {q.shape}, {db.shape}")
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    db = db / np.maximum(np.linalg.norm(db, axis=1, keepdims=True), 1e-12)
    n = db.shape[0]
    kk = n if topk is None else min(topk, n)
    ids = np.arange(n)
    return np.concatenate([_top_k_rows(q[s : s + block] @ db.T, ids, kk)[1] for s in range(0, len(q), block)])


def rank_codes(query_logprobs: np.ndarray, db_symbols: np.ndarray, topk: int | None = None) -> np.ndarray:
    """Exact DIMCO-similarity ranking (Q, R) of (N, d) database codes for (Q, d, k) query log-probs."""
    from infomax.dimco.index import CodeIndex

    query_logprobs = np.asarray(query_logprobs)
    index = CodeIndex(query_logprobs.shape[1], query_logprobs.shape[2])
    index.add(db_symbols)
    return index.search(query_logprobs, db_symbols.shape[0] if topk is None else topk)[1]


def evaluate_retrieval(
    logprobs: np.ndarray | None,
    labels: np.ndarray,
    embeddings: np.ndarray | None = None,
    ks: tuple[int, ...] = (1, 5, 10),
    max_queries: int | None = 1000,
    seed: int = 0,
    block: int = 1024,
) -> dict[str, float]:
    """Leave-one-out retrieval on one labelled set: each query ranks all the other items.

    Args:
        logprobs: (N, d, k) log-probabilities; the database codes are their argmax (None: embeddings only).
        labels: (N,) labels (classes unseen in training).
        embeddings: optional (N, D) continuous embeddings of the same backbone, ranked by cosine.
        max_queries: random subset of queries (all items stay in the database); None for all.
        block: queries ranked at a time (a progress bar counts them); memory grows as block x N.

    Returns:
        ``codes/<metric>`` and, with embeddings, ``continuous/<metric>`` for precision@k, recall@k, mAP.
    """
    from infomax.dimco.codes import argmax_codes
    from infomax.progress import bar

    labels = np.asarray(labels)
    n = len(labels)
    if logprobs is None and embeddings is None:
        raise UserError("retrieval needs codes (logprobs) or embeddings")
    logprobs = None if logprobs is None else np.asarray(logprobs)
    if logprobs is not None and (logprobs.ndim != 3 or logprobs.shape[0] != n):
        raise UserError(f"logprobs must be (N, d, k) with N = {n}, got {logprobs.shape}")
    qids = np.arange(n)
    if max_queries is not None and max_queries < n:
        qids = np.sort(np.random.default_rng(seed).choice(n, size=max_queries, replace=False))
    classes, counts = np.unique(labels, return_counts=True)
    lookup = dict(zip(classes.tolist(), counts.tolist()))
    n_rel = np.array([lookup[c] - 1 for c in labels[qids].tolist()])

    def metrics(rank: Callable[[np.ndarray], np.ndarray], what: str) -> dict[str, float]:
        """Rank the database for ``block`` queries at a time (memory ~ block x N, not Q x N)."""
        parts = []
        with bar(total=len(qids), desc=f"retrieval: {what}", unit="query") as progress:
            for s in range(0, len(qids), block):
                q = qids[s : s + block]
                ranked = rank(q)  # (b, N): every item; drop each query's own id, keeping the order
                ranked = ranked[ranked != q[:, None]].reshape(len(q), n - 1)
                rel = n_rel[s : s + block]
                parts.append(per_query_metrics(ranked, labels[q], labels, ks, n_relevant=rel))
                progress.update(len(q))
        return _means({name: np.concatenate([p[name] for p in parts]) for name in parts[0]})

    out: dict[str, float] = {}
    if logprobs is not None:
        db = argmax_codes(logprobs)  # (N, d); each block indexes it anew (~0.1 s at 13k items)
        ranked = metrics(lambda q: rank_codes(logprobs[q], db), "codes")
        out.update({f"codes/{k}": v for k, v in ranked.items()})
    if embeddings is not None:
        embeddings = np.asarray(embeddings)
        ranked = metrics(lambda q: rank_continuous(embeddings[q], embeddings), "continuous")
        out.update({f"continuous/{k}": v for k, v in ranked.items()})
    return out
