"""The end-of-training evaluation: a linear probe on every layer of the trained encoder and the baselines.

Protocol (Hjelm et al., ICLR 2019, sec. 4.2 / Table 4, linear evaluation): freeze the encoder, extract
each layer's features, fit a multinomial logistic regression on standardized features of the labelled
train split (``infomax.evaluation.PROTOCOLS["linear"]``: its C chosen on val), report its accuracy on the
test split, exactly as ``infomax eval RUN_DIR --protocol linear`` does. The
baselines are probed the same way: an untrained encoder of the same architecture (the trained run's own
initial weights) and a supervised encoder (method ``"supervised"``) trained with the same budget.

Example:
    >>> acc = probe_layers({"trained": enc, "random": enc0}, splits, ("conv", "fc", "y"))  # doctest: +SKIP
    >>> acc["fc"]["trained"]
    0.93
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn


def linear_protocol() -> Callable[..., dict] | None:
    """``infomax.evaluation.PROTOCOLS["linear"]`` (C chosen on val, test accuracy), or None if unavailable."""
    try:
        from infomax.evaluation import PROTOCOLS
    except ImportError:
        return None
    return PROTOCOLS.get("linear")


def probe_layers(
    encoders: dict[str, nn.Module],
    splits: Any,
    layers: tuple[str, ...] | list[str],
    device: str = "cpu",
) -> dict[str, dict[str, float]] | None:
    """Linear-probe test accuracy ``{layer: {encoder name: accuracy}}``; None if probes are unavailable
    or the data has fewer than two labelled classes.

    Args:
        encoders: name -> frozen encoder (e.g. ``{"trained": ..., "random": ..., "supervised": ...}``).
        splits: a ``DataSplits``; the probe is fit on ``train`` (its C chosen on ``val``) and scored on
            ``test``.
        layers: encoder layers to probe.
        device: where features are extracted and probes fit.
    """
    protocol = linear_protocol()
    labels = np.asarray(splits.train.labels)
    has_test = bool((np.asarray(splits.test.labels) >= 0).any())
    if protocol is None or len(np.unique(labels[labels >= 0])) < 2 or not has_test:
        return None
    return {layer: {name: float(protocol(enc, splits, layer, device=device)["accuracy"])
                    for name, enc in encoders.items()} for layer in layers}
