"""MINE: a Donsker-Varadhan estimate of I(X; Y) between input images and their representation.

Belghazi et al., "Mutual Information Neural Estimation" (ICML 2018); used as an evaluation measure by
Hjelm et al., "Learning deep representations by mutual information estimation and maximization" (ICLR 2019,
sec. 4.1 and Table 4: "for MINE, we used a decaying learning rate schedule, which helped reduce variance in
estimates and provided faster convergence").

The critic is trained with MINE's bias-corrected gradient, early-stopped on held-out training pairs and
evaluated on the test pairs by the DV core shared with NDM (:mod:`infomax.evaluation.dv_critic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor, nn

from infomax.errors import UserError
from infomax.evaluation.dv_critic import (
    DVFit,
    DVSchedule,
    MakeQ,
    fit_dv,
    layer_features,
    seed_summary,
    standardize,
    zero_last_layer,
)


def shuffle_pairs(p: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Product-of-marginals sample for MINE: ``(x, y) -> (x, y[perm])`` with one random permutation."""
    x, y = p
    return x, y[torch.randperm(len(y), device=y.device)]


class MineCritic(nn.Module):
    """``T(x, y) = MLP([phi(x), y])``: MINE's critic on aligned (input, representation) pairs.

    One score per pair, (B,), unlike :class:`infomax.critics.ConcatCritic`, which scores all N x M pairs.

    ``phi`` is a small conv net for images (two 4x4 stride-2 convolutions, 32 and 64 channels, then a
    linear layer) or the identity for vectors. uint8 images are converted to [0, 1] inside.

    Args:
        x_shape: shape of one x, (C, H, W) for images or (D,) for vectors.
        y_dim: width of y.
        hidden: hidden width of the MLP (and of phi's output for images).

    The output layer starts at zero (T = 0: no information until training finds some).

    Example:
        >>> c = MineCritic((1, 8, 8), 16)
        >>> c(torch.rand(5, 1, 8, 8), torch.randn(5, 16)).shape
        torch.Size([5])
    """

    def __init__(self, x_shape: Sequence[int], y_dim: int, hidden: int = 256) -> None:
        super().__init__()
        x_shape = tuple(x_shape)
        if len(x_shape) == 3:
            c, h, w = x_shape
            conv = nn.Sequential(
                nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten()
            )
            with torch.no_grad():
                flat = conv(torch.zeros(1, c, h, w)).shape[1]
            self.phi: nn.Module = nn.Sequential(conv, nn.Linear(flat, hidden), nn.ReLU())
            x_dim = hidden
        elif len(x_shape) == 1:
            self.phi = nn.Identity()
            x_dim = x_shape[0]
        else:
            raise UserError(f"MineCritic takes images (C, H, W) or vectors (D,), got shape {x_shape}")
        self.mlp = nn.Sequential(
            nn.Linear(x_dim + y_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            zero_last_layer(nn.Linear(hidden, 1)),
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        return self.mlp(torch.cat([self.phi(x.float()), y.float()], 1)).squeeze(1)  # (B,)

    def scores_pq(self, p: tuple[Tensor, ...], make_q: MakeQ) -> tuple[Tensor, Tensor]:
        """``(T(p) (B,), T(q) (B,))`` for ``q = make_q(p)``, equal to two ``forward`` calls but cheaper when
        ``q`` keeps p's x (as :func:`shuffle_pairs` does): ``phi(x)`` and its part of the first layer,
        ``W_x phi(x)``, are computed once and shared by the P and the Q pairs (the first layer of the MLP on
        ``[phi(x), y]`` is ``W_x phi(x) + W_y y + b``)."""
        q = make_q(p)
        (x, y), (xq, yq) = p, q
        if xq is not x:
            return self(*p), self(*q)
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        first = self.mlp[0]
        d = first.in_features - y.shape[1]
        shared = self.phi(x.float()) @ first.weight[:, :d].T  # (B, hidden)
        own = torch.cat([y, yq]).float() @ first.weight[:, d:].T + first.bias  # (2B, hidden)
        pre = shared.repeat(2, 1) + own  # (2B, hidden): P rows, then Q rows
        t = self.mlp[1:](pre).squeeze(1)  # (2B,)
        return t[: len(y)], t[len(y) :]


def mine_fit(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    seed: int = 0,
    hidden: int = 256,
    schedule: DVSchedule | None = None,
    device: str = "cpu",
    label: str = "MINE critic",
) -> DVFit:
    """MINE estimate of I(X; Y) in nats, with how its critic was trained: a DV critic trained on
    (x_train, y_train) (``schedule.val_fraction`` of the pairs held out for early stopping), evaluated on
    the test pairs.

    The RNG is forked and seeded with ``seed`` (the caller's stream is untouched). The estimate is the raw
    held-out value (about 0, possibly slightly negative, when X and Y are independent).

    Args:
        x_train: images (N, C, H, W) (uint8 or float) or vectors (N, Dx).
        y_train: representations (N, Dy).
        x_test, y_test: held-out pairs (M, ...), same layout.
        seed: seeds the critic, the validation split, the batches and the shuffles.
        hidden: width of :class:`MineCritic`.
        schedule: training settings (default :class:`~infomax.evaluation.dv_critic.DVSchedule()`).
        device: torch device.
        label: the progress bar's label.

    Example:
        >>> x = torch.randn(4000, 1); y = 0.9 * x + (1 - 0.81) ** 0.5 * torch.randn(4000, 1)
        >>> mine_fit(x[:3000], y[:3000], x[3000:], y[3000:]).estimate  # doctest: +SKIP
        0.8  # true value -0.5 * log(1 - 0.81) = 0.83
    """
    x_train, x_test = torch.as_tensor(x_train), torch.as_tensor(x_test)
    y_train, y_test = torch.as_tensor(y_train).float(), torch.as_tensor(y_test).float()
    critic = partial(MineCritic, tuple(x_train.shape[1:]), y_train.shape[1], hidden)
    return fit_dv(critic, (x_train, y_train), (x_test, y_test), shuffle_pairs, seed, schedule, device, label)


def mine_mi(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, **kw: object) -> float:
    """The raw held-out MINE estimate in nats: ``mine_fit(x_train, y_train, x_test, y_test, **kw).estimate``.

    Example:
        >>> x = torch.randn(4000, 1); y = 0.9 * x + (1 - 0.81) ** 0.5 * torch.randn(4000, 1)
        >>> mine_mi(x[:3000], y[:3000], x[3000:], y[3000:], seed=0)  # doctest: +SKIP
        0.8
    """
    return mine_fit(x_train, y_train, x_test, y_test, **kw).estimate  # type: ignore[arg-type]


def mine_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_final: float = 1e-5,
    hidden: int = 256,
    patience: int = 8,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """MINE estimate of I(image; representation) over ``seeds``: critic trained (and early-stopped on 20%
    of the train pairs) on train pairs, evaluated on test pairs.

    Returns ``{"mi": mean, "mi_std": std over seeds, "mi_per_seed": [...], "best_steps", "layer",
    "n_train", "n_test", "steps"}`` (nats, raw held-out estimates). The representation is standardized
    with training statistics.

    Example:
        >>> PROTOCOLS["mine"](run, splits, "y")["mi"]  # doctest: +SKIP
        3.1
    """
    layer, x_train, x_test, f_train, f_test = layer_features(encoder, splits, layer, max_train, device)
    y_tr, y_te = standardize(f_train, f_test)  # (N, D), (M, D)
    x_tr, x_te = torch.from_numpy(x_train), torch.from_numpy(x_test)
    schedule = DVSchedule(steps=steps, batch_size=batch_size, lr=lr, lr_final=lr_final, patience=patience)
    fits = [mine_fit(x_tr, y_tr, x_te, y_te, s, hidden, schedule, device,
                     f"MINE {layer}: seed {s} ({i}/{len(seeds)})") for i, s in enumerate(seeds, 1)]
    return {
        "protocol": "mine",
        **seed_summary("mi", fits),
        "layer": layer,
        "n_train": len(x_tr),
        "n_test": len(x_te),
        "steps": steps,
    }
