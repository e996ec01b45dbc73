"""Semi-supervised fine-tuning: the whole encoder plus a linear head trained on a small labelled subset.

Deep InfoMax (Hjelm et al., ICLR 2019, Table 2, STL-10 "SS" column) fine-tunes the encoder on labels after
unsupervised training; here at 1% and 10% of the training labels (stratified, at least one per class).
No model selection: a fixed number of optimiser steps (the validation labels would outnumber the subset).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer, to_float_images
from infomax.methods.supervised import Supervised
from infomax.progress import bar


def labelled_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a stratified ``fraction`` of the labelled items (labels >= 0), >= 1 per class, sorted.

    Example:
        >>> labelled_subset(np.array([0] * 50 + [1] * 50), 0.1).size
        10
    """
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"label fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels[labels >= 0]):
        idx = np.flatnonzero(labels == c)
        k = max(1, int(round(fraction * len(idx))))
        out.append(rng.choice(idx, size=k, replace=False))
    if not out:
        raise UserError("fine-tuning needs labelled training data")
    return np.sort(np.concatenate(out))


def train_classifier(
    model: Supervised,
    images: np.ndarray,
    labels: np.ndarray,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    encoder_lr: float = 1e-4,
    weight_decay: float = 0.0,
    device: str = "cpu",
    label: str = "classifier training",
) -> list[float]:
    """Train ``model`` (encoder + head) with cross-entropy for ``steps`` minibatches drawn with replacement.

    Adam with ``lr`` for the head and ``encoder_lr`` for the encoder. Draws from the global torch RNG.

    Args:
        model: a :class:`~infomax.methods.supervised.Supervised` (or anything with ``encoder`` and ``head``
            and a ``forward((x, labels))`` returning ``{"loss": ...}``).
        images: uint8 (N, C, H, W).
        labels: int (N,), class indices.
        label: the progress bar's label (see :mod:`infomax.progress`).

    Returns:
        The loss of every step.
    """
    if steps < 1 or batch_size < 2:
        raise UserError("steps must be >= 1 and batch_size >= 2")
    model.to(device).train()
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.Adam(
        [{"params": model.encoder.parameters(), "lr": encoder_lr}, {"params": head, "lr": lr}],
        weight_decay=weight_decay,
    )
    x_all = torch.as_tensor(np.asarray(images))
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    bs = min(batch_size, len(x_all))
    losses = []
    for _ in bar(range(steps), desc=label, unit="step"):
        idx = torch.randint(0, len(x_all), (max(bs, 2),))
        loss = model((to_float_images(x_all[idx], device), y_all[idx].to(device)))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def classifier_accuracy(
    model: Supervised, images: np.ndarray, labels: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> float:
    """Accuracy of ``model.logits`` on uint8 images (N, C, H, W) and labels (N,) (eval mode)."""
    model.to(device).eval()
    correct = 0
    for s in range(0, len(images), batch_size):
        logits = model.logits(to_float_images(images[s : s + batch_size], device))
        correct += int((logits.argmax(1).cpu() == torch.as_tensor(labels[s : s + batch_size])).sum())
    return correct / max(len(images), 1)


def make_classifier(
    encoder: nn.Module, num_classes: int, layer: str, image_shape: Sequence[int]
) -> Supervised:
    """A :class:`Supervised` model around a deep copy of ``encoder`` with a fresh linear head on ``layer``."""
    enc = copy.deepcopy(encoder).cpu()
    was = enc.training
    enc.eval()
    with torch.no_grad():
        dim = enc(torch.zeros(1, *image_shape))[layer].flatten(1).shape[1]
    enc.train(was)
    return Supervised(enc, num_classes, layer, dim)


def finetune_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    fractions: Sequence[float] = (0.01, 0.1),
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    encoder_lr: float = 1e-4,
    seed: int = 0,
    device: str = "cpu",
    **_: object,
) -> dict:
    """Fine-tune a copy of the encoder plus a linear head on ``layer`` with each fraction of the training
    labels; report test accuracy per fraction.

    Returns ``{"accuracy": {"1%": ..., "10%": ...}, "n_labelled": {...}, "layer", "n_test", "steps"}``; the
    caller's encoder is not modified.
    """
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    train, test = splits.train, splits.test
    classes = np.unique(train.labels[train.labels >= 0])
    if len(classes) < 2:
        raise UserError("fine-tuning needs at least two labelled classes")
    num_classes = int(max(classes.max(), test.labels.max()) + 1)
    accs, counts = {}, {}
    for frac in fractions:
        key = f"{100 * frac:g}%"
        idx = labelled_subset(train.labels, frac, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = make_classifier(encoder, num_classes, layer, train.images.shape[1:])
            train_classifier(
                model, train.images[idx], train.labels[idx], steps, batch_size, lr, encoder_lr, device=device,
                label=f"fine-tune {layer}: {key} of the labels ({len(idx)} images)",
            )
        accs[key] = classifier_accuracy(model, test.images, test.labels, device=device)
        counts[key] = len(idx)
    return {
        "protocol": "finetune",
        "accuracy": accs,
        "n_labelled": counts,
        "layer": layer,
        "n_test": len(test.images),
        "steps": steps,
    }
