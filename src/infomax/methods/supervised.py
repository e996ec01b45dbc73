"""The supervised baseline: an encoder plus a linear head, trained end to end with cross-entropy.

Deep InfoMax (Hjelm et al., ICLR 2019) reports a "fully supervised" row with the same encoder; this method
trains it end to end on the labels so that probes of its layers give the supervised baseline. On its own
(``infomax train supervised``) it trains DIM's conv encoder; as the baseline of another method's run it
trains a fresh copy of *that method's* encoder (``encoder_of``/``encoder_config``), so the probes compare
the same architecture and the same layer names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from infomax.config import MethodConfig, Preset, choice
from infomax.encoders import ENCODERS
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.types import Batch, LossDict


def _head_layers(cfg: Config) -> tuple[str, ...] | None:
    """"" (the output layer) or a layer of ``cfg.encoder`` (None with ``encoder_of``: checked when built)."""
    enc = None if cfg.encoder_of else ENCODERS.get(cfg.encoder)
    return None if enc is None else ("", *enc.layers)


def _twin_methods(cfg: Config) -> tuple[str, ...]:
    """"" or another method of ``infomax.methods.METHODS`` (the baseline cannot be its own twin)."""
    from infomax.methods import METHODS

    return ("", *(m for m in METHODS if m != "supervised"))


@dataclass
class Config(MethodConfig):
    """Options of the supervised baseline.

    Attributes:
        encoder: encoder architecture, a key of ``infomax.encoders.ENCODERS`` ("dim_conv": DIM's conv
            encoder); ignored when ``encoder_of`` is set.
        y_dim: width of the encoder's output representation Y (``encoder="dim_conv"``).
        head_layer: the encoder feature the linear head reads; "" = the encoder's output layer.
        encoder_of: a method name (a key of ``infomax.methods.METHODS``): train a freshly built copy of that
            method's encoder instead (the supervised twin of a run's encoder, same layers).
        encoder_config: that method's ``Config`` as a dict (as in a run's ``config.json``); None = defaults.
    """

    encoder: str = choice("dim_conv", ENCODERS)
    y_dim: int = 64
    head_layer: str = choice("", _head_layers)
    encoder_of: str = choice("", _twin_methods)
    encoder_config: dict[str, Any] | None = None

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (names: see :meth:`MethodConfig.validate`)."""
        if self.y_dim < 1:
            raise UserError(f"y_dim must be >= 1, got {self.y_dim}")


class Supervised(MethodBase):
    """Encoder + linear head on ``head_layer``, trained with cross-entropy on the labelled items.

    Items labelled -1 (unlabelled) are ignored; a batch without labels gives a zero loss.

    Args:
        encoder: an encoder returning named features (``layers``, ``output_layer``).
        num_classes: number of classes K.
        head_layer: which feature feeds the head.
        head_dim: flattened width of that feature.

    Example:
        >>> m = build(Config(), info)  # doctest: +SKIP
        >>> m((torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))))["loss"]  # doctest: +SKIP
        tensor(2.31, grad_fn=...)
    """

    def __init__(self, encoder: nn.Module, num_classes: int, head_layer: str, head_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head_layer = head_layer
        self.head = nn.Linear(head_dim, num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) of images (B, C, H, W) in [0, 1]."""
        return self.head(self.encoder(x)[self.head_layer].flatten(1))

    def forward(self, batch: Batch) -> LossDict:
        x, labels = batch
        logits = self.logits(x)  # (B, K)
        labelled = labels >= 0  # (B,)
        if not bool(labelled.any()):
            zero = logits.sum() * 0.0
            return {"loss": zero, "accuracy": zero.detach()}
        loss = F.cross_entropy(logits[labelled], labels[labelled])
        acc = (logits[labelled].argmax(1) == labels[labelled]).float().mean()
        return {"loss": loss, "accuracy": acc.detach()}


def twin_encoder(method: str, method_config: dict[str, Any] | None, info: object) -> nn.Module:
    """A freshly built encoder of ``method`` with settings ``method_config`` (the method's ``Config`` as a
    dict; None = its defaults): the whole method is built and its ``encoder`` kept, so the architecture and
    layer names are exactly those of a run of that method. UserError for an unknown method or settings."""
    from infomax.methods import method_module
    from infomax.run import method_config_from

    if method == "supervised":
        raise UserError("encoder_of='supervised' would nest the baseline in itself; name another method")
    module = method_module(method)
    cfg = method_config_from({"method": method, "method_config": dict(method_config or {})})
    return module.build(cfg, info).encoder


def build(cfg: Config, info: object) -> Supervised:
    """The supervised baseline for data described by ``info`` (a ``DataInfo``)."""
    cfg.validate()
    if info.num_classes < 2:
        raise UserError(
            f"the supervised baseline needs labelled data with >= 2 classes; {info.name!r} has "
            f"{info.num_classes}"
        )
    if cfg.encoder_of:
        encoder = twin_encoder(method=cfg.encoder_of, method_config=cfg.encoder_config, info=info)
    else:
        encoder = ENCODERS[cfg.encoder](in_channels=info.channels, image_size=info.image_size,
                                        y_dim=cfg.y_dim, mean=info.mean, std=info.std)
    head_layer = cfg.head_layer or encoder.output_layer
    if head_layer not in encoder.layers:
        raise UserError(f"unknown head_layer {head_layer!r}; choose one of: {', '.join(encoder.layers)}")
    with torch.no_grad():
        was = encoder.training
        encoder.eval()
        dummy = torch.zeros(1, info.channels, info.image_size, info.image_size)
        head_dim = encoder(dummy)[head_layer].flatten(1).shape[1]
        encoder.train(was)
    return Supervised(encoder, num_classes=info.num_classes, head_layer=head_layer, head_dim=head_dim)


PRESETS: dict[str, Preset] = {
    "supervised": Preset(
        description="Supervised baseline: DIM's conv encoder + linear head on Y, cross-entropy",
        method="supervised",
    ),
}
