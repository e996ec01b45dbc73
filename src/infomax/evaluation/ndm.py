"""NDM, the neural dependency measure: how far a representation's factors are from independent.

Hjelm et al., "Learning deep representations by mutual information estimation and maximization" (ICLR 2019,
sec. 4.1 and app. A.6), after Brakel & Bengio (2017): shuffle every factor (column) of a batch of
representations independently along the batch; the shuffled batch has the same per-factor marginals but
independent factors. A discriminator estimates KL(joint || product of marginals) with the Donsker-Varadhan
bound; higher means more dependent factors, about 0 for independent ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from infomax.evaluation.features import as_encoder, check_layer, extract_features
from infomax.evaluation.mine import _standardize, dv_estimate, train_dv_critic


def shuffle_factors(p: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """``(y (B, D),) -> (y',)`` with each column of y permuted independently along the batch.

    Example:
        >>> (ys,) = shuffle_factors((torch.arange(6.).view(3, 2),))
        >>> sorted(ys[:, 0].tolist()), sorted(ys[:, 1].tolist())
        ([0.0, 2.0, 4.0], [1.0, 3.0, 5.0])
    """
    (y,) = p
    idx = torch.rand(y.shape, device=y.device).argsort(0)  # (B, D): one permutation per column
    return (y.gather(0, idx),)


class FactorCritic(nn.Module):
    """MLP critic on a representation (D,): Linear(D, h) - ReLU - Linear(h, h) - ReLU - Linear(h, 1)."""

    def __init__(self, dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y).squeeze(1)  # (B,)


def ndm_value(
    y_train: Tensor,
    y_test: Tensor,
    seed: int = 0,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_final: float = 1e-5,
    hidden: int = 256,
    n_rounds: int = 10,
    device: str = "cpu",
) -> float:
    """NDM in nats: a DV critic between Y and its per-factor shuffle, trained on ``y_train`` (N, D),
    evaluated on ``y_test`` (M, D). The RNG is forked and seeded with ``seed``.

    The held-out estimate is not clipped: it can be slightly negative for independent factors.

    Example:
        >>> z = torch.randn(4000, 4)
        >>> ndm_value(torch.cat([z, z], 1)[:3000], torch.cat([z, z], 1)[3000:])  # doctest: +SKIP
        2.9  # duplicated factors: clearly positive (independent ones give ~0)
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = FactorCritic(y_train.shape[1], hidden)
        train_dv_critic(critic, (y_train,), shuffle_factors, steps, batch_size, lr, lr_final, device=device)
        return dv_estimate(critic, (y_test,), shuffle_factors, n_rounds, device)


def ndm_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_final: float = 1e-5,
    hidden: int = 256,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """NDM of ``layer`` (default the output layer): critic trained on train features, evaluated on test.

    Returns ``{"ndm": mean, "ndm_std", "ndm_per_seed", "layer", "n_train", "n_test"}`` (nats). Features are
    standardized with training statistics (NDM is invariant to per-factor rescaling).
    """
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    train_images = splits.train.images[:max_train] if max_train else splits.train.images
    y_tr, y_te = _standardize(
        extract_features(encoder, train_images, layer, device=device),
        extract_features(encoder, splits.test.images, layer, device=device),
    )
    values = [ndm_value(y_tr, y_te, s, steps, batch_size, lr, lr_final, hidden, device=device) for s in seeds]
    return {
        "protocol": "ndm",
        "ndm": float(np.mean(values)),
        "ndm_std": float(np.std(values)),
        "ndm_per_seed": [float(v) for v in values],
        "layer": layer,
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "steps": steps,
    }
