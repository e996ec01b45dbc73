"""Few-shot episodes: class disjointness, codewords, prototypes, CI math."""

from __future__ import annotations

import numpy as np
import pytest

from infomax.dimco.fewshot import (
    class_codewords,
    dimco_predict,
    evaluate_fewshot,
    mean_ci95,
    prototype_predict,
    sample_episodes,
)
from infomax.errors import UserError


def test_episodes_never_use_excluded_classes_and_are_disjoint() -> None:
    labels = np.repeat(np.arange(20), 6)
    train = np.arange(0, 20, 2)  # even classes were "seen in training"
    eps = sample_episodes(labels, n_way=5, k_shot=2, n_query=3, n_episodes=200, seed=1, exclude_classes=train)
    for ep in eps:
        assert not np.isin(labels[ep.support], train).any() and not np.isin(labels[ep.query], train).any()
        assert len(set(ep.classes.tolist())) == 5
        assert not set(ep.support.tolist()) & set(ep.query.tolist())
        assert np.array_equal(labels[ep.support], ep.classes[ep.support_y])
        assert np.array_equal(labels[ep.query], ep.classes[ep.query_y])
    used = {c for ep in eps for c in ep.classes.tolist()}
    assert used == set(range(1, 20, 2))
    again = sample_episodes(labels, 5, 2, 3, 200, seed=1, exclude_classes=train)
    assert all(np.array_equal(a.query, b.query) for a, b in zip(eps, again))


def test_episode_bad_input() -> None:
    labels = np.repeat(np.arange(4), 3)
    with pytest.raises(UserError, match="only 2 qualify"):
        sample_episodes(labels, 3, 1, 1, 5, exclude_classes=[0, 1])
    with pytest.raises(UserError, match=">= 4 items"):
        sample_episodes(labels, 2, 2, 2, 5)
    with pytest.raises(UserError, match="unlabelled"):
        sample_episodes(np.array([0, 1, -1]), 2, 1, 1, 1)
    with pytest.raises(UserError, match="n_way"):
        sample_episodes(labels, 1, 1, 1, 1)


def test_codewords_and_prediction_by_hand() -> None:
    p = np.array(
        [
            [[0.6, 0.4], [0.9, 0.1]],  # class 0
            [[0.2, 0.8], [0.7, 0.3]],  # class 0 -> mean (0.4, 0.6), (0.8, 0.2) -> codeword (1, 0)
            [[0.9, 0.1], [0.2, 0.8]],  # class 1 -> codeword (0, 1)
        ]
    )
    sy = np.array([0, 0, 1])
    assert class_codewords(np.log(p), sy, 2).tolist() == [[1, 0], [0, 1]]
    q = np.log(np.array([[[0.3, 0.7], [0.6, 0.4]], [[0.6, 0.4], [0.45, 0.55]]]))
    # query 0: class0 0.7*0.6=0.42 vs class1 0.3*0.4=0.12; query 1: 0.4*0.45=0.18 vs 0.6*0.55=0.33
    assert dimco_predict(np.log(p), sy, q, 2).tolist() == [0, 1]


def _mean_score_by_loop(support_lp, support_y, query_lp, n_way):
    """Reference for rule="mean-score": per query and class, the mean over support items of the sum over
    dimensions of the query's log-probability of that item's argmax symbol."""
    preds = []
    for q in query_lp:
        best, best_c = -np.inf, 0
        for c in range(n_way):
            total, count = 0.0, 0
            for s, y in zip(support_lp, support_y):
                if y == c:
                    total += sum(q[j, int(np.argmax(s[j]))] for j in range(s.shape[0]))
                    count += 1
            if total / count > best:
                best, best_c = total / count, c
        preds.append(best_c)
    return preds


@pytest.mark.parametrize("k_shot", [1, 3, 5])
def test_mean_score_rule_matches_a_loop(k_shot: int) -> None:
    rng = np.random.default_rng(k_shot)
    n_way, d, k = 4, 6, 5
    logits = rng.standard_normal((n_way * k_shot + 12, d, k))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    sy = np.repeat(np.arange(n_way), k_shot)
    sup, qry = lp[: n_way * k_shot], lp[n_way * k_shot :]
    got = dimco_predict(sup, sy, qry, n_way, rule="mean-score").tolist()
    assert got == _mean_score_by_loop(sup, sy, qry, n_way)
    if k_shot == 1:  # one shot: the class codeword is the item's own code
        assert got == dimco_predict(sup, sy, qry, n_way, rule="codeword").tolist()


def _histogram_by_loop(support_lp, support_y, query_lp, n_way):
    """Reference for rule="histogram": per query and class, the sum over dimensions of the log of the mean,
    over the class's support items, of the query's probability of that item's argmax symbol."""
    preds = []
    for q in query_lp:
        best, best_c = -np.inf, 0
        for c in range(n_way):
            items = [s for s, y in zip(support_lp, support_y) if y == c]
            total = 0.0
            for j in range(q.shape[0]):
                total += np.log(sum(np.exp(q[j, int(np.argmax(s[j]))]) for s in items) / len(items))
            if total > best:
                best, best_c = total, c
        preds.append(best_c)
    return preds


@pytest.mark.parametrize("k_shot", [1, 3, 5])
def test_histogram_rule_matches_a_loop(k_shot: int) -> None:
    rng = np.random.default_rng(10 + k_shot)
    n_way, d, k = 4, 6, 3  # 3 symbols: support items of a class often share a symbol
    logits = 2 * rng.standard_normal((n_way * k_shot + 40, d, k))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    sy = np.repeat(np.arange(n_way), k_shot)
    sup, qry = lp[: n_way * k_shot], lp[n_way * k_shot :]
    got = dimco_predict(sup, sy, qry, n_way, rule="histogram").tolist()
    assert got == _histogram_by_loop(sup, sy, qry, n_way)
    codeword = dimco_predict(sup, sy, qry, n_way, rule="codeword").tolist()
    if k_shot == 1:  # one shot: the histogram is the item's own code, which is the class codeword
        assert got == codeword
    else:  # the rules differ on some queries (on this draw), so the test tells them apart
        assert got != codeword


def test_histogram_rule_survives_saturated_probabilities() -> None:
    # a query sure of symbol 0, whose other symbols have log p -800 and -900: exp() of both underflows to 0,
    # so a plain log(sum h p) ties every class at -inf; the scores must stay -900 (class 0, symbol 2 twice)
    # and -800 (class 1, symbol 1 twice), ranking class 1 first
    q = np.array([[[0.0, -800.0, -900.0]]])  # (1, d=1, k=3)
    sup = np.log(np.array([[[0.1, 0.1, 0.8]], [[0.1, 0.1, 0.8]], [[0.1, 0.8, 0.1]], [[0.1, 0.8, 0.1]]]))
    sy = np.array([0, 0, 1, 1])
    assert dimco_predict(sup, sy, q, 2, rule="histogram").tolist() == [1]
    assert dimco_predict(sup, sy[::-1].copy(), q, 2, rule="histogram").tolist() == [0]


def test_unknown_fewshot_rule() -> None:
    lp = np.log(np.full((4, 2, 2), 0.5))
    with pytest.raises(UserError, match="unknown few-shot rule 'vote'"):
        evaluate_fewshot(lp, np.array([0, 0, 1, 1]), n_way=2, n_query=1, n_episodes=1, rule="vote")


def test_prototype_predict_by_hand() -> None:
    s = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    pred = prototype_predict(s, np.array([0, 0, 1]), np.array([[1.0, 1.0], [6.0, 6.0], [5.0, 5.0]]), 2)
    assert pred.tolist() == [0, 1, 0]  # class means (1, 0) and (10, 10); (5,5): 32 vs 50


def test_mean_ci95_math() -> None:
    v = np.array([0.2, 0.4, 0.4, 0.8])
    m, h = mean_ci95(v)
    sd = np.sqrt(((v - 0.45) ** 2).sum() / 3)
    assert m == pytest.approx(0.45) and h == pytest.approx(1.96 * sd / 2)
    assert mean_ci95(np.array([0.3])) == (0.3, 0.0)


def test_evaluate_fewshot_perfect_and_chance() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 8)
    d, k = 4, 10
    logits = 10 * np.eye(k)[np.stack([labels] * d, 1)]  # each class owns a symbol in every dim
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    emb = np.eye(10)[labels] + 0.01 * rng.standard_normal((80, 10))
    out = evaluate_fewshot(lp, labels, emb, n_way=5, k_shot=1, n_query=3, n_episodes=600)
    assert out["dimco_acc"] == 1.0 and out["proto_acc"] == 1.0 and out["episodes"] == 600
    noise = rng.standard_normal((80, d, k))
    lpn = noise - np.log(np.exp(noise).sum(-1, keepdims=True))
    out = evaluate_fewshot(lpn, labels, rng.standard_normal((80, 6)), n_way=5, n_query=3, n_episodes=600)
    for key in ("dimco", "proto"):  # labels independent of features: chance level 1/5 within the CI
        assert abs(out[f"{key}_acc"] - 0.2) < 3 * out[f"{key}_ci95"]
