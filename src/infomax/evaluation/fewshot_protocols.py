"""``infomax eval`` protocols for DIMCO runs: few-shot episodes and retrieval on classes unseen in training.

Both compare the run's discrete codes (Lee et al., "Discrete Infomax Codes for Supervised Representation
Learning", arXiv 1905.11656) with continuous embeddings of the *same* backbone on the *same* items:

- ``fewshot``: N-way K-shot episodes; codes classify a query by ``infomax.dimco.fewshot.dimco_predict``
  (default: the symbol histogram of the class's support codes; ``rule="codeword"``: the highest
  ``log p(codeword | query)``, the DIMCO paper's rule), the baseline by the nearest
  class mean of the continuous embedding (prototypical networks, Snell et al. 2017); accuracy with a 95%
  confidence interval over the episodes (both methods see the same episodes).
- ``retrieval``: leave-one-out search of the unseen-class test items; codes ranked exactly by the DIMCO
  similarity, embeddings exactly by cosine; precision@k, recall@k and mAP.

Unseen classes: the test items whose class is either absent from the training split by name (Omniglot:
the evaluation alphabets are disjoint from the background ones) or held out from training by the run's
``holdout_classes`` (CIFAR-10, Fashion-MNIST). A run that saw every test class is a UserError.

``layer`` names the continuous embedding of the baseline; ``None`` or ``"logprobs"`` (the code layer
itself) mean the backbone feature the code head reads (``encoder.feature_layer``).

A run without codes (a continuous embedding, e.g. ``protonet``) gets the continuous half only (no
``codes_*`` entries): prototypes / cosine ranking of ``layer`` (default: the method's
``embedding_layer``, else the encoder's output layer), on the same episodes and queries as a DIMCO run of
the same data and seed.

Example:
    >>> from infomax.evaluation import PROTOCOLS  # doctest: +SKIP
    >>> r = PROTOCOLS["fewshot"](run, splits, "fc", n_way=20, k_shot=1)  # doctest: +SKIP
    >>> r["codes_accuracy"], r["continuous_accuracy"]  # doctest: +SKIP
    (0.81, 0.84)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from infomax.errors import UserError
from infomax.evaluation.features import array_key, as_encoder, cached, check_layer, extract_features

CODE_LAYER = "logprobs"


def code_shape(encoder: Any) -> tuple[int, int]:
    """``(d, k)`` of a DIMCO encoder (its ``code_shape`` buffer); a UserError for any other encoder."""
    shape = getattr(encoder, "code_shape", None)
    if shape is None or CODE_LAYER not in getattr(encoder, "layers", ()):
        raise UserError(
            f"the few-shot and retrieval protocols need a DIMCO run (discrete codes); "
            f"this encoder ({type(encoder).__name__}) has no {CODE_LAYER!r} layer"
        )
    d, k = (int(v) for v in np.asarray(shape.tolist() if hasattr(shape, "tolist") else shape).ravel())
    return d, k


def _holdout(obj: Any) -> set[int]:
    """The labels a run / method held out of training (its ``holdout`` buffer), else empty."""
    method = obj.method if hasattr(obj, "method") else obj
    held = getattr(method, "holdout", None)
    if held is None:
        return set()
    return {int(v) for v in np.asarray(held.tolist() if hasattr(held, "tolist") else held).ravel()}


def unseen_test_items(
    obj: Any, splits: Any, unseen_classes: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``(images, labels, unseen labels)`` of the test items whose class was never trained on.

    A test class is unseen when its name is not a training class name (``ImageArrays.classes``) or its
    label is in the run's ``holdout_classes``; ``unseen_classes`` overrides both (test labels).

    Example:
        >>> images, labels, unseen = unseen_test_items(run, splits)  # doctest: +SKIP
        >>> unseen  # Fashion-MNIST trained with holdout_classes=(5, 6, 7, 8, 9)  # doctest: +SKIP
        [5, 6, 7, 8, 9]
    """
    test = splits.test
    labels = np.asarray(test.labels)
    present = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    if unseen_classes is not None:
        unseen = sorted({int(c) for c in unseen_classes})
        missing = [c for c in unseen if c not in present]
        if missing:
            raise UserError(f"unseen_classes {missing} have no items in the test split")
    else:
        test_names = list(
            getattr(test, "classes", None) or [str(c) for c in range(max(present, default=-1) + 1)]
        )
        train_names = set(getattr(splits.train, "classes", None) or [])
        if not train_names:
            train_labels = np.asarray(splits.train.labels)
            train_names = {str(c) for c in np.unique(train_labels[train_labels >= 0])}
        held = _holdout(obj)

        def name(c: int) -> str:
            return str(test_names[c]) if c < len(test_names) else str(c)

        unseen = [c for c in present if c in held or name(c) not in train_names]
    if not unseen:
        raise UserError(
            "every test class was seen in training: evaluate few-shot / retrieval on unseen classes by "
            "training with --set holdout_classes=... (e.g. 5,6,7,8,9) or on omniglot"
        )
    keep = np.isin(labels, unseen)
    # one copy per eval: the same array for every layer, so the feature cache recognises the images
    images = np.asarray(test.images)
    key = None if array_key(images) is None else ("unseen items", array_key(images), tuple(unseen))
    return cached(key, lambda: images[keep], keep=images), labels[keep], unseen


def has_codes(encoder: Any) -> bool:
    """Whether ``encoder`` produces DIMCO codes (a ``code_shape`` buffer and the ``logprobs`` layer)."""
    return getattr(encoder, "code_shape", None) is not None and CODE_LAYER in getattr(encoder, "layers", ())


def _embedding_layer(obj: Any, encoder: Any, layer: str | None) -> str:
    if layer in (None, CODE_LAYER):
        method = obj.method if hasattr(obj, "method") else obj
        layer = (getattr(encoder, "feature_layer", None) or getattr(method, "embedding_layer", None)
                 or (None if has_codes(encoder) else getattr(encoder, "output_layer", None)))
        if layer is None:
            raise UserError("name the continuous embedding layer for the baseline (e.g. fc)")
    return check_layer(encoder, layer)


def codes_and_embeddings(
    obj: Any,
    splits: Any,
    layer: str | None = None,
    unseen_classes: Sequence[int] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
) -> dict[str, Any]:
    """The unseen-class test items under a run: log-probabilities (N, d, k) of a DIMCO run (None for a run
    without codes), embeddings (N, D), labels.

    Returns:
        ``{"logprobs", "embeddings", "labels", "unseen", "layer", "d", "k"}`` (``d``, ``k`` None without
        codes).
    """
    encoder = as_encoder(obj)
    d, k = code_shape(encoder) if has_codes(encoder) else (None, None)
    emb_layer = _embedding_layer(obj, encoder, layer)
    images, labels, unseen = unseen_test_items(obj, splits, unseen_classes)
    logprobs = None
    if d is not None:
        logprobs = extract_features(encoder, images, CODE_LAYER, batch_size, device, split="test (unseen)")
        logprobs = logprobs.reshape(-1, d, k)
    embeddings = extract_features(encoder, images, emb_layer, batch_size, device, split="test (unseen)")
    return {
        "logprobs": logprobs,
        "embeddings": embeddings,
        "labels": labels,
        "unseen": unseen,
        "layer": emb_layer,
        "d": d,
        "k": k,
    }


def _memory(data: dict[str, Any]) -> dict[str, Any]:
    from infomax.dimco.codes import code_bits, code_bytes

    cont_b = int(data["embeddings"].shape[1]) * 4  # float32
    if data["d"] is None:
        return {"continuous_dim": int(data["embeddings"].shape[1]), "continuous_bytes": cont_b}
    code_b = code_bytes(data["d"], data["k"])
    return {
        "d": data["d"],
        "k": data["k"],
        "code_bits": code_bits(data["d"], data["k"]),
        "code_bytes": code_b,
        "continuous_dim": int(data["embeddings"].shape[1]),
        "continuous_bytes": cont_b,
        "compression": cont_b / code_b,
    }


def _once(data: dict[str, Any], scored: str, protocol: str, kw: dict[str, Any], compute: Any) -> dict:
    """``compute()``, the results of ``protocol`` on ``data[scored]`` (the codes' log-probabilities or an
    embedding), once per eval: every layer of ``--layer all`` shares the codes' half, and layers that resolve
    to the same embedding (``logprobs`` and the feature the code head reads) share the continuous half."""
    labels = np.ascontiguousarray(data["labels"])
    key = (protocol, array_key(data[scored]), labels.tobytes(), tuple(sorted(kw.items())))
    return cached(key if key[1] is not None else None, compute, keep=data[scored])


def fewshot_protocol(
    obj: Any,
    splits: Any,
    layer: str | None = None,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_episodes: int = 600,
    seed: int = 0,
    unseen_classes: Sequence[int] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    rule: str | None = None,
    **_: object,
) -> dict[str, Any]:
    """N-way K-shot accuracy of DIMCO codes vs prototypes of the continuous ``layer``, same episodes.

    Args:
        obj: a DIMCO run, method or encoder.
        splits: ``DataSplits``; episodes are drawn from the test items of unseen classes only.
        layer: continuous embedding for the baseline (default: the feature the code head reads).
        n_way, k_shot, n_query: classes per episode, support and query items per class.
        n_episodes: episodes (>= 600 for the usual 95% CI).
        seed: episode sampling seed.
        unseen_classes: override which test labels count as unseen.
        rule: how codes score a class (``infomax.dimco.fewshot.RULES``; default ``DEFAULT_RULE``).

    Returns:
        ``codes_accuracy``, ``codes_ci95``, ``continuous_accuracy``, ``continuous_ci95`` (in [0, 1]; the CI
        is the half-width 1.96 sd / sqrt(episodes)), the episode settings, ``n_classes`` / ``n_items``
        available, and the memory per item (``code_bytes``, ``continuous_bytes``, ``compression``).
    """
    from infomax.dimco.fewshot import DEFAULT_RULE, evaluate_fewshot

    rule = rule or DEFAULT_RULE
    data = codes_and_embeddings(obj, splits, layer, unseen_classes, batch_size, device)
    kw = dict(n_way=int(n_way), k_shot=int(k_shot), n_query=int(n_query), n_episodes=int(n_episodes),
              seed=int(seed), rule=rule)
    # the same episodes for both halves, each computed once per eval (a new dict: cached results stay intact)
    r = _once(data, "embeddings", "fewshot", kw,
              lambda: evaluate_fewshot(None, data["labels"], data["embeddings"], **kw))
    if data["logprobs"] is not None:
        r = r | _once(data, "logprobs", "fewshot", kw,
                      lambda: evaluate_fewshot(data["logprobs"], data["labels"], **kw))
    return {
        "protocol": "fewshot",
        **({} if data["d"] is None else {"rule": rule}),
        "layer": data["layer"],
        "n_way": int(n_way),
        "k_shot": int(k_shot),
        "n_query": int(n_query),
        "episodes": int(r["episodes"]),
        **({} if data["d"] is None else {"codes_accuracy": r["dimco_acc"], "codes_ci95": r["dimco_ci95"]}),
        "continuous_accuracy": r["proto_acc"],
        "continuous_ci95": r["proto_ci95"],
        "n_classes": len(data["unseen"]),
        "n_items": len(data["labels"]),
        **_memory(data),
    }


def retrieval_protocol(
    obj: Any,
    splits: Any,
    layer: str | None = None,
    ks: Sequence[int] = (1, 10),
    max_queries: int | None = 1000,
    seed: int = 0,
    unseen_classes: Sequence[int] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    **_: object,
) -> dict[str, Any]:
    """Leave-one-out retrieval on unseen-class test items: codes (exact DIMCO similarity) vs cosine.

    Every unseen-class test item is in the database; ``max_queries`` of them (random, ``seed``) each rank
    all the others. Relevant = same class.

    Returns:
        ``codes/precision@k``, ``codes/recall@k``, ``codes/mAP`` and the same under ``continuous/``, plus
        ``n_queries``, ``n_items``, ``n_classes`` and the memory per item.
    """
    from infomax.dimco.retrieval import evaluate_retrieval

    ks = tuple(int(k) for k in ks)
    data = codes_and_embeddings(obj, splits, layer, unseen_classes, batch_size, device)
    n = len(data["labels"])
    if n < 2:
        raise UserError("retrieval needs at least two unseen-class test items")
    if max(ks) > n - 1:
        raise UserError(f"cut-offs {ks} must be <= {n - 1} (the other items of the database)")
    kw = dict(ks=ks, max_queries=max_queries, seed=int(seed))
    r = _once(data, "embeddings", "retrieval", kw,
              lambda: evaluate_retrieval(None, data["labels"], data["embeddings"], **kw))
    if data["logprobs"] is not None:
        r = _once(data, "logprobs", "retrieval", kw,
                  lambda: evaluate_retrieval(data["logprobs"], data["labels"], **kw)) | r
    return {
        "protocol": "retrieval",
        "layer": data["layer"],
        **r,
        "n_queries": n if max_queries is None else min(int(max_queries), n),
        "n_items": n,
        "n_classes": len(data["unseen"]),
        **_memory(data),
    }
