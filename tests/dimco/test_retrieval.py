"""Retrieval metrics: hand-computed values; codes vs continuous on separable data."""

from __future__ import annotations

import numpy as np
import pytest

from infomax.dimco.retrieval import evaluate_retrieval, rank_codes, rank_continuous, retrieval_metrics
from infomax.errors import UserError


def test_metrics_by_hand() -> None:
    ranked = np.array([[3, 0, 1, 2], [0, 1, 2, 3]])
    q_lab = np.array([1, 0])
    db_lab = np.array([1, 0, 1, 0])
    m = retrieval_metrics(ranked, q_lab, db_lab, ks=(1, 2, 4))
    # query 0 (label 1): rel = [0, 1, 0, 1] -> AP = (1/2 + 2/4) / 2 = 0.5
    # query 1 (label 0): rel = [0, 1, 0, 1] -> AP = 0.5
    assert m["precision@1"] == 0.0 and m["precision@2"] == 0.5 and m["recall@4"] == 1.0
    assert m["recall@2"] == 0.5 and m["mAP"] == pytest.approx(0.5)
    perfect = retrieval_metrics(np.array([[0, 2, 1, 3]]), np.array([1]), db_lab, ks=(2,))
    assert perfect["mAP"] == 1.0 and perfect["precision@2"] == 1.0


def test_rank_continuous_ties_by_id() -> None:
    db = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    assert rank_continuous(np.array([[1.0, 0.0]]), db).tolist() == [[0, 2, 3, 1]]


def test_rank_codes_full_ranking_is_a_permutation() -> None:
    rng = np.random.default_rng(0)
    sym = rng.integers(0, 4, (50, 3))
    lp = np.log(rng.dirichlet(np.ones(4), size=(5, 3)))
    ranked = rank_codes(lp, sym)
    assert ranked.shape == (5, 50) and all(sorted(r) == list(range(50)) for r in ranked.tolist())


def test_evaluate_retrieval_separable() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 10)
    logits = 8 * np.eye(8)[np.stack([labels, (labels + 1) % 6], 1)] + rng.standard_normal((60, 2, 8))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    emb = np.eye(6)[labels] + 0.05 * rng.standard_normal((60, 6))
    out = evaluate_retrieval(lp, labels, emb, ks=(1, 9), max_queries=None)
    for key in ("codes", "continuous"):
        assert out[f"{key}/mAP"] == pytest.approx(1.0) and out[f"{key}/recall@9"] == pytest.approx(1.0)
    rnd = evaluate_retrieval(rng.standard_normal((60, 2, 8)), labels, ks=(1,), max_queries=30)
    # random codes rank at random: E[AP] = H_N / N + (R - 1)(N - H_N) / (N (N - 1)) with N = 59 others,
    # R = 9 relevant = 0.206 (200 random draws: mean 0.207, sd 0.015)
    n, r = 59, 9
    h = float(np.sum(1.0 / np.arange(1, n + 1)))
    assert rnd["codes/mAP"] == pytest.approx(h / n + (r - 1) * (n - h) / (n * (n - 1)), abs=0.06)


def test_bad_input() -> None:
    with pytest.raises(UserError, match="cut-offs"):
        retrieval_metrics(np.zeros((1, 3), int), np.array([0]), np.array([0, 1, 0]), ks=(4,))
    with pytest.raises(UserError, match="no query"):
        retrieval_metrics(np.zeros((1, 2), int), np.array([5]), np.array([0, 1]), ks=(1,))


@pytest.mark.parametrize("block", [1, 7, 1024])
def test_queries_ranked_in_blocks_read_as_one_full_ranking(block: int) -> None:
    """Blocks of queries (the memory bound) give what ranking every query at once gives: the full
    (Q, N) rankings, each query's own item removed, scored by ``retrieval_metrics`` in one call."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 40)
    lp = np.log(rng.dirichlet(np.ones(4), size=(40, 3)))
    emb = rng.standard_normal((40, 6)) + np.eye(6)[labels]
    out = evaluate_retrieval(lp, labels, emb, ks=(1, 5), max_queries=25, seed=3, block=block)
    qids = np.sort(np.random.default_rng(3).choice(40, size=25, replace=False))
    want = {}
    for name, full in (("codes", rank_codes(lp[qids], lp.argmax(-1))),
                       ("continuous", rank_continuous(emb[qids], emb))):
        ranked = np.array([[i for i in row if i != q] for row, q in zip(full.tolist(), qids)])
        n_rel = np.array([np.sum(labels == labels[q]) - 1 for q in qids])
        want |= {f"{name}/{k}": v for k, v in retrieval_metrics(ranked, labels[qids], labels, (1, 5),
                                                                   n_relevant=n_rel).items()}
    assert out == pytest.approx(want, abs=1e-12)
