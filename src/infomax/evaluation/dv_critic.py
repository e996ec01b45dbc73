"""A Donsker-Varadhan critic, trained with early stopping and evaluated on held-out data: the shared core
of MINE (:mod:`infomax.evaluation.mine`) and NDM (:mod:`infomax.evaluation.ndm`).

Both measures estimate a KL divergence ``KL(P || Q)`` between a "P" sample (pairs (x, y), or a
representation y) and a "Q" sample built from it by shuffling (pairs with y permuted: MINE; every factor
of y permuted on its own: NDM) with the Donsker-Varadhan bound (Donsker & Varadhan, 1983)

    KL(P || Q) >= E_P[T] - log E_Q[exp T]   for every critic T,

and MINE's bias-corrected gradient (Belghazi et al., "Mutual Information Neural Estimation", ICML 2018,
sec. 3.2). A critic trained on a finite sample overfits: on the rows it was trained on it finds a large
"divergence" even between identical distributions, and the same critic evaluated on new rows then gives a
*negative* estimate, arbitrarily large in magnitude. So :func:`fit_dv`

- holds out a validation part of the training rows and keeps the critic of the best validation DV value
  (checked every ``eval_every`` steps, stopping after ``patience`` checks without a gain);
- starts from a critic whose last layer is zero (``T = 0``, a DV value of exactly 0), so the kept critic
  is never worse on validation than "no dependence at all";
- reports the DV value of that critic on a separate test sample (fresh Q draws over the whole of it).

Example:
    >>> from infomax.evaluation.ndm import FactorCritic, shuffle_factors
    >>> y = torch.randn(3000, 4)
    >>> fit = fit_dv(lambda: FactorCritic(4, 64), (y[:2000],), (y[2000:],), shuffle_factors)  # doctest: +SKIP
    >>> fit.estimate  # doctest: +SKIP
    0.0  # independent factors: no dependence found
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from infomax.bounds.mine import ema_log_partition, mine_surrogate
from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer, extract_features
from infomax.progress import bar

#: Builds the "Q" sample (e.g. shuffled pairs) from a "P" sample; draws from the global torch RNG.
MakeQ = Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]]

#: Smallest validation gain (nats) that counts as one: float32 rounding alone moves a DV value by ~1e-7, so
#: a critic that only "beats" T = 0 by rounding (e.g. when Q and P coincide) is not kept.
_MIN_GAIN = 1e-5

def logmeanexp(t: Tensor) -> Tensor:
    """log(mean(exp(t))) over all entries, computed stably (a scalar).

    Example:
        >>> float(logmeanexp(torch.full((3,), 1000.0)))
        1000.0
    """
    return torch.logsumexp(t.flatten(), 0) - math.log(t.numel())


def dv_value(t_p: Tensor, t_q: Tensor) -> Tensor:
    """Donsker-Varadhan lower bound on KL(P || Q): ``mean(T(p)) - log mean(exp(T(q)))`` in nats.

    Args:
        t_p: critic values on the P sample, any shape.
        t_q: critic values on the Q sample, any shape.

    Example:
        >>> float(dv_value(torch.zeros(4), torch.zeros(4)))
        0.0
    """
    return t_p.mean() - logmeanexp(t_q)


def zero_last_layer(layer: nn.Linear) -> nn.Linear:
    """Zero the weights and bias of a critic's output layer in place, so the untrained critic is T = 0."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def standardize(train: np.ndarray | Tensor, *others: np.ndarray | Tensor) -> tuple[Tensor, ...]:
    """Standardize every column with the mean and std of ``train`` (N, D); constant columns are centred only.

    Returns float32 tensors ``(train', *others')``; KL estimates are invariant to per-column affine maps,
    and the critic trains best on unit-scale inputs.

    Example:
        >>> a, b = standardize(np.array([[0.0, 5.0], [2.0, 5.0]]), np.array([[4.0, 6.0]]))
        >>> a.tolist(), b.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [[3.0, 1.0]])
    """
    ref = torch.as_tensor(np.asarray(train), dtype=torch.float64)
    mean, std = ref.mean(0), ref.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return tuple(
        ((torch.as_tensor(np.asarray(a), dtype=torch.float64) - mean) / std).float() for a in (train, *others)
    )


def _batched(critic: nn.Module, inputs: tuple[Tensor, ...], device: str, chunk: int = 2048) -> Tensor:
    """Critic values (N,) over all rows of ``inputs``, computed in chunks on ``device``, returned on CPU."""
    out = [
        critic(*(t[s : s + chunk].to(device) for t in inputs)).flatten().cpu()
        for s in range(0, len(inputs[0]), chunk)
    ]
    return torch.cat(out)


def _adam(params: Any, lr: float) -> torch.optim.Adam:
    """Adam, fused where torch has it for the parameters' device (one kernel for all of them: about 3x less
    optimiser time per step on CPU for a critic's dozen small tensors; the same update rule)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch or an unsupported device
        return torch.optim.Adam(params, lr=lr)


def _scores_pq(critic: nn.Module, p: tuple[Tensor, ...], make_q: MakeQ) -> tuple[Tensor, Tensor]:
    """Critic values (B,) on a P batch and on the Q batch built from it: ``critic.scores_pq(p, make_q)``
    where the critic can share work between the two (MINE's critic reuses its embedding of x), else two
    forward calls. ``make_q`` is called exactly once either way (the same random draws)."""
    if hasattr(critic, "scores_pq"):
        t_p, t_q = critic.scores_pq(p, make_q)
        return t_p.flatten(), t_q.flatten()
    return critic(*p).flatten(), critic(*make_q(p)).flatten()


@torch.no_grad()
def _dv_on(critic: nn.Module, p: tuple[Tensor, ...], qs: Sequence[tuple[Tensor, ...]], device: str) -> float:
    t_p = _batched(critic, p, device)  # (N,)
    t_q = torch.cat([_batched(critic, q, device) for q in qs])  # (R * N,)
    return float(dv_value(t_p, t_q))


def dv_estimate(
    critic: nn.Module, p_data: tuple[Tensor, ...], make_q: MakeQ, n_rounds: int = 10, device: str = "cpu"
) -> float:
    """DV estimate of KL(P || Q) on held-out data, in nats: mean T over all of ``p_data`` minus the
    log-mean-exp of T over ``n_rounds`` Q samples, each built from the whole of ``p_data`` (so every
    permutation or shuffle spans the full held-out set).

    Example:
        >>> from infomax.evaluation.ndm import FactorCritic, shuffle_factors
        >>> dv_estimate(FactorCritic(3), (torch.randn(100, 3),), shuffle_factors)  # zero-initialised critic
        0.0
    """
    critic.eval()
    return _dv_on(critic, p_data, [make_q(p_data) for _ in range(n_rounds)], device)


@dataclass(frozen=True)
class DVSchedule:
    """How a DV critic is trained, early-stopped and evaluated (see :func:`train_dv_critic`, :func:`fit_dv`).

    Args:
        steps: the most optimisation steps.
        batch_size: P rows per step (the Q rows are built from them).
        lr: Adam's initial learning rate, decaying exponentially to ``lr_final`` at ``steps``.
        lr_final: the learning rate at the last step.
        ema_rate: weight of the newest batch in the moving average of ``E[exp T(q)]``.
        val_fraction: share of the training rows held out for early stopping, in (0, 1).
        eval_every: steps between two validation checks.
        patience: checks without a gain before training stops.
        n_rounds: Q draws of the test rows for the estimate (validation uses ``max(1, n_rounds // 2)``).

    Example:
        >>> DVSchedule(steps=500, lr=3e-3).batch_size
        256
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 1e-5
    ema_rate: float = 0.01
    val_fraction: float = 0.2
    eval_every: int = 50
    patience: int = 8
    n_rounds: int = 10

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise UserError(f"steps must be >= 1 and batch_size >= 2, got {self.steps} and {self.batch_size}")
        if self.eval_every < 1 or self.patience < 1 or self.n_rounds < 1:
            raise UserError("eval_every, patience and n_rounds must be >= 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not (self.lr > 0 and self.lr_final > 0 and 0 < self.ema_rate < 1):
            raise UserError("lr and lr_final must be > 0 and ema_rate in (0, 1)")


@dataclass(frozen=True)
class DVTraining:
    """What :func:`train_dv_critic` did: the kept critic's step and validation DV value (nats)."""

    best_step: int  #: 0 = the untrained critic (T = 0) was never beaten on validation
    best_val: float  #: DV value of the kept critic on the validation rows
    steps_run: int  #: steps taken before early stopping or the ``steps`` cap


def train_dv_critic(
    critic: nn.Module,
    p_fit: tuple[Tensor, ...],
    p_val: tuple[Tensor, ...],
    make_q: MakeQ,
    schedule: DVSchedule | None = None,
    device: str = "cpu",
    label: str = "DV critic",
) -> DVTraining:
    """Train ``critic`` to maximise the DV bound on KL(P || Q), early-stopped on validation rows.

    Each step draws ``batch_size`` rows of ``p_fit`` (the P sample), builds a fresh Q sample from them with
    ``make_q`` and ascends ``mean T(p) - E[exp T(q)] / ema`` where ``ema`` is a moving average of
    ``E[exp T(q)]`` (Belghazi et al. 2018, sec. 3.2: this has MINE's bias-corrected gradient; each batch
    value clipped as in :func:`infomax.bounds.mine.ema_log_partition`). Adam, with
    a learning rate decaying exponentially from ``lr`` to ``lr_final`` over ``steps`` (the decaying
    schedule of Hjelm et al. 2019, sec. 4.1). Every ``eval_every`` steps (and before the first) the DV value
    on ``p_val`` against ``max(1, n_rounds // 2)`` fixed Q draws of it is computed; the best critic is
    restored at the end, and training stops after ``patience`` checks without a gain. Randomness: the
    global torch RNG.

    Args:
        critic: ``critic(*inputs) -> (B,)`` scores; trained in place and left in eval mode.
        p_fit: tensors with a shared first dimension (kept on CPU; batches are moved to ``device``).
        p_val: validation rows, same layout as ``p_fit``.
        make_q: P batch -> Q batch.
        schedule: the settings (default :class:`DVSchedule()`; ``val_fraction`` is not used here).
        device: torch device.
        label: the progress bar's label (see :mod:`infomax.progress`; a bar over ``steps`` whose ETA is an
            upper bound: training usually stops early).

    Returns:
        The kept critic's step, validation value and the number of steps taken.

    Example:
        >>> from infomax.evaluation.ndm import FactorCritic, shuffle_factors
        >>> y = torch.randn(500, 3)
        >>> train_dv_critic(FactorCritic(3), (y[:400],), (y[400:],), shuffle_factors)  # doctest: +SKIP
        DVTraining(best_step=0, best_val=0.0, steps_run=400)  # independent factors: T = 0 is kept
    """
    s = schedule or DVSchedule()
    if len(p_fit[0]) < 2 or len(p_val[0]) < 2:
        raise UserError(f"need >= 2 fit and >= 2 validation rows, got {len(p_fit[0])} and {len(p_val[0])}")
    n = len(p_fit[0])
    critic.to(device)
    q_val = [make_q(p_val) for _ in range(max(1, s.n_rounds // 2))]  # fixed: checks differ only by critic
    critic.eval()
    best_val, best_step = _dv_on(critic, p_val, q_val, device), 0  # 0 for the zero-initialised critic
    best_state = copy.deepcopy(critic.state_dict())
    opt = _adam(critic.parameters(), s.lr)
    decay = (s.lr_final / s.lr) ** (1.0 / max(s.steps - 1, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=decay)
    log_ema: Tensor | None = None
    step, checks_without_gain = 0, 0
    progress = bar(total=s.steps, desc=label, unit="step")
    while step < s.steps and checks_without_gain < s.patience:
        critic.train()
        for _ in range(min(s.eval_every, s.steps - step)):
            idx = torch.randint(0, n, (min(s.batch_size, n),))
            p = tuple(t[idx].to(device) for t in p_fit)
            t_p, t_q = _scores_pq(critic, p, make_q)  # (B,), (B,)
            lme = logmeanexp(t_q)
            log_ema = ema_log_partition(log_ema, lme, decay=1.0 - s.ema_rate)  # clipped as MINE's
            opt.zero_grad()
            (-mine_surrogate(t_p.mean(), lme, log_ema)).backward()  # factor E[exp T(q)] / ema, capped
            opt.step()
            sched.step()
            step += 1
        critic.eval()
        val = _dv_on(critic, p_val, q_val, device)
        if val > best_val + _MIN_GAIN:
            best_val, best_step, best_state = val, step, copy.deepcopy(critic.state_dict())
            checks_without_gain = 0
        else:
            checks_without_gain += 1
        progress.update(step - progress.n)
        progress.set_postfix(val=f"{best_val:.3f}", best=best_step, refresh=False)
    progress.close()
    critic.load_state_dict(best_state)
    critic.eval()
    return DVTraining(best_step=best_step, best_val=best_val, steps_run=step)


@dataclass(frozen=True)
class DVFit:
    """A held-out DV estimate (nats) and how its critic was trained."""

    estimate: float  #: DV value on the test rows: can be slightly negative when there is nothing to find
    training: DVTraining


def fit_dv(
    build_critic: Callable[[], nn.Module],
    p_train: tuple[Tensor, ...],
    p_test: tuple[Tensor, ...],
    make_q: MakeQ,
    seed: int = 0,
    schedule: DVSchedule | None = None,
    device: str = "cpu",
    label: str = "DV critic",
) -> DVFit:
    """Build a critic, train it on ``p_train`` (a random ``val_fraction`` of its rows held out for early
    stopping) and return its DV estimate of KL(P || Q) on ``p_test``.

    The torch RNG is forked and seeded with ``seed`` (the caller's stream is untouched), so the critic's
    initialisation, the validation split, the batches and the shuffles are all reproducible.

    Args:
        build_critic: ``() -> critic`` with ``critic(*inputs) -> (B,)``; best with a zero last layer
            (:func:`zero_last_layer`).
        p_train: training tensors (N, ...) sharing their first dimension.
        p_test: held-out tensors (M, ...), same layout.
        make_q: P sample -> Q sample (e.g. a shuffle).
        seed: seeds the critic, the validation split, the batches and the shuffles.
        schedule: training settings (default :class:`DVSchedule()`).
        device: torch device.
        label: the training progress bar's label.

    Returns:
        :class:`DVFit` with the raw held-out estimate (nats).
    """
    s = schedule or DVSchedule()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = build_critic()
        n = len(p_train[0])
        perm = torch.randperm(n)
        n_val = min(max(2, round(s.val_fraction * n)), n - 2)
        p_val = tuple(t[perm[:n_val]] for t in p_train)
        p_fit = tuple(t[perm[n_val:]] for t in p_train)
        training = train_dv_critic(critic, p_fit, p_val, make_q, s, device, label)
        return DVFit(dv_estimate(critic, p_test, make_q, s.n_rounds, device), training)


def layer_features(
    encoder: object, splits: object, layer: str | None, max_train: int | None, device: str
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(layer, train_images, test_images, train_features (N, D), test_features (M, D))`` for a protocol."""
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    train_images = splits.train.images[:max_train] if max_train else splits.train.images
    test_images = splits.test.images
    f_train = extract_features(encoder, train_images, layer, device=device, split="train")
    f_test = extract_features(encoder, test_images, layer, device=device, split="test")
    return layer, np.asarray(train_images), np.asarray(test_images), f_train, f_test


def seed_summary(name: str, fits: Sequence[DVFit]) -> dict:
    """``{name: mean, name_std, name_per_seed, best_steps}`` of the raw estimates of several seeds (nats)."""
    values = [f.estimate for f in fits]
    return {
        name: float(np.mean(values)),
        f"{name}_std": float(np.std(values)),
        f"{name}_per_seed": [float(v) for v in values],
        "best_steps": [f.training.best_step for f in fits],
    }
