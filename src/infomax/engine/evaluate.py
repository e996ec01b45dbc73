"""The end-of-training evaluation: a linear probe on every layer of the trained encoder and the baselines.

Protocol (Hjelm et al., ICLR 2019, sec. 4.2 / Table 4, linear evaluation): freeze the encoder, extract
each layer's features, fit a multinomial logistic regression on standardized features of the labelled
train split (``infomax.evaluation.PROTOCOLS["linear"]``: its C chosen on val), report its accuracy on the
test split, as ``infomax eval RUN_DIR --protocol linear`` does. The baselines are probed the same way: an
untrained encoder of the same architecture (the trained run's own initial weights) and a supervised
encoder (method ``"supervised"``) trained with the same budget.

The cost is bounded: the probe fits on at most ``final_probe_samples`` train images (a stratified sample
with a fixed seed, :func:`stratified_indices`; default 10,000) and tries only ``final_probe_cs``
(default two C values); val and test are used whole. On CIFAR-10 (45,000 train images, 4,096-dim conv
features) this took the final evaluation from minutes to well under a minute per encoder; ``infomax eval``
still runs the full protocol by default. The sample counts are recorded in ``metrics.json``.

Data whose test classes are all unseen in training (Omniglot: background alphabets to train, evaluation
alphabets to test) cannot be scored by a probe fit on the train classes: there the final evaluation is
few-shot instead (:func:`final_fewshot`: 5-way 1-shot episodes on the test split, nearest class mean of
each layer's features, on a code layer the query's log-probability of the support code), as ``infomax eval
RUN --protocol fewshot``.

Example:
    >>> final = final_linear_probe({"trained": enc, "random": enc0}, splits, ("conv", "fc", "y"),
    ...                            max_train=10000, cs=(0.01, 0.1))  # doctest: +SKIP
    >>> final["accuracy"]["fc"]["trained"], final["n_train"]  # doctest: +SKIP
    (0.93, 10000)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from infomax.evaluation.features import feature_cache
from infomax.progress import bar

#: Seed of the stratified train sample of the final probe (fixed: every run probes the same images).
SAMPLE_SEED = 0


def linear_protocol() -> Callable[..., dict]:
    """``infomax.evaluation.PROTOCOLS["linear"]`` (C chosen on val, test accuracy)."""
    from infomax.evaluation import PROTOCOLS

    return PROTOCOLS["linear"]


def knn_protocol() -> Callable[..., dict]:
    """``infomax.evaluation.PROTOCOLS["knn"]`` (weighted cosine kNN, k=20)."""
    from infomax.evaluation import PROTOCOLS

    return PROTOCOLS["knn"]


def stratified_indices(labels: np.ndarray, n: int | None, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Sorted indices of at most ``n`` labelled items (label >= 0), class proportions kept.

    Each class gets ``floor(n * count_c / N)`` items, the leftover ones go to the classes with the
    largest fractional parts (then the smaller class label); within a class the items are the first of a
    ``numpy.random.default_rng(seed)`` permutation. ``n`` None or >= N: every labelled item.

    Args:
        labels: int (N,) class labels, -1 for unlabelled items.
        n: sample size.
        seed: permutation seed.

    Returns:
        int64 (min(n, N_labelled),) indices into ``labels``, ascending.

    Example:
        >>> stratified_indices(np.array([0, 0, 0, 0, 1, 1, -1]), 3).tolist()
        [2, 3, 5]
    """
    labels = np.asarray(labels)
    labelled = np.flatnonzero(labels >= 0)
    if n is None or n >= len(labelled):
        return labelled.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(labelled)
    classes, counts = np.unique(labels[labelled], return_counts=True)
    quota = counts * (n / len(labelled))
    take = np.floor(quota).astype(np.int64)
    extra = n - int(take.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(quota[i] - take[i]), classes[i]))
    take[order[:extra]] += 1
    perm_labels = labels[perm]
    chosen = [perm[perm_labels == c][:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def subsample_split(arrays: Any, n: int | None, seed: int = SAMPLE_SEED) -> Any:
    """A copy of an ``ImageArrays`` keeping a stratified sample of at most ``n`` labelled items."""
    idx = stratified_indices(arrays.labels, n, seed)
    return dataclasses.replace(arrays, images=np.asarray(arrays.images)[idx],
                               labels=np.asarray(arrays.labels)[idx])


def subsample_splits(splits: Any, max_train: int | None, seed: int = SAMPLE_SEED,
                     max_eval: int | None = None) -> Any:
    """``splits`` with ``train`` cut to a stratified sample of at most ``max_train`` labelled items and
    ``val`` and ``test`` to at most ``max_eval`` (None: untouched); ``splits`` itself when no cut is
    needed."""
    cut = {}
    for name, n in (("train", max_train), ("val", max_eval), ("test", max_eval)):
        arrays = getattr(splits, name)
        if n is not None and n < _n_labelled(arrays):
            cut[name] = subsample_split(arrays, n, seed)
    return dataclasses.replace(splits, **cut) if cut else splits


def affordable_samples(seconds: float, image_seconds: float, n_encoders: int, num_classes: int,
                       counts: tuple[int, int, int], floor: int = 500) -> tuple[int | None, int | None]:
    """``(max_train, max_eval)`` so that probing one layer of ``n_encoders`` encoders fits in ``seconds``.

    The cost model: every train, val and test image is encoded once per encoder (``image_seconds`` each,
    measured), and fitting the probe costs about ``1 + num_classes / 50`` times as much again (the
    logistic regression's work grows with the classes). When the whole splits do not fit, all three are
    scaled by the same factor, to at least ``floor`` items each (None: no cut needed).

    Example:
        >>> affordable_samples(30.0, 1e-4, 3, 10, (10000, 6000, 10000))  # 3 x 26000 x 1e-4 x 2.2 = 17 s
        (None, None)
        >>> affordable_samples(6.0, 1e-4, 3, 10, (10000, 6000, 10000))  # scaled by 6 / 17.16
        (3496, 3496)
    """
    per_image = image_seconds * n_encoders * (1.0 + 1.0 + num_classes / 50.0)
    total = sum(counts)
    if total * per_image <= seconds:
        return None, None
    scale = max(seconds / (total * per_image), 0.0)
    n_train = max(floor, int(counts[0] * scale))
    n_eval = max(floor, int(max(counts[1], counts[2]) * scale))
    return n_train, n_eval


def _n_labelled(arrays: Any) -> int:
    return int((np.asarray(arrays.labels) >= 0).sum())


def probe_order(layers: Sequence[str], output_layer: str | None) -> list[str]:
    """The order the final probes visit ``layers`` in when time may run out: the output layer first, then
    the others from the last (smallest, usually) to the first.

    Example:
        >>> probe_order(("conv", "fc", "y"), "y")
        ['y', 'fc', 'conv']
    """
    rest = [layer for layer in reversed(layers) if layer != output_layer]
    return ([output_layer] if output_layer in layers else []) + rest


def final_linear_probe(
    encoders: dict[str, nn.Module],
    splits: Any,
    layers: tuple[str, ...] | list[str],
    max_train: int | None = 10000,
    cs: Sequence[float] = (0.01, 0.1),
    device: str = "cpu",
    protocol_name: str = "linear",
    deadline: float | None = None,
    max_eval: int | None = None,
    progress: bool = False,
    first: str | None = None,
) -> dict[str, Any] | None:
    """The ``"final"`` block of ``metrics.json``: linear-probe test accuracy per layer and encoder, with the
    sample counts, the C values tried and chosen, and the time taken. None if probes are unavailable or
    the data has fewer than two labelled classes or no labelled test items.

    Args:
        encoders: name -> frozen encoder (e.g. ``{"trained": ..., "random": ..., "supervised": ...}``).
        splits: a ``DataSplits``; the probe is fit on (a stratified sample of) ``train``, its C chosen on
            ``val``, and scored on the whole ``test`` split.
        layers: encoder layers to probe.
        max_train: at most this many train images (stratified, seed :data:`SAMPLE_SEED`); None = all.
        cs: C values tried (inverse L2 strength of the logistic regression).
        device: where features are extracted and probes fit.
        protocol_name: ``"linear"``, or ``"knn"`` for the weighted kNN probe on the same sample (no C:
            ``cs`` is ignored and the record has no ``"cs"``/``"C"``).
        deadline: a ``time.monotonic()`` value: layers are probed one at a time (every encoder on a layer
            before the next layer); the first is always probed, and the layers not started by the deadline
            are skipped (listed under ``"skipped_layers"``). None = no limit.
        progress: a labelled progress bar (one step per layer and encoder) on stderr.
        max_eval: at most this many val and test images each (stratified, fixed seed; None = whole, the
            default): for a final evaluation with a small time budget (:func:`affordable_samples`).
        first: with a ``deadline``, the layer probed first (the output layer); the others follow from the
            last to the first (:func:`probe_order`). The result lists layers in the order of ``layers``.

    Returns:
        ``{"protocol": "linear", "split": "test", "n_train", "n_train_available", "n_val", "n_test",
        "cs", "C": {layer: {name: C}}, "seconds", "accuracy": {layer: {name: accuracy}}}`` (+
        ``"skipped_layers"`` when the deadline cut the probes short).
    """
    linear = protocol_name == "linear"
    protocol = linear_protocol() if linear else knn_protocol()
    labels = np.asarray(splits.train.labels)
    if len(np.unique(labels[labels >= 0])) < 2 or _n_labelled(splits.test) == 0:
        return None
    t0 = time.monotonic()
    sample = subsample_splits(splits, max_train, max_eval=max_eval)
    acc: dict[str, dict[str, float]] = {}
    chosen: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    with feature_cache(layers), bar(total=len(layers) * len(encoders), desc=f"final {protocol_name} probe",
                                    unit="probe", enabled=None if progress else False) as progress_bar:
        for i, layer in enumerate(probe_order(layers, first) if deadline is not None else layers):
            if i > 0 and deadline is not None and time.monotonic() >= deadline:  # the first layer always
                skipped.append(layer)
                progress_bar.update(len(encoders))
                continue
            for name, enc in encoders.items():
                progress_bar.set_description(f"final {protocol_name} probe: {layer} of {name}")
                res = protocol(enc, sample, layer, device=device, **({"Cs": tuple(cs)} if linear else {}))
                acc.setdefault(layer, {})[name] = float(res["accuracy"])
                if "C" in res:
                    chosen.setdefault(layer, {})[name] = float(res["C"])
                progress_bar.update(1)
    out = {"protocol": protocol_name, "split": "test", "n_train": _n_labelled(sample.train),
           "n_train_available": _n_labelled(splits.train), "n_val": _n_labelled(sample.val),
           "n_test": _n_labelled(sample.test)}
    if _n_labelled(sample.test) < _n_labelled(splits.test):
        out["n_test_available"] = _n_labelled(splits.test)
    if linear:
        out.update({"cs": [float(c) for c in cs], "C": chosen})
    if skipped:
        out["skipped_layers"] = [layer for layer in layers if layer in skipped]
    acc = {layer: acc[layer] for layer in layers if layer in acc}
    return {**out, "seconds": round(time.monotonic() - t0, 2), "accuracy": acc}


def class_names(arrays: Any) -> set[str]:
    """The names of the labelled classes present in a split (``ImageArrays.classes``, else the labels)."""
    labels = np.asarray(arrays.labels)
    present = np.unique(labels[labels >= 0])
    names = list(getattr(arrays, "classes", None) or [])
    return {str(names[c]) if c < len(names) else str(c) for c in present.tolist()}


def disjoint_classes(splits: Any) -> bool:
    """True when no labelled test class is a training class, by name (few-shot data such as Omniglot,
    whose evaluation alphabets reuse the label numbers of other characters).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> disjoint_classes(NS(train=NS(labels=[0, 1], classes=["a", "b"]),
        ...                     test=NS(labels=[0, 1], classes=["c", "d"])))
        True
    """
    seen, unseen = class_names(splits.train), class_names(splits.test)
    return bool(seen) and bool(unseen) and not seen & unseen


def final_fewshot(
    encoders: dict[str, nn.Module],
    splits: Any,
    layers: tuple[str, ...] | list[str],
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_episodes: int = 600,
    device: str = "cpu",
    deadline: float | None = None,
    progress: bool = False,
    first: str | None = None,
) -> dict[str, Any] | None:
    """The ``"final"`` block for data whose test classes are unseen in training: few-shot accuracy per layer.

    The same episodes (seed 0) for every layer and encoder, drawn from the test split
    (:func:`infomax.dimco.fewshot.sample_episodes`); a query goes to the nearest class mean of the layer's
    flattened features (prototypical networks), or, on a DIMCO encoder's code layer, to the class scored
    highest by :func:`infomax.dimco.fewshot.dimco_predict` (at one shot: whose support code the query gives
    the highest log-probability). ``deadline`` and ``first`` as in
    :func:`final_linear_probe`. On a test split cut short (``max_items``) ``n_query`` shrinks to what
    ``n_way`` of its classes hold (recorded); None when not even one query per class fits.

    Returns:
        ``{"protocol": "fewshot", "split": "test", "n_way", "k_shot", "n_query", "episodes", "n_test",
        "n_classes", "seconds", "accuracy": {layer: {name: acc}}, "ci95": {layer: {name: half-width}}}``
        (+ ``"skipped_layers"``).
    """
    from infomax.dimco.fewshot import evaluate_fewshot
    from infomax.evaluation.features import extract_features
    from infomax.evaluation.fewshot_protocols import CODE_LAYER, code_shape, has_codes

    test = splits.test
    labels = np.asarray(test.labels)
    keep = np.flatnonzero(labels >= 0)
    labels = labels[keep]
    classes, counts = np.unique(labels, return_counts=True)
    fits = np.sort(counts)[::-1][n_way - 1] - k_shot if classes.size >= n_way else 0  # n_way-th largest
    n_query = int(min(n_query, fits))
    if n_query < 1:
        return None
    images = np.asarray(test.images)[keep]
    t0 = time.monotonic()
    acc: dict[str, dict[str, float]] = {}
    ci: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    episodes = 0
    with bar(total=len(layers) * len(encoders), desc="final few-shot", unit="layer",
             enabled=None if progress else False) as progress_bar:
        for i, layer in enumerate(probe_order(layers, first) if deadline is not None else layers):
            if i > 0 and deadline is not None and time.monotonic() >= deadline:
                skipped.append(layer)
                progress_bar.update(len(encoders))
                continue
            for name, enc in encoders.items():
                if layer not in getattr(enc, "layers", ()):
                    progress_bar.update(1)
                    continue
                progress_bar.set_description(f"final few-shot: {layer} of {name}")
                feats = extract_features(enc, images, layer, device=device)
                kw = {"n_way": n_way, "k_shot": k_shot, "n_query": n_query, "n_episodes": n_episodes}
                if layer == CODE_LAYER and has_codes(enc):
                    res = evaluate_fewshot(feats.reshape(len(feats), *code_shape(enc)), labels, **kw)
                    a, h = res["dimco_acc"], res["dimco_ci95"]
                else:
                    res = evaluate_fewshot(None, labels, embeddings=feats, **kw)
                    a, h = res["proto_acc"], res["proto_ci95"]
                acc.setdefault(layer, {})[name], ci.setdefault(layer, {})[name] = float(a), float(h)
                episodes = int(res["episodes"])
                progress_bar.update(1)
    out: dict[str, Any] = {"protocol": "fewshot", "split": "test", "n_way": n_way, "k_shot": k_shot,
                           "n_query": n_query, "episodes": episodes, "n_test": int(len(labels)),
                           "n_classes": int(classes.size)}
    if skipped:
        out["skipped_layers"] = [layer for layer in layers if layer in skipped]
    order = [layer for layer in layers if layer in acc]
    return {**out, "seconds": round(time.monotonic() - t0, 2), "accuracy": {k: acc[k] for k in order},
            "ci95": {k: ci[k] for k in order}}


def probe_layers(
    encoders: dict[str, nn.Module],
    splits: Any,
    layers: tuple[str, ...] | list[str],
    device: str = "cpu",
    max_train: int | None = None,
    cs: Sequence[float] = (0.01, 0.1, 1.0),
) -> dict[str, dict[str, float]] | None:
    """Linear-probe test accuracy ``{layer: {encoder name: accuracy}}`` (the ``"accuracy"`` of
    :func:`final_linear_probe`; by default the full protocol: every train image, three C values)."""
    final = final_linear_probe(encoders, splits, layers, max_train, cs, device)
    return None if final is None else final["accuracy"]
