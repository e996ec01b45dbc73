"""Online linear and MLP classifier heads trained on detached features during self-supervised pretraining
(the methods' own probes; the engine's periodic probe of a frozen encoder is
:mod:`infomax.engine.online_probe`).

As in AMDIM's training loop (Bachman et al., NeurIPS 2019, sec. 4: "linear and MLP evaluation" run
alongside the encoder), each step fits both classifiers on the batch's features, *detached*, so their
cross-entropy trains only the probes. The method returns it as ``"loss/probe"`` (its own optimiser group
``"probe"``) and the batch accuracies as ``"probe/linear_acc"`` / ``"probe/mlp_acc"`` (measured before the
step, on the training batch: a running indication, not a test accuracy). Unlabelled items (-1) are
ignored; a batch with fewer than two labelled items logs no accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class OnlineProbes(nn.Module):
    """A linear classifier and an MLP (``hidden`` units, BN, ReLU, dropout 0.1) on (B, D) features.

    Args:
        in_dim: Feature size D.
        num_classes: Number of classes (>= 2).
        hidden: MLP hidden width.

    Example:
        >>> probes = OnlineProbes(8, 3)
        >>> loss, logs = probes(torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, -1]))
        >>> sorted(logs)
        ['probe/linear_acc', 'probe/mlp_acc']
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, num_classes)
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, features: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(sum of both cross-entropies on the labelled rows, {accuracies}); features are detached here."""
        keep = labels >= 0
        h = features.detach()[keep]  # (n, D)
        y = labels[keep]
        if y.numel() < 2:  # nothing to learn from (BN needs 2 rows): a zero loss that keeps the graph
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return zero, {}  # no accuracy to log (a NaN would read as divergence to the engine)
        lin, mlp = self.linear(h), self.mlp(h)  # (n, classes)
        loss = F.cross_entropy(lin, y) + F.cross_entropy(mlp, y)
        with torch.no_grad():
            accs = {
                "probe/linear_acc": (lin.argmax(1) == y).float().mean(),
                "probe/mlp_acc": (mlp.argmax(1) == y).float().mean(),
            }
        return loss, accs
