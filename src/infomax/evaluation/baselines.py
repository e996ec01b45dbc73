"""Baselines for the evaluation protocols: an untrained encoder and a supervised one of the same architecture.

Deep InfoMax (Hjelm et al., ICLR 2019, Table 1) compares against both: a randomly initialised encoder (the
floor any learned representation must clear) and a fully supervised encoder (a ceiling of sorts).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer
from infomax.evaluation.finetune import make_classifier, train_classifier


def random_encoder(encoder: object, seed: int | None = None) -> nn.Module:
    """A freshly initialised copy of ``encoder``'s architecture (same constructor arguments).

    Deep-copies the encoder and calls ``reset_parameters()`` on every submodule that has one (which also
    resets batch-norm running statistics). ``seed`` makes the draw reproducible without touching the
    caller's RNG stream; ``None`` draws from the global RNG. The original is not modified.

    Example:
        >>> rnd = random_encoder(trained_encoder, seed=0)  # doctest: +SKIP
    """
    enc = copy.deepcopy(as_encoder(encoder))

    def reset() -> None:
        for m in enc.modules():
            if m is not enc and callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()

    if seed is None:
        reset()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            reset()
    return enc


def supervised_encoder(
    encoder: object,
    splits: object,
    layer: str | None = None,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
) -> nn.Module:
    """A supervised encoder of ``encoder``'s architecture: a freshly initialised copy plus a linear head on
    ``layer`` (default the output layer), trained end to end with cross-entropy on all training labels
    for ``steps`` minibatches (Adam, ``lr`` for encoder and head). Returns the trained encoder.

    For the engine-trained version (checkpoints, logs) train the ``supervised`` method instead.
    """
    enc = as_encoder(encoder)
    layer = check_layer(enc, layer)
    train = splits.train
    keep = train.labels >= 0
    if len(np.unique(train.labels[keep])) < 2:
        raise UserError("the supervised baseline needs labelled training data with >= 2 classes")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_classifier(
            random_encoder(enc), int(train.labels.max()) + 1, layer, train.images.shape[1:]
        )
        train_classifier(
            model, train.images[keep], train.labels[keep], steps, batch_size, lr, lr, device=device
        )
    return model.encoder.eval()
