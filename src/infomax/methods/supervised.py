"""The supervised baseline: the same encoder architecture as Deep InfoMax plus a linear head, cross-entropy.

Deep InfoMax (Hjelm et al., ICLR 2019) reports a "fully supervised" row with the same encoder; this method
trains it end to end on the labels so that probes of its layers give the supervised baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from infomax.config import MethodConfig, Preset, choice
from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.types import Batch, LossDict

#: Encoder name -> class, built as ``cls(in_channels, image_size, y_dim=, mean=, std=)``; its ``layers``
#: are what ``Config.head_layer`` may name. Add encoders here as they appear.
ENCODERS: dict[str, type[nn.Module]] = {"dim_conv": DIMConvEncoder}


def _layers(cfg: Config) -> tuple[str, ...] | None:
    enc = ENCODERS.get(cfg.encoder)
    return None if enc is None else tuple(enc.layers)


@dataclass
class Config(MethodConfig):
    """Options of the supervised baseline.

    Attributes:
        encoder: encoder architecture, a key of ``ENCODERS`` ("dim_conv": DIM's conv encoder).
        y_dim: width of the encoder's output representation Y.
        head_layer: the encoder feature the linear head reads ("y" or "fc").
    """

    encoder: str = choice("dim_conv", ENCODERS)
    y_dim: int = 64
    head_layer: str = choice("y", _layers)

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


def build(cfg: Config, info: object) -> Supervised:
    """The supervised baseline for data described by ``info`` (a ``DataInfo``)."""
    cfg.validate()
    if info.num_classes < 2:
        raise UserError(
            f"the supervised baseline needs labelled data with >= 2 classes; {info.name!r} has "
            f"{info.num_classes}"
        )
    encoder = ENCODERS[cfg.encoder](in_channels=info.channels, image_size=info.image_size, y_dim=cfg.y_dim,
                                    mean=info.mean, std=info.std)
    with torch.no_grad():
        was = encoder.training
        encoder.eval()
        dummy = torch.zeros(1, info.channels, info.image_size, info.image_size)
        head_dim = encoder(dummy)[cfg.head_layer].flatten(1).shape[1]
        encoder.train(was)
    return Supervised(encoder, info.num_classes, cfg.head_layer, head_dim)


PRESETS: dict[str, Preset] = {
    "supervised": Preset(
        description="Supervised baseline: DIM's conv encoder + linear head on Y, cross-entropy",
        method="supervised",
    ),
}
