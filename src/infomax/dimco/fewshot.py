"""N-way K-shot episodes: DIMCO codewords vs a prototypical nearest-class-mean baseline.

DIMCO (Lee et al., arXiv 1905.11656, sec. 2.3): the codeword of a class is the per-dimension argmax of
the mean support probabilities; a query goes to the class with the highest ``log p(codeword | query)``
(``rule="codeword"``). ``rule="histogram"`` (the default) keeps how the support items disagree: per class
and dimension, the share h of its support items' stored codes holding each symbol, and a query scores
``sum_d log sum_k h_d(k) p_d(k | query)``, the log-probability that in every dimension the query's symbol
equals that of a support item drawn at random. ``rule="mean-score"`` averages ``log p(code_s | query)`` over
the class's support items' stored codes. With one shot the three agree. On Omniglot's validation alphabets
the histogram read highest at 5-shot (BENCHMARKS.md, DIMCO: "5-shot: the symbol histogram"), and it needs
only the support items' stored codes, as an index holds them.
The baseline is the nearest class mean of continuous embeddings of the same backbone (squared Euclidean
distance, as in Snell et al., "Prototypical Networks for Few-shot Learning", 2017), on the same episodes.
Accuracy is reported with a 95% confidence interval (1.96 standard errors over episodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infomax.errors import UserError


@dataclass(frozen=True)
class Episode:
    """One episode: indices into the evaluation set and episode labels ``0..n_way-1``.

    Attributes:
        classes: (n_way,) original labels of the episode's classes (episode label j = ``classes[j]``).
        support: (n_way * k_shot,) item indices; ``support_y`` their episode labels.
        query: (n_way * n_query,) item indices; ``query_y`` their episode labels.
    """

    classes: np.ndarray
    support: np.ndarray
    support_y: np.ndarray
    query: np.ndarray
    query_y: np.ndarray


def sample_episodes(
    labels: np.ndarray,
    n_way: int,
    k_shot: int,
    n_query: int,
    n_episodes: int,
    seed: int = 0,
    exclude_classes: np.ndarray | list[int] | tuple[int, ...] = (),
) -> list[Episode]:
    """Draw episodes over the classes of ``labels`` not in ``exclude_classes`` (e.g. the training classes).

    Each episode picks ``n_way`` distinct classes with at least ``k_shot + n_query`` items, then disjoint
    support and query items per class, all uniformly at random with ``numpy.random.default_rng(seed)``.

    Example:
        >>> eps = sample_episodes(np.repeat(np.arange(6), 5), n_way=3, k_shot=1, n_query=2, n_episodes=2)
        >>> len(eps), eps[0].support.shape, eps[0].query.shape
        (2, (3,), (6,))
    """
    labels = np.asarray(labels)
    for name, v in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query), ("n_episodes", n_episodes)):
        if int(v) < 1:
            raise UserError(f"{name} must be >= 1, got {v}")
    if n_way < 2:
        raise UserError(f"n_way must be >= 2, got {n_way}")
    if labels.ndim != 1 or (labels.size and labels.min() < 0):
        raise UserError("episodes need a (N,) array of class labels >= 0 (unlabelled items cannot be used)")
    classes, counts = np.unique(labels, return_counts=True)
    ok = (counts >= k_shot + n_query) & ~np.isin(classes, np.asarray(exclude_classes, dtype=labels.dtype))
    eligible = classes[ok]
    if eligible.size < n_way:
        raise UserError(
            f"{n_way}-way {k_shot}-shot episodes with {n_query} queries need {n_way} classes with >= "
            f"{k_shot + n_query} items outside the excluded ones; only {eligible.size} qualify"
        )
    by_class = {c: np.flatnonzero(labels == c) for c in eligible}
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(n_episodes)):
        chosen = rng.choice(eligible, size=n_way, replace=False)
        sup, qry = [], []
        for c in chosen:
            items = rng.choice(by_class[c], size=k_shot + n_query, replace=False)
            sup.append(items[:k_shot])
            qry.append(items[k_shot:])
        out.append(
            Episode(
                classes=chosen,
                support=np.concatenate(sup),
                support_y=np.repeat(np.arange(n_way), k_shot),
                query=np.concatenate(qry),
                query_y=np.repeat(np.arange(n_way), n_query),
            )
        )
    return out


def class_codewords(support_logprobs: np.ndarray, support_y: np.ndarray, n_way: int) -> np.ndarray:
    """Per class, the argmax over symbols of the mean support probabilities: (n_way, d) int64.

    Example:
        >>> lp = np.log(np.array([[[0.6, 0.4]], [[0.1, 0.9]], [[0.8, 0.2]]]))
        >>> class_codewords(lp, np.array([0, 0, 1]), 2).tolist()  # class 0 mean (0.35, 0.65)
        [[1], [0]]
    """
    p = np.exp(np.asarray(support_logprobs, dtype=np.float64))  # (S, d, k)
    onehot = np.eye(n_way)[support_y]  # (S, n_way)
    mean = np.einsum("sc,sdk->cdk", onehot, p) / onehot.sum(0)[:, None, None]  # (n_way, d, k)
    return mean.argmax(-1)


RULES = ("histogram", "codeword", "mean-score")
DEFAULT_RULE = "histogram"


def check_rule(rule: str) -> None:
    """Raise ``UserError`` (one line naming the rules) unless ``rule`` is one of ``RULES``."""
    if rule not in RULES:
        raise UserError(f"unknown few-shot rule {rule!r}; choose one of {', '.join(RULES)}")


def dimco_predict(
    support_logprobs: np.ndarray,
    support_y: np.ndarray,
    query_logprobs: np.ndarray,
    n_way: int,
    rule: str = DEFAULT_RULE,
) -> np.ndarray:
    """Classify queries by their DIMCO score per class; ties go to the smallest class.

    ``rule="histogram"``: ``sum_d log sum_k h_cd(k) p_d(k | query)`` with ``h_cd`` the share of class c's
    support codes (argmax symbols) holding symbol k in dimension d. ``rule="codeword"``:
    ``log p(codeword_c | query)`` with the class codeword of ``class_codewords`` (the paper's rule).
    ``rule="mean-score"``: the mean of ``log p(code_s | query)`` over the support items ``s`` of class c, each
    scored by its own argmax code. ``histogram`` and ``mean-score`` read only the support items' stored codes.

    Args:
        support_logprobs: (S, d, k) log-probabilities of the support items; ``support_y`` (S,) in
            ``0..n_way-1``.
        query_logprobs: (Q, d, k).

    Returns:
        (Q,) predicted episode labels.

    Example:
        >>> p = np.array([[[0.9, 0.1], [0.9, 0.1]], [[0.45, 0.55], [0.45, 0.55]], [[0.2, 0.8], [0.8, 0.2]]])
        >>> sy = np.array([0, 0, 1])  # class 0: codes (0,0), (1,1), codeword (0,0); class 1: code (1,0)
        >>> q = np.log(np.array([[[0.4, 0.6], [0.1, 0.9]]]))
        >>> dimco_predict(np.log(p), sy, q, 2, "codeword").tolist()  # log .4+log .1 < log .6+log .1
        [1]
        >>> dimco_predict(np.log(p), sy, q, 2, "mean-score").tolist()  # (-3.22 - 0.62) / 2 > -2.81
        [0]
        >>> dimco_predict(np.log(p), sy, q, 2, "histogram").tolist()  # log .5 + log .5 > log(.6 * .1)
        [0]
    """
    from scipy.special import logsumexp

    from infomax.dimco.codes import argmax_codes, similarity

    check_rule(rule)
    if rule == "codeword":
        return similarity(query_logprobs, class_codewords(support_logprobs, support_y, n_way)).argmax(1)
    codes = argmax_codes(np.asarray(support_logprobs))  # (S, d)
    if rule == "mean-score":
        onehot = np.eye(n_way)[support_y]  # (S, n_way)
        return (similarity(query_logprobs, codes) @ onehot / onehot.sum(0)).argmax(1)
    # histogram: sum_k h_cd(k) p_d(k | query) = mean over class c's support items of p_d(code_sd | query)
    d = codes.shape[1]
    at_codes = np.asarray(query_logprobs, dtype=np.float64)[:, np.arange(d), codes]  # (Q, S, d)
    scores = [logsumexp(at_codes[:, support_y == c], axis=1).sum(-1) - d * np.log(np.sum(support_y == c))
              for c in range(n_way)]  # n_way x (Q,)
    return np.stack(scores, 1).argmax(1)


def prototype_predict(
    support_emb: np.ndarray, support_y: np.ndarray, query_emb: np.ndarray, n_way: int
) -> np.ndarray:
    """Nearest class mean (squared Euclidean) of continuous embeddings (prototypical networks)."""
    s = np.asarray(support_emb, dtype=np.float64)
    q = np.asarray(query_emb, dtype=np.float64)
    onehot = np.eye(n_way)[support_y]  # (S, n_way)
    protos = onehot.T @ s / onehot.sum(0)[:, None]  # (n_way, D)
    dist = (q**2).sum(1)[:, None] - 2 * q @ protos.T + (protos**2).sum(1)[None]  # (Q, n_way)
    return dist.argmin(1)


def mean_ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% confidence half-width ``1.96 * std(ddof=1) / sqrt(n)`` (0 for a single value).

    Example:
        >>> m, h = mean_ci95(np.array([0.5, 0.7, 0.9]))
        >>> round(m, 3), round(h, 4)  # std = 0.2 -> 1.96 * 0.2 / sqrt(3)
        (0.7, 0.2263)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise UserError("no values to average")
    half = 1.96 * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    return float(v.mean()), float(half)


def evaluate_fewshot(
    logprobs: np.ndarray | None,
    labels: np.ndarray,
    embeddings: np.ndarray | None = None,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_episodes: int = 600,
    seed: int = 0,
    exclude_classes: np.ndarray | list[int] | tuple[int, ...] = (),
    rule: str = DEFAULT_RULE,
) -> dict[str, float]:
    """Few-shot accuracy of DIMCO codes (and of the prototype baseline on ``embeddings``) on shared episodes.

    Args:
        logprobs: (N, d, k) log-probabilities of the evaluation items (None: prototypes only).
        labels: (N,) their classes (must be classes unseen in training; pass the training classes as
            ``exclude_classes`` when both come from one label space).
        embeddings: optional (N, D) continuous embeddings of the same backbone for the baseline.
        rule: how codes score a class (``dimco_predict``): ``"histogram"`` (default), ``"codeword"`` (the
            paper) or ``"mean-score"``.

    Returns:
        ``{"dimco_acc", "dimco_ci95", "proto_acc", "proto_ci95", "episodes", "n_way", "k_shot", "n_query"}``
        (accuracies in [0, 1]; the proto entries only with ``embeddings``, the dimco ones only with
        ``logprobs``).
    """
    if logprobs is None and embeddings is None:
        raise UserError("few-shot evaluation needs codes (logprobs) or embeddings")
    check_rule(rule)
    logprobs = None if logprobs is None else np.asarray(logprobs)
    if logprobs is not None and (logprobs.ndim != 3 or logprobs.shape[0] != len(labels)):
        raise UserError(
            f"logprobs must be (N, d, k) with N = len(labels) = {len(labels)}, got {logprobs.shape}"
        )
    if embeddings is not None and len(embeddings) != len(labels):
        raise UserError(f"embeddings must have {len(labels)} rows, got {len(embeddings)}")
    episodes = sample_episodes(labels, n_way, k_shot, n_query, n_episodes, seed, exclude_classes)
    acc_codes, acc_proto = [], []
    for ep in episodes:
        if logprobs is not None:
            pred = dimco_predict(logprobs[ep.support], ep.support_y, logprobs[ep.query], n_way, rule)
            acc_codes.append(np.mean(pred == ep.query_y))
        if embeddings is not None:
            pred = prototype_predict(embeddings[ep.support], ep.support_y, embeddings[ep.query], n_way)
            acc_proto.append(np.mean(pred == ep.query_y))
    out = {"episodes": len(episodes), "n_way": n_way, "k_shot": k_shot, "n_query": n_query}
    if acc_codes:
        out["dimco_acc"], out["dimco_ci95"] = mean_ci95(np.array(acc_codes))
    if acc_proto:
        out["proto_acc"], out["proto_ci95"] = mean_ci95(np.array(acc_proto))
    return out
