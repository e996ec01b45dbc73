"""MINE: a Donsker-Varadhan estimate of I(X; Y) between input images and their representation.

Belghazi et al., "Mutual Information Neural Estimation" (ICML 2018); used as an evaluation measure by
Hjelm et al., "Learning deep representations by mutual information estimation and maximization" (ICLR 2019,
sec. 4.1 and Table 4: "for MINE, we used a decaying learning rate schedule, which helped reduce variance in
estimates and provided faster convergence").

The generic pieces here (:func:`train_dv_critic`, :func:`dv_estimate`) estimate KL(P || Q) for any pair of
samplers and are reused by the neural dependency measure (:mod:`infomax.evaluation.ndm`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer, extract_features

#: Builds the "Q" sample (e.g. shuffled pairs) from a "P" sample; draws from the global torch RNG.
MakeQ = Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]]


def logmeanexp(t: Tensor) -> Tensor:
    """log(mean(exp(t))) over all entries, computed stably (a scalar)."""
    return torch.logsumexp(t.flatten(), 0) - math.log(t.numel())


def dv_value(t_p: Tensor, t_q: Tensor) -> Tensor:
    """Donsker-Varadhan lower bound on KL(P || Q): ``mean(T(p)) - log mean(exp(T(q)))`` in nats.

    Example:
        >>> float(dv_value(torch.zeros(4), torch.zeros(4)))
        0.0
    """
    return t_p.mean() - logmeanexp(t_q)


def shuffle_pairs(p: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Product-of-marginals sample for MINE: ``(x, y) -> (x, y[perm])`` with one random permutation."""
    x, y = p
    return x, y[torch.randperm(len(y), device=y.device)]


def _batched(critic: nn.Module, inputs: tuple[Tensor, ...], device: str, chunk: int = 2048) -> Tensor:
    out = [
        critic(*(t[s : s + chunk].to(device) for t in inputs)).flatten().cpu()
        for s in range(0, len(inputs[0]), chunk)
    ]
    return torch.cat(out)


def train_dv_critic(
    critic: nn.Module,
    p_data: tuple[Tensor, ...],
    make_q: MakeQ,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_final: float = 1e-5,
    ema_rate: float = 0.01,
    device: str = "cpu",
) -> list[float]:
    """Train ``critic`` to maximise the DV bound on KL(P || Q) with MINE's bias-corrected gradient.

    Each step draws ``batch_size`` rows of ``p_data`` (the P sample), builds the Q sample with ``make_q``
    and ascends ``mean T(p) - E[exp T(q)] / ema`` where ``ema`` is a moving average of ``E[exp T(q)]``
    (Belghazi et al. 2018, sec. 3.2), which has the gradient MINE prescribes. Adam with a learning rate
    decaying exponentially from ``lr`` to ``lr_final``. Randomness comes from the global torch RNG.

    Args:
        critic: ``critic(*inputs) -> (B,)`` scores.
        p_data: tensors with a shared first dimension N (kept on CPU; batches are moved to ``device``).
        make_q: P batch -> Q batch.
        steps, batch_size, lr, lr_final, ema_rate: optimisation settings.
        device: torch device.

    Returns:
        The DV value of every training batch (nats), for diagnostics.
    """
    if steps < 1 or batch_size < 2:
        raise UserError("steps must be >= 1 and batch_size >= 2")
    n = len(p_data[0])
    critic.to(device).train()
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    decay = (lr_final / lr) ** (1.0 / max(steps - 1, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=decay)
    log_ema: Tensor | None = None
    history = []
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),))
        p = tuple(t[idx].to(device) for t in p_data)
        q = make_q(p)
        t_p, t_q = critic(*p).flatten(), critic(*q).flatten()  # (B,), (B,)
        lme = logmeanexp(t_q)
        cur = lme.detach()
        if log_ema is None:
            log_ema = cur
        else:
            log_ema = torch.logaddexp(log_ema + math.log1p(-ema_rate), cur + math.log(ema_rate))
        surrogate = t_p.mean() - torch.exp(lme - log_ema)
        opt.zero_grad()
        (-surrogate).backward()
        opt.step()
        sched.step()
        history.append(float(t_p.mean().detach() - cur))
    critic.eval()
    return history


@torch.no_grad()
def dv_estimate(
    critic: nn.Module, p_data: tuple[Tensor, ...], make_q: MakeQ, n_rounds: int = 10, device: str = "cpu"
) -> float:
    """DV estimate of KL(P || Q) on held-out data: mean T over all of ``p_data`` minus the log-mean-exp of
    T over ``n_rounds`` Q samples, each built from the whole of ``p_data`` (so every permutation or
    shuffle spans the full held-out set). Nats."""
    critic.eval()
    t_p = _batched(critic, p_data, device)
    t_q = torch.cat([_batched(critic, make_q(p_data), device) for _ in range(n_rounds)])
    return float(dv_value(t_p, t_q))


class ConcatCritic(nn.Module):
    """``T(x, y) = MLP([phi(x), y])``: a critic on (input, representation) pairs.

    ``phi`` is a small conv net for images (two 4x4 stride-2 convolutions, 32 and 64 channels, then a
    linear layer) or the identity for vectors. uint8 images are converted to [0, 1] inside.

    Args:
        x_shape: shape of one x, (C, H, W) for images or (D,) for vectors.
        y_dim: width of y.
        hidden: hidden width of the MLP (and of phi's output for images).

    Example:
        >>> c = ConcatCritic((1, 8, 8), 16)
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
            raise UserError(f"ConcatCritic takes images (C, H, W) or vectors (D,), got shape {x_shape}")
        self.mlp = nn.Sequential(
            nn.Linear(x_dim + y_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        return self.mlp(torch.cat([self.phi(x.float()), y.float()], 1)).squeeze(1)  # (B,)


def mine_mi(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
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
    """MINE estimate of I(X; Y) in nats: a DV critic trained on (x_train, y_train), evaluated on the test
    pairs.

    The RNG is forked and seeded with ``seed`` (the caller's stream is untouched).

    Example:
        >>> x = torch.randn(4000, 1); y = 0.9 * x + (1 - 0.81) ** 0.5 * torch.randn(4000, 1)
        >>> mine_mi(x[:3000], y[:3000], x[3000:], y[3000:])  # doctest: +SKIP
        0.8  # true value -0.5 * log(1 - 0.81) = 0.83
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = ConcatCritic(tuple(x_train.shape[1:]), y_train.shape[1], hidden)
        train_dv_critic(
            critic, (x_train, y_train), shuffle_pairs, steps, batch_size, lr, lr_final, device=device
        )
        return dv_estimate(critic, (x_test, y_test), shuffle_pairs, n_rounds, device)


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[Tensor, Tensor]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (
        torch.from_numpy(((train - mean) / std).astype(np.float32)),
        torch.from_numpy(((test - mean) / std).astype(np.float32)),
    )


def mine_protocol(
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
    """MINE estimate of I(image; representation) over ``seeds``: critic trained on train, evaluated on test.

    Returns ``{"mi": mean, "mi_std": std over seeds, "mi_per_seed": [...], "layer", "n_train", "n_test"}``
    (nats). The representation is standardized with training statistics.
    """
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    train_images = splits.train.images[:max_train] if max_train else splits.train.images
    test_images = splits.test.images
    y_tr, y_te = _standardize(
        extract_features(encoder, train_images, layer, device=device),
        extract_features(encoder, test_images, layer, device=device),
    )
    x_tr, x_te = torch.from_numpy(np.asarray(train_images)), torch.from_numpy(np.asarray(test_images))
    values = [
        mine_mi(x_tr, y_tr, x_te, y_te, s, steps, batch_size, lr, lr_final, hidden, device=device)
        for s in seeds
    ]
    return {
        "protocol": "mine",
        "mi": float(np.mean(values)),
        "mi_std": float(np.std(values)),
        "mi_per_seed": [float(v) for v in values],
        "layer": layer,
        "n_train": len(x_tr),
        "n_test": len(x_te),
        "steps": steps,
    }
