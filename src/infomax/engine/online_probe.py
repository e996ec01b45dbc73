"""The online linear probe: every ``probe_every`` epochs, a cheap linear probe of every encoder layer.

A small, fixed evaluation that tracks representation quality while training (``TrainConfig.probe_every``):
a multinomial logistic regression (:class:`infomax.evaluation.LinearProbe`, one fixed C) on standardized
features of the frozen encoder (eval mode), fit on ``probe_samples`` stratified train images and scored on
at most ``probe_samples`` stratified val images (a disjoint part of train when there is no labelled val);
the test split is never looked at during training. The same images every time (fixed seed), so the curve
shows the encoder changing, not the sample. It draws nothing from the global RNGs, so training with or
without it gives the same weights (and a resumed run stays bit-identical).

The engine logs the accuracies as ``probe/linear_acc/<layer>`` at the epoch's last step (and once before
training, at step 0); ``report.md`` plots them (``plots/online_probe.png``).

Example:
    >>> probe = OnlineLinearProbe.from_splits(splits, n=2000, layers=("conv", "fc", "y"))  # doctest: +SKIP
    >>> probe(method.encoder)  # doctest: +SKIP
    {'probe/linear_acc/conv': 0.91, 'probe/linear_acc/fc': 0.93, 'probe/linear_acc/y': 0.88}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from infomax.engine.evaluate import stratified_indices

#: Logged key prefix: ``probe/linear_acc/<layer>``.
KEY = "probe/linear_acc"


def probe_key(layer: str) -> str:
    """The logged name of ``layer``'s online-probe accuracy."""
    return f"{KEY}/{layer}"


class OnlineLinearProbe:
    """Fit a linear probe per layer on fixed train images, score it on fixed held-out images.

    Args:
        train_images: uint8 (N, C, H, W) images the probe is fit on.
        train_labels: int (N,) their labels.
        eval_images: uint8 (M, C, H, W) held-out images it is scored on.
        eval_labels: int (M,) their labels.
        layers: encoder layers to probe.
        C: inverse L2 strength of the logistic regression (one value: no model selection).
        max_iter: L-BFGS iterations.
        device: where features are extracted and the probe is fit.
    """

    def __init__(
        self,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        eval_images: np.ndarray,
        eval_labels: np.ndarray,
        layers: Sequence[str],
        C: float = 0.1,
        max_iter: int = 200,
        device: str = "cpu",
    ) -> None:
        self.train_images, self.train_labels = train_images, np.asarray(train_labels)
        self.eval_images, self.eval_labels = eval_images, np.asarray(eval_labels)
        self.layers, self.C, self.max_iter, self.device = tuple(layers), C, max_iter, device

    @classmethod
    def from_splits(
        cls, splits: Any, n: int, layers: Sequence[str], seed: int = 0, **kw: Any
    ) -> OnlineLinearProbe | None:
        """``n`` stratified train images to fit on and at most ``n`` stratified val images to score on
        (without labelled val: up to ``n // 4`` train images outside the fitting sample). None when the
        train split has fewer than two labelled classes."""
        labels = np.asarray(splits.train.labels)
        if len(np.unique(labels[labels >= 0])) < 2:
            return None
        fit_idx = stratified_indices(labels, n, seed)
        val_labels = np.asarray(splits.val.labels) if splits.val is not None else np.zeros(0, np.int64)
        if (val_labels >= 0).any():
            ev_idx = stratified_indices(val_labels, n, seed)
            ev_images, ev_labels = np.asarray(splits.val.images)[ev_idx], val_labels[ev_idx]
        else:
            rest = labels.copy()
            rest[fit_idx] = -1
            if not (rest >= 0).any():  # everything went into the fitting sample: hold a quarter out
                fit_idx = stratified_indices(labels, max(2, len(fit_idx) * 3 // 4), seed)
                rest = labels.copy()
                rest[fit_idx] = -1
            ev_idx = stratified_indices(rest, max(1, n // 4), seed)
            ev_images, ev_labels = np.asarray(splits.train.images)[ev_idx], labels[ev_idx]
        return cls(np.asarray(splits.train.images)[fit_idx], labels[fit_idx], ev_images, ev_labels, layers,
                   **kw)

    def __call__(self, encoder: nn.Module) -> dict[str, float]:
        """``{"probe/linear_acc/<layer>": held-out accuracy}`` of the encoder as it is now (mode kept)."""
        from infomax.evaluation import LinearProbe, extract_features

        out = {}
        for layer in self.layers:
            xt = extract_features(encoder, self.train_images, layer, device=self.device)  # (N, D)
            xe = extract_features(encoder, self.eval_images, layer, device=self.device)  # (M, D)
            with torch.inference_mode(False), torch.enable_grad():  # L-BFGS needs autograd
                probe = LinearProbe(self.C, self.max_iter, device=self.device).fit(xt, self.train_labels)
            out[probe_key(layer)] = probe.score(xe, self.eval_labels)
        return out
