"""The training stage of ``estimate_mi``: build the critic and train it with early stopping.

The critic scores every (x, y) pair of a batch of b rows, a (b, b) matrix with the positives on the
diagonal; the bound's objective turns it into (value to maximize, value to report). Adam ascends the first
on random training batches; every ``eval_every`` steps the objective of the critic's moving average
(weights averaged with decay ``ema``; Polyak averaging, which generalizes better than the last iterate
when the samples are few) is computed on the validation split, the averaged critic with the best value is
kept, and training stops after ``patience`` checks without improvement,
at ``max_steps``, or at the first non-finite training value.

Example:
    >>> import numpy as np, torch
    >>> from infomax.estimate.data import prepare, split_rows
    >>> from infomax.estimate.params import EstimateParams
    >>> p = EstimateParams(max_steps=40, eval_every=20, hidden=(16,), progress=False)
    >>> rng = np.random.default_rng(0); x = rng.standard_normal((300, 2))
    >>> d = prepare(x, x + rng.standard_normal((300, 2)), p.preprocess)
    >>> gen = torch.Generator().manual_seed(p.seed)
    >>> t = train_critic(split_rows(d.x, d.y, 0.2, 0.1, gen, torch.device("cpu")), p, gen)
    >>> t.steps, t.best_step, [h["step"] for h in t.history], t.batch_size
    (40, 40, [20, 40], 210)
    >>> train_value, reported = t.value(torch.zeros(5, 2), torch.zeros(5, 2))  # scalars
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from infomax.errors import UserError
from infomax.estimate.data import Split
from infomax.estimate.params import CONCAT_HIDDEN, SEPARABLE_HIDDEN, EstimateParams, smile_hint

#: ``fn(scores (N, N), log_baseline (N,) | None) -> (value to maximize, reported value)``
Objective = Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor]]


@dataclass
class Trained:
    """The critic kept by early stopping, and how training went (values in nats).

    Attributes:
        net: the critic, restored to its best validation state; base: TUBA's baseline a(y), or None.
        value: ``(xb (b, Dx), yb (b, Dy)) -> (training objective, reported value)``, scalars.
        batch_size: the training batch (``batch_size``, or the training split if that is smaller).
        history: one dict per validation check: ``{"step", "train", "val", "val_objective"}``.
        steps, best_step: steps run, and the step of the kept critic (0: no finite validation value).
        best_val: the reported value on the validation split at ``best_step``.
        stopped_early: early stopping triggered; diverged: why training stopped at a non-finite value, or "".
        warnings: the batch size reduction, the divergence, a validation value that never became finite.
    """

    net: nn.Module
    base: nn.Module | None
    value: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
    batch_size: int
    history: list[dict[str, float]]
    steps: int
    best_step: int
    best_val: float
    stopped_early: bool
    diverged: str
    warnings: list[str]

    @property
    def train_mi(self) -> float:
        """Mean reported value on the training batches between the last two checks (NaN without one)."""
        return self.history[-1]["train"] if self.history else float("nan")


def train_critic(data: Split, p: EstimateParams, gen: torch.Generator) -> Trained:
    """Train a ``p.critic`` critic for ``p.bound`` on ``data`` (see the module); ``gen`` draws the batches.

    The critic is initialised from the global RNG seeded with ``p.seed`` inside ``fork_rng`` (the caller's
    global RNG is left as it was).

    Raises:
        UserError: training diverged before the first validation check.
    """
    xt, yt, n_train, dev = data.x, data.y, data.n_train, data.x.device
    warnings: list[str] = []
    bs = min(p.batch_size, n_train)
    if bs < p.batch_size:
        warnings.append(
            f"batch size reduced from {p.batch_size} to {bs} (the training split has {n_train} rows)"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(p.seed)
        net = _build_critic(
            p.critic, xt.shape[1], yt.shape[1], p.hidden, p.embed_dim, p.activation, p.score_map, p.dropout
        )
        net = net.to(dev)
        base = _Baseline(yt.shape[1]).to(dev) if p.bound == "tuba" else None
    objective = _objective(p.bound, p.tau)
    params = list(net.parameters()) + (list(base.parameters()) if base is not None else [])
    opt = torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay)

    # the weights validation reads and the result keeps: a moving average of the trained ones (or those)
    avg = copy.deepcopy(net) if p.ema > 0 else net

    def value_of(m: nn.Module, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        s = m(xb, yb)  # (b, b)
        return objective(s, base(yb) if base is not None else None)

    def value(xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        return value_of(net, xb, yb)

    @torch.no_grad()
    def held_out(sl: slice, group: int) -> np.ndarray:
        """(training objective, reported value) on disjoint groups of ``group`` rows: (#groups, 2)."""
        avg.eval()
        idx = torch.arange(sl.start, sl.stop, device=dev)
        k = max(1, len(idx) // group)
        out = [[v.item() for v in value_of(avg, xt[g], yt[g])] for g in torch.tensor_split(idx, k)]
        avg.train()
        return np.asarray(out).reshape(-1, 2)

    val_group = min(data.n_val, 2048)  # one big matrix: many negatives, a steadier early-stopping signal
    history: list[dict[str, float]] = []
    best_obj, best_val, best_step, best_state = -math.inf, -math.inf, 0, _state(avg, base)
    bad_checks, step, recent, diverged, stopped_early = 0, 0, [], "", False
    bar = _progress(p.max_steps, p.progress)
    order = torch.randperm(n_train, generator=gen).to(dev)
    pos = 0
    try:
        for step in range(1, p.max_steps + 1):
            if pos + bs > n_train:
                order, pos = torch.randperm(n_train, generator=gen).to(dev), 0
            b = order[pos : pos + bs]  # (bs,)
            pos += bs
            train_v, report_v = value(xt[b], yt[b])
            if not torch.isfinite(train_v):
                diverged = f"training diverged at step {step} (non-finite {p.bound} value)"
                break
            opt.zero_grad(set_to_none=True)
            (-train_v).backward()
            opt.step()
            if avg is not net:
                _ema_update(avg, net, min(p.ema, (1.0 + step) / (10.0 + step)))
            recent.append(report_v.item())
            if step % p.eval_every == 0 or step == p.max_steps:
                v = held_out(data.val, val_group)  # (groups, 2)
                obj, val = (float(c.mean()) if np.all(np.isfinite(c)) else -math.inf for c in v.T)
                tr_mean = float(np.mean(recent))
                recent = []
                history.append({"step": step, "train": tr_mean, "val": val, "val_objective": obj})
                if bar is not None:
                    bar.set_postfix(train=f"{tr_mean:.3f}", val=f"{val:.3f}", refresh=False)
                # Early stopping on the held-out TRAINING objective (for smile/jsd: the JSD loss), not on
                # the reported value: picking the maximum of a non-bound (SMILE) selects overestimates.
                if obj > best_obj + 1e-3:
                    best_obj, best_val, best_step, best_state = obj, val, step, _state(avg, base)
                    bad_checks = 0
                else:
                    bad_checks += 1
                    if bad_checks >= p.patience:
                        stopped_early = True
                        break
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    if diverged:
        warnings.append(diverged + "; reporting the best critic before it" + smile_hint(p.bound))
    if best_step == 0:
        if not history:
            raise UserError(
                f"{p.bound} training diverged before the first validation check; try bound='smile'"
            )
        warnings.append("the validation estimate never became finite; the result is unreliable")
    _load(net, base, best_state)
    return Trained(
        net, base, value, bs, history, step, best_step, best_val, stopped_early, diverged, warnings
    )


# ---------------------------------------------------------------------------------- critic and bound


def _build_critic(
    name: str,
    x_dim: int,
    y_dim: int,
    hidden: tuple[int, ...] | None,
    embed_dim: int,
    act: str,
    score_map: int = 0,
    dropout: float = 0.0,
) -> nn.Module:
    """The ``name`` critic; with ``score_map`` > 0 its scores pass through a learned scalar map of that
    width (:class:`~infomax.critics.ScoreMap`, built after the critic from the same RNG); ``dropout`` after
    every hidden activation of the separable and concat critics."""
    from infomax.critics import CRITICS, ScoreMap

    cls = CRITICS[name]
    if name == "separable":
        net = cls(x_dim, y_dim, hidden=hidden or SEPARABLE_HIDDEN, embed_dim=embed_dim, activation=act,
                  dropout=dropout)
    elif name == "concat":
        net = cls(x_dim, y_dim, hidden=hidden or CONCAT_HIDDEN, activation=act, dropout=dropout)
    else:
        net = cls(x_dim, y_dim)  # bilinear
    return ScoreMap(net, hidden=score_map) if score_map else net


class _Baseline(nn.Module):
    """TUBA's learned log-baseline log a(y): a small MLP, (M, Dy) -> (M,)."""

    def __init__(self, y_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(y_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y).squeeze(-1)  # (M,)


def _objective(bound: str, tau: float | None) -> Objective:
    from infomax import bounds as B

    def smile(s: Tensor, lb: Tensor | None) -> tuple[Tensor, Tensor]:
        # Song & Ermon's reference code: the value of SMILE, the gradient of JSD. Ascending SMILE's own
        # gradient diverges: once the negatives sit outside [-tau, tau] nothing holds the positives down.
        return B.jsd(s), B.smile(s, tau=tau)

    def jsd(s: Tensor, lb: Tensor | None) -> tuple[Tensor, Tensor]:
        # The JSD-optimal critic is log p/(p_x p_y); NWJ's optimum is 1 + that (Poole et al. 2019).
        return B.jsd(s), B.nwj(s + 1.0)

    def tuba(s: Tensor, lb: Tensor | None) -> tuple[Tensor, Tensor]:
        v = B.tuba(s, lb)
        return v, v

    def plain(fn: Callable[[Tensor], Tensor]) -> Objective:
        def f(s: Tensor, lb: Tensor | None) -> tuple[Tensor, Tensor]:
            v = fn(s)
            return v, v

        return f

    table: dict[str, Objective] = {
        "smile": smile,
        "jsd": jsd,
        "tuba": tuba,
        "nwj": plain(B.nwj),
        "dv": plain(B.dv),
        "infonce": plain(B.infonce),
    }
    return table[bound]


@torch.no_grad()
def _ema_update(avg: nn.Module, net: nn.Module, decay: float) -> None:
    """avg <- decay * avg + (1 - decay) * net, parameter by parameter (buffers copied)."""
    for a, q in zip(avg.parameters(), net.parameters()):
        a.mul_(decay).add_(q, alpha=1.0 - decay)
    for a, q in zip(avg.buffers(), net.buffers()):
        a.copy_(q)


def _state(net: nn.Module, base: nn.Module | None) -> list[dict[str, Tensor]]:
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in (net, base) if m is not None]


def _load(net: nn.Module, base: nn.Module | None, state: list[dict[str, Tensor]]) -> None:
    for m, s in zip([m for m in (net, base) if m is not None], state):
        m.load_state_dict(s)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="estimate_mi", unit="step", leave=False, dynamic_ncols=True)
