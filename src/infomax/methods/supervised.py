"""The supervised baseline: an encoder plus a linear head, trained end to end with cross-entropy.

Deep InfoMax (Hjelm et al., ICLR 2019) reports a "fully supervised" row with the same encoder; this method
trains it end to end on the labels so that probes of its layers give the supervised baseline. On its own
(``infomax train supervised``) it trains DIM's conv encoder; as the baseline of another method's run it
trains a fresh copy of *that method's* encoder (``encoder_of``/``encoder_config``), so the probes compare
the same architecture and the same layer names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from infomax.config import Preset
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.types import Batch, LossDict


def _dim_conv(info: object, cfg: Config) -> nn.Module:
    from infomax.encoders import DIMConvEncoder

    return DIMConvEncoder(
        in_channels=info.channels, image_size=info.image_size, y_dim=cfg.y_dim, mean=info.mean, std=info.std
    )


#: Encoder name -> factory ``(DataInfo, Config) -> encoder``. Add encoders here as they appear.
ENCODERS: dict[str, Callable[[object, Config], nn.Module]] = {"dim_conv": _dim_conv}


@dataclass
class Config:
    """Options of the supervised baseline.

    Attributes:
        encoder: encoder architecture, a key of ``ENCODERS`` ("dim_conv": DIM's conv encoder); ignored when
            ``encoder_of`` is set.
        y_dim: width of the encoder's output representation Y (``encoder="dim_conv"``).
        head_layer: the encoder feature the linear head reads; "" = the encoder's output layer.
        encoder_of: a method name (a key of ``infomax.methods.METHODS``): train a freshly built copy of that
            method's encoder instead (the supervised twin of a run's encoder, same layers).
        encoder_config: that method's ``Config`` as a dict (as in a run's ``config.json``); None = defaults.
    """

    encoder: str = "dim_conv"
    y_dim: int = 64
    head_layer: str = ""
    encoder_of: str = ""
    encoder_config: dict[str, Any] | None = None


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
    if info.num_classes < 2:
        raise UserError(
            f"the supervised baseline needs labelled data with >= 2 classes; {info.name!r} has "
            f"{info.num_classes}"
        )
    if cfg.encoder_of:
        encoder = twin_encoder(cfg.encoder_of, cfg.encoder_config, info)
    elif cfg.encoder in ENCODERS:
        encoder = ENCODERS[cfg.encoder](info, cfg)
    else:
        raise UserError(f"unknown encoder {cfg.encoder!r}; choose one of: {', '.join(ENCODERS)}")
    head_layer = cfg.head_layer or encoder.output_layer
    if head_layer not in encoder.layers:
        raise UserError(f"unknown head_layer {head_layer!r}; choose one of: {', '.join(encoder.layers)}")
    with torch.no_grad():
        was = encoder.training
        encoder.eval()
        dummy = torch.zeros(1, info.channels, info.image_size, info.image_size)
        head_dim = encoder(dummy)[head_layer].flatten(1).shape[1]
        encoder.train(was)
    return Supervised(encoder, info.num_classes, head_layer, head_dim)


PRESETS: dict[str, Preset] = {
    "supervised": Preset(
        description="Supervised baseline: DIM's conv encoder + linear head on Y, cross-entropy",
        method="supervised",
    ),
}
