"""The small base class every method derives from (see docs/ARCHITECTURE.md, "Methods")."""

from __future__ import annotations

import torch
from torch import nn

from infomax.types import Batch, LossDict


class MethodBase(nn.Module):
    """Encoder + critics + bounds -> ``{"loss": ..., "<scalar>": ...}``.

    Subclasses set ``self.encoder`` (the representation that is probed and exported) and implement
    :meth:`forward`. Methods that need a second optimiser (an adversarial prior discriminator, say)
    override :meth:`param_groups` to return ``{"main": [...], "<group>": [...]}`` and put the group's
    loss under ``"loss/<group>"``; that loss must only depend on the group's own parameters (detach the
    rest). The engine steps every group with its own optimiser.
    """

    encoder: nn.Module

    def forward(self, batch: Batch) -> LossDict:  # pragma: no cover - abstract
        raise NotImplementedError

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameter groups, each optimised by its own optimiser; default: one "main" group."""
        return {"main": [p for p in self.parameters() if p.requires_grad]}

    def on_after_optimizer_step(self) -> None:
        """Hook run by the engine after every optimiser step (e.g. a momentum-encoder update)."""

    @torch.no_grad()
    def features(self, x: torch.Tensor, layer: str | None = None) -> torch.Tensor:
        """Flattened features (B, D) of ``layer`` (default: the encoder's output layer)."""
        feats = self.encoder(x)
        return feats[layer or self.encoder.output_layer].flatten(1)
