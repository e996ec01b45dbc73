"""NDM, the neural dependency measure: how far a representation's factors are from independent.

Hjelm et al., "Learning deep representations by mutual information estimation and maximization" (ICLR 2019,
sec. 4.1 and app. A.6), after Brakel & Bengio (2017): shuffle every factor (column) of a batch of
representations independently along the batch; the shuffled batch has the same per-factor marginals but
independent factors. A discriminator estimates KL(joint || product of marginals), the total correlation
``TC(Y) = sum_i H(Y_i) - H(Y)``, with the Donsker-Varadhan bound; higher means more dependent factors,
0 for independent ones. The critic is trained and early-stopped as described in
:mod:`infomax.evaluation.dv_critic` and evaluated on held-out rows; the features are standardized first
(the total correlation is invariant to per-factor rescaling).

For a Gaussian the total correlation has a closed form (:func:`gaussian_total_correlation`), the ground
truth of the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn

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


def shuffle_factors(p: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """``(y (B, D),) -> (y',)`` with each column of y permuted independently along the batch.

    Example:
        >>> (ys,) = shuffle_factors((torch.arange(6.).view(3, 2),))
        >>> sorted(ys[:, 0].tolist()), sorted(ys[:, 1].tolist())
        ([0.0, 2.0, 4.0], [1.0, 3.0, 5.0])
    """
    (y,) = p
    # one permutation per column, by numpy (several times faster than argsorting random keys in torch)
    # from a seed drawn from the torch stream, so seeded runs stay reproducible
    seed = int(torch.randint(0, 2**62, (1,)))
    rows = np.broadcast_to(np.arange(len(y))[:, None], tuple(y.shape))
    idx = np.random.default_rng(seed).permuted(rows, axis=0)  # (B, D)
    return (y.gather(0, torch.from_numpy(idx).to(y.device)),)


class FactorCritic(nn.Module):
    """MLP critic on a representation (D,): Linear(D, h) - ReLU - Linear(h, h) - ReLU - Linear(h, 1).

    The output layer starts at zero (T = 0: "no dependence" until training finds some).

    Example:
        >>> FactorCritic(5, hidden=16)(torch.randn(3, 5))
        tensor([0., 0., 0.], grad_fn=<SqueezeBackward1>)
    """

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            zero_last_layer(nn.Linear(hidden, 1)),
        )

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y).squeeze(1)  # (B,)

    def scores_pq(self, p: tuple[Tensor, ...], make_q: MakeQ) -> tuple[Tensor, Tensor]:
        """``(T(p) (B,), T(q) (B,))`` for ``q = make_q(p)`` in one forward pass over both batches (the
        critic scores each row on its own, so this equals two calls)."""
        (y,), (yq,) = p, make_q(p)
        t = self(torch.cat([y, yq]))  # (2B,)
        return t[: len(y)], t[len(y) :]


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """Total correlation of a Gaussian with covariance ``cov`` (D, D): ``0.5 * (sum log S_ii - log det S)``.

    The KL divergence between N(0, S) and N(0, diag S), in nats; infinite for a singular ``cov``.

    Example:
        >>> round(gaussian_total_correlation(np.array([[1.0, 0.6], [0.6, 1.0]])), 4)  # -0.5 log(1 - 0.36)
        0.2231
    """
    cov = np.asarray(cov, dtype=np.float64)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))


def ndm_fit(
    y_train: np.ndarray | Tensor,
    y_test: np.ndarray | Tensor,
    seed: int = 0,
    hidden: int = 128,
    schedule: DVSchedule | None = None,
    device: str = "cpu",
    label: str = "NDM critic",
) -> DVFit:
    """NDM in nats, with how its critic was trained: a DV critic between Y and its per-factor shuffle,
    trained on ``y_train`` (N, D) (``schedule.val_fraction`` of it held out for early stopping), evaluated
    on ``y_test`` (M, D).

    Both are standardized with the statistics of ``y_train``, so the value does not depend on the scale of
    each factor. The RNG is forked and seeded with ``seed``. The estimate is the raw held-out value: about
    0, possibly slightly negative, for independent factors (:func:`ndm_protocol` clips it at 0 and says so).

    Args:
        y_train: representations (N, D) the critic is trained (and early-stopped) on.
        y_test: held-out representations (M, D) the estimate is computed on.
        seed: seeds the critic, the validation split, the batches and the shuffles.
        hidden: width of the two hidden layers of :class:`FactorCritic`.
        schedule: training settings (default :class:`~infomax.evaluation.dv_critic.DVSchedule()`).
        device: torch device.
        label: the progress bar's label.

    Example:
        >>> r = 0.795; z = torch.randn(4000, 2)
        >>> y = torch.stack([z[:, 0], r * z[:, 0] + (1 - r * r) ** 0.5 * z[:, 1]], 1)
        >>> ndm_fit(y[:3000], y[3000:]).estimate  # doctest: +SKIP
        0.48  # closed form: gaussian_total_correlation([[1, r], [r, 1]]) = 0.50
    """
    y_tr, y_te = standardize(y_train, y_test)  # (N, D), (M, D): statistics of the training rows
    critic = partial(FactorCritic, y_tr.shape[1], hidden)
    return fit_dv(critic, (y_tr,), (y_te,), shuffle_factors, seed, schedule, device, label)


def ndm_value(y_train: np.ndarray | Tensor, y_test: np.ndarray | Tensor, **kw: object) -> float:
    """The raw held-out NDM estimate in nats: ``ndm_fit(y_train, y_test, **kw).estimate``.

    Example:
        >>> z = torch.randn(4000, 4)
        >>> y = torch.cat([z, z + 0.1 * torch.randn(4000, 4)], 1)  # each factor duplicated, plus noise
        >>> ndm_value(y[:3000], y[3000:], seed=0)  # doctest: +SKIP
        6.7  # clearly positive (independent factors give ~0)
    """
    return ndm_fit(y_train, y_test, **kw).estimate  # type: ignore[arg-type]


def ndm_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_final: float = 1e-5,
    hidden: int = 128,
    patience: int = 8,
    max_train: int | None = None,
    device: str = "cpu",
    **_: object,
) -> dict:
    """NDM of ``layer`` (default the output layer): critic trained (and early-stopped on 20% of the train
    features) on train features, evaluated on test features, once per seed.

    Returns (nats) ``{"ndm": max(mean, 0), "ndm_raw": mean of the raw held-out estimates, "ndm_std",
    "ndm_per_seed" (raw), "best_steps", "tc_gaussian", "layer", "n_train", "n_test", "steps"}`` plus
    ``"warning"`` when the raw mean is negative (no dependence found; a negative KL is an estimation error,
    so ``ndm`` is clipped to 0). ``best_steps`` equal to ``steps`` mean the critic was still improving.
    ``tc_gaussian`` is the total correlation of a Gaussian with the train features' covariance (constant
    factors left out; None where it is infinite or D > 1024), a reference point, not an estimate of NDM:
    the two agree for Gaussian features.

    Example:
        >>> PROTOCOLS["ndm"](run, splits, "y")["ndm"]  # doctest: +SKIP
        0.35
    """
    layer, _, _, f_train, f_test = layer_features(encoder, splits, layer, max_train, device)
    schedule = DVSchedule(steps=steps, batch_size=batch_size, lr=lr, lr_final=lr_final, patience=patience)
    fits = [ndm_fit(f_train, f_test, s, hidden, schedule, device, f"NDM {layer}: seed {s} ({i}/{len(seeds)})")
            for i, s in enumerate(seeds, 1)]
    summary = seed_summary("ndm", fits)
    raw = summary["ndm"]
    out = {"protocol": "ndm", **summary, "ndm": max(raw, 0.0), "ndm_raw": raw}
    if raw < 0:
        out["warning"] = f"held-out NDM estimate {raw:.4f} < 0 (no dependence found): reported as 0"
    out.update(tc_gaussian=_reference_tc(f_train), layer=layer, n_train=len(f_train), n_test=len(f_test))
    out["steps"] = steps
    return out


def _reference_tc(features: np.ndarray, max_dim: int = 1024) -> float | None:
    """Gaussian total correlation of the non-constant columns of ``features`` (N, D); None when it is
    infinite (a singular covariance) or D > ``max_dim`` (too costly)."""
    varying = features.std(0) > 0
    d = int(varying.sum())
    if d > max_dim or d >= len(features):
        return None
    if d < 2:
        return 0.0
    tc = gaussian_total_correlation(np.cov(features[:, varying].astype(np.float64), rowvar=False))
    return tc if np.isfinite(tc) else None
