"""The evaluation protocols by name: ``PROTOCOLS[name](encoder, splits, layer, **kw) -> dict``.

Every protocol takes the encoder (or a method / a loaded Run holding one), the ``DataSplits``
(train / val / test ``ImageArrays``), the layer to read (default: the encoder's output layer) and
keyword options, and returns a JSON-able dict. Probes are trained on train, hyper-parameters are chosen on
val where a protocol has any, and the figure reported is on the official test split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer, extract_features
from infomax.evaluation.fewshot_protocols import fewshot_protocol, retrieval_protocol
from infomax.evaluation.finetune import finetune_protocol
from infomax.evaluation.knn import KNNProbe
from infomax.evaluation.linear_probe import LinearProbe
from infomax.evaluation.mine import mine_protocol
from infomax.evaluation.mlp_probe import MLPProbe
from infomax.evaluation.msssim import msssim_protocol
from infomax.evaluation.ndm import ndm_protocol
from infomax.evaluation.neighbours import neighbours_protocol
from infomax.evaluation.svm_probe import LinearSVMProbe
from infomax.progress import bar


def labelled_features(
    encoder: object,
    splits: object,
    layer: str | None,
    batch_size: int = 256,
    device: str = "cpu",
    max_train: int | None = None,
) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``(layer, {"train": (X, y), "val": (X, y), "test": (X, y)})`` of the labelled items of each split."""
    enc = as_encoder(encoder)
    layer = check_layer(enc, layer)
    out = {}
    for name in ("train", "val", "test"):
        arr = getattr(splits, name)
        labels = np.asarray(arr.labels)
        keep = np.flatnonzero(labels >= 0)
        if name == "train" and max_train:
            keep = keep[:max_train]
        # features of the split up to its last kept item (the whole split, the same array for every
        # protocol and layer: cached per (layer, split) inside ``feature_cache``), then the kept rows
        end = int(keep[-1]) + 1 if len(keep) else 0
        images = arr.images if end == len(labels) else arr.images[:end]
        feats = extract_features(enc, images, layer, batch_size, device, split=name)
        out[name] = (feats if len(keep) == end else feats[keep], labels[keep])
    if len(out["train"][1]) == 0 or len(out["test"][1]) == 0:
        raise UserError("probes need labelled train and test splits")
    return layer, out


def _val_or_carve(data: dict, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(X_train, y_train, X_val, y_val, carved): the val split (carved False: X_train is the whole train
    split), or 10% carved from train when val is empty (carved True)."""
    (xt, yt), (xv, yv) = data["train"], data["val"]
    if len(yv):
        return xt, yt, xv, yv, False
    perm = np.random.default_rng(seed).permutation(len(yt))
    n = max(1, len(yt) // 10)
    return xt[perm[n:]], yt[perm[n:]], xt[perm[:n]], yt[perm[:n]], True


def _summary(name: str, layer: str, data: dict, acc: float, **extra: object) -> dict:
    return {
        "protocol": name,
        "accuracy": acc,
        "layer": layer,
        "n_train": len(data["train"][1]),
        "n_test": len(data["test"][1]),
        "feature_dim": int(data["train"][0].shape[1]),
        **extra,
    }


def linear_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    Cs: Sequence[float] = (0.01, 0.1, 1.0),
    max_iter: int = 500,
    backend: str = "torch",
    batch_size: int = 256,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """Logistic-regression probe; C chosen on val from ``Cs`` (best val accuracy); test accuracy reported."""
    layer, data = labelled_features(encoder, splits, layer, batch_size, device, max_train)
    return _c_selected(
        "linear", lambda c: LinearProbe(c, max_iter, backend=backend, device=device), Cs, layer, data
    )


def _c_selected(
    name: str, make_probe: Callable[[float], Any], Cs: Sequence[float], layer: str, data: dict
) -> dict:
    """Fit ``make_probe(C)`` on train-minus-val for each C, keep the best val accuracy (ties: the first C
    listed) and report its test accuracy, refitted on the whole train split when val was carved from it.

    The C values are fitted from the strongest regularisation (smallest C) up, each fit starting from the
    previous solution (a warm-started path: the optimum is the same, the iterations fewer). With a
    separate val split, train-minus-val is the whole train split, so the probe of the best C is the final
    probe (no refit)."""
    xt, yt, xv, yv, carved = _val_or_carve(data)
    probes: dict[float, Any] = {}
    prev = None
    with bar(total=len(set(Cs)) + int(carved), desc=f"{name} probe {layer}", unit="fit") as progress:
        for c in sorted(set(Cs)):
            progress.set_description(f"{name} probe {layer}: C={c:g}")
            prev = probes[c] = make_probe(c).fit(xt, yt, init=prev)
            progress.update(1)
        scores = {c: probes[c].score(xv, yv) for c in Cs}
        best_c = max(Cs, key=lambda c: scores[c])  # first of the ties: the strongest regularisation
        final = probes[best_c]
        if carved:
            progress.set_description(f"{name} probe {layer}: C={best_c:g} on all of train")
            final = make_probe(best_c).fit(*data["train"], init=final)
    return _summary(
        name,
        layer,
        data,
        final.score(*data["test"]),
        C=best_c,
        val_accuracy=scores[best_c],
        val_accuracies={str(float(c)): scores[c] for c in Cs},
    )


def svm_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
    max_iter: int = 1000,
    backend: str = "torch",
    batch_size: int = 256,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """Linear SVM probe (one-vs-rest, squared hinge, L2; Deep InfoMax Table 4), like ``linear_protocol``.

    C is chosen on val from ``Cs`` (best val accuracy; ties go to the first C listed), the probe is
    refitted on the whole train split and its test accuracy reported, with the chosen ``C`` and every C's
    val accuracy (``val_accuracies``, keyed by ``str(C)``).
    """
    if not Cs or not all(c > 0 for c in Cs):
        raise UserError("the SVM probe needs one or more positive C values")
    layer, data = labelled_features(encoder, splits, layer, batch_size, device, max_train)
    return _c_selected(
        "svm", lambda c: LinearSVMProbe(c, max_iter, backend=backend, device=device), Cs, layer, data
    )


def mlp_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    hidden: int = 200,
    dropout: float = 0.1,
    lr: float = 1e-4,
    epochs: int = 100,
    probe_batch_size: int = 128,
    patience: int = 10,
    seed: int = 0,
    batch_size: int = 256,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """MLP probe (200 hidden, BN, dropout 0.1, Adam 1e-4), early-stopped on val; test accuracy reported."""
    layer, data = labelled_features(encoder, splits, layer, batch_size, device, max_train)
    xt, yt, xv, yv, _ = _val_or_carve(data)
    probe = MLPProbe(hidden, dropout, lr, epochs, probe_batch_size, patience, seed=seed, device=device,
                     label=f"MLP probe {layer}")
    probe.fit(xt, yt, xv, yv)
    return _summary(
        "mlp",
        layer,
        data,
        probe.score(*data["test"]),
        val_accuracy=probe.best_val_accuracy_,
        best_epoch=probe.best_epoch_,
    )


def knn_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    k: int = 20,
    temperature: float = 0.07,
    batch_size: int = 256,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """Weighted cosine kNN (k=20, T=0.07) with the training set as memory bank; test accuracy reported."""
    layer, data = labelled_features(encoder, splits, layer, batch_size, device, max_train)
    probe = KNNProbe(k, temperature, device=device).fit(*data["train"])
    return _summary("knn", layer, data, probe.score(*data["test"]), k=k, temperature=temperature)


#: name -> ``fn(encoder_or_run, splits, layer=None, **kw) -> dict``.
PROTOCOLS: dict[str, Callable[..., dict]] = {
    "linear": linear_protocol,
    "svm": svm_protocol,
    "mlp": mlp_protocol,
    "knn": knn_protocol,
    "mine": mine_protocol,
    "ndm": ndm_protocol,
    "msssim": msssim_protocol,
    "finetune": finetune_protocol,
    "neighbours": neighbours_protocol,
    "fewshot": fewshot_protocol,
    "retrieval": retrieval_protocol,
}


def run_protocol(name: str, encoder: object, splits: object, layer: str | None = None, **kw: object) -> dict:
    """``PROTOCOLS[name](...)`` with a UserError for an unknown name."""
    if name not in PROTOCOLS:
        raise UserError(f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name](encoder, splits, layer, **kw)
