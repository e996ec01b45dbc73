"""``estimate_mi``: the user-facing mutual-information estimator.

Trains a critic ``T(x, y)`` on a training split of paired samples by maximizing a variational bound,
stops early on a validation split, and reports the bound on a held-out test split with a standard error,
in nats and bits.

What the standard error covers: only the sampling noise of the held-out estimate (which test rows were
drawn, and how they were grouped into batches), measured on many (>= 32) random held-out batches; see
:func:`heldout_estimate`. It does NOT cover the bias of the bound: NWJ, DV, InfoNCE and TUBA are lower
bounds, and a critic limited by few samples or too few steps makes them lower still, so the true MI can
sit many standard errors above ``mi_nats``. The result's ``note`` says so, and its ``warnings`` name the
known causes (few samples, overfitting, the step limit, an MI beyond what the data can show).

The defaults are chosen to hold up beyond Gaussians:

- every input column is mapped to a standard normal through its ranks (``preprocess="rank"``, a
  Gaussian copula transform). MI is invariant under invertible elementwise maps, so this loses nothing
  and removes long tails (Student-t, log-normal, cubes) that otherwise wreck the critic's training;
- the bound is SMILE with tau = 5 (Song & Ermon 2020), whose variance stays bounded at high MI, unlike
  NWJ/DV (exponential in the MI) and InfoNCE (pinned at log N). SMILE is not a bound: as the MI nears
  tau it is biased (we saw +1.4 nats at a true 6 nats), and the result then carries a warning;
- a separable critic ``g(x)^T h(y)`` (two hidden layers of 256, 32-d embeddings; Poole et al. 2019)
  scoring every pair in a batch of 256, so each positive has 255 negatives during training and each
  held-out batch (>= 256 pairs) supplies tens of thousands of negative pairs.

InfoNCE is never reported as a plain MI value where it sits near its ceiling log N (N = held-out batch
size): the result is flagged ``saturated`` with a warning that the true MI is probably higher. A
diverging estimate (non-finite values, DV/NWJ exploding) is a warning in the result, never hidden.

Results that would mislead are flagged rather than reported plainly:

- a critic that memorizes its training pairs (few samples for the dimension: the training value far above
  the held-out one, or a held-out value far below zero) makes ``reliable`` False. Its held-out value,
  near zero or negative, is then no evidence of independence; the warning says the sample is too small for
  the dimension and what to do;
- an exact deterministic relation (X against itself, a duplicated column, an invertible elementwise or
  linear map), found by cheap checks on the data, sets ``deterministic``: the MI of a continuous variable
  with a function of itself is infinite, and any estimate is a lower bound limited by the sample;
- ``pair_check`` reads the most rank-correlated pair of one X column and one Y column: a dependence that a
  failing critic misses is still reported;
- ``dependence`` says in one word what the result supports: ``detected``, ``none detected`` (only from a
  critic that generalizes), ``inconclusive`` or ``deterministic``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2000, 2)); y = 0.9 * x + 0.44 * rng.standard_normal((2000, 2))
    >>> est = estimate_mi(x, y, max_steps=300, progress=False)  # true MI: 1.66 nats
    >>> est.bound, est.critic, est.n_test
    ('smile', 'separable', 400)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from infomax.errors import UserError

#: Estimators ``estimate_mi`` offers: name -> what is trained and what is reported.
ESTIMATOR_BOUNDS: dict[str, str] = {
    "smile": "SMILE(tau): reported clipped DV value, trained with the JSD gradient (Song & Ermon 2020)",
    "nwj": "NWJ lower bound (Nguyen, Wainwright & Jordan 2010)",
    "dv": "Donsker-Varadhan lower bound (MINE without the moving average)",
    "infonce": "InfoNCE lower bound, capped at log(batch size) (van den Oord et al. 2018)",
    "tuba": "TUBA with a learned baseline a(y) (Poole et al. 2019)",
    "jsd": "trained with Jensen-Shannon (Deep InfoMax), reported as NWJ on the shifted critic",
}
#: Critics ``estimate_mi`` can build (infomax.critics names).
ESTIMATOR_CRITICS: tuple[str, ...] = ("separable", "concat", "bilinear")
#: Input preprocessing options.
PREPROCESS: tuple[str, ...] = ("rank", "standardize", "none")

MIN_SAMPLES = 20  # below this nothing sensible can be split into train/validation/test
_FEW_SAMPLES = 1000  # below this the result carries a warning


@dataclass
class MIEstimate:
    """Result of :func:`estimate_mi`.

    Attributes:
        mi_nats: held-out estimate of I(X; Y) in nats: the mean of the bound over ``n_eval_batches``
            random held-out batches of ``eval_batch_size`` rows. Read it with the flags: ``saturated``
            (InfoNCE at its ceiling: the MI is probably higher), ``reliable`` False (says little about the
            MI), ``deterministic`` (the MI is infinite; this is a lower bound).
        stderr_nats: standard error of ``mi_nats`` from the held-out sampling noise ONLY (which test rows,
            which batches; see :func:`heldout_estimate`), not the bias of the bound or of the critic.
        mi_bits, stderr_bits: the same in bits (nats / ln 2).
        bound, critic, preprocess: what was used.
        n_train, n_val, n_test: sizes of the three splits.
        batch_size, eval_batch_size: training batch and held-out batch sizes.
        n_eval_batches: held-out batches evaluated (whole random partitions of the test split, >= 32).
        steps, best_step: optimisation steps run, and the step of the restored (best validation) critic.
        converged: early stopping triggered; False when training ran into ``max_steps`` (or diverged) first.
        train_mi_nats, val_mi_nats: the bound on the training batches (mean of the last evaluation window)
            and on the validation split at ``best_step``.
        saturated: InfoNCE sits near its ceiling ``ceiling_nats`` = log(eval batch size); the true MI is
            probably higher than ``mi_nats``.
        reliable: False when the critic does not generalize (it memorizes its training pairs, or reads far
            below zero held out): ``mi_nats`` then says little about the MI, a value near or below zero does
            not mean independence, and ``warnings`` says why and what to do.
        deterministic: Y is an exact function of X (found by :func:`_exact_relation`): the MI of continuous
            data is then infinite and ``mi_nats`` only a lower bound limited by the sample.
        dependence: what the result supports: ``"detected"``, ``"none detected"`` (a reliable estimate
            within noise of zero or below, and no strongly correlated column pair), ``"inconclusive"``
            or ``"deterministic"``.
        pair_check: the most rank-correlated (x column, y column) pair: ``{"x_column", "y_column",
            "rank_correlation", "gaussian_mi_nats" (-0.5 log(1 - r^2), that pair's MI under a Gaussian
            copula), "significant" (beyond what independent columns show)}``; None when too costly.
        seconds: wall time.
        warnings: human-readable problems (divergence, saturation, overfitting, few samples, ...).
        note: what ``stderr_nats`` covers and which way the bound is biased, in one paragraph.
        history: one dict per validation check: ``{"step", "train", "val", "val_objective"}`` (nats);
            early stopping keeps the critic with the best ``val_objective`` (the held-out training objective).
    """

    mi_nats: float
    stderr_nats: float
    bound: str
    critic: str
    n_train: int
    n_val: int
    n_test: int
    mi_bits: float = field(init=False)
    stderr_bits: float = field(init=False)
    preprocess: str = "rank"
    batch_size: int = 0
    eval_batch_size: int = 0
    n_eval_batches: int = 0
    steps: int = 0
    best_step: int = 0
    converged: bool = True
    train_mi_nats: float = float("nan")
    val_mi_nats: float = float("nan")
    saturated: bool = False
    ceiling_nats: float | None = None
    reliable: bool = True
    deterministic: bool = False
    dependence: str = ""
    pair_check: dict[str, Any] | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    note: str = ""
    history: list[dict[str, float]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.mi_bits = self.mi_nats / math.log(2.0)
        self.stderr_bits = self.stderr_nats / math.log(2.0)

    def to_dict(self, history: bool = False) -> dict[str, Any]:
        """Plain JSON-able dict (non-finite floats become None); ``history=True`` keeps the curve."""
        d = asdict(self)
        if not history:
            d.pop("history")
        return {k: _json_safe(v) for k, v in d.items()}

    def headline(self) -> str:
        """The one-line result, worded so that a flagged estimate is not read as the MI."""
        value = f"{self.mi_nats:.4f} +/- {self.stderr_nats:.4f} nats"
        if self.deterministic:
            return (
                "I(X;Y) = inf for continuous data (Y is an exact function of X); the estimator reads "
                f"{value}, a lower bound limited by the sample"
            )
        if not self.reliable:
            return (
                f"I(X;Y): no reliable estimate (held-out value {value}; the critic does not generalize "
                "from this sample, see the warnings)"
            )
        rel = ">=" if self.saturated else "="
        return f"I(X;Y) {rel} {value} ({self.mi_bits:.4f} +/- {self.stderr_bits:.4f} bits)"

    def __str__(self) -> str:
        s = (
            f"{self.headline()} [{self.bound}, {self.critic} critic, n_train={self.n_train}, "
            f"n_test={self.n_test}, dependence: {self.dependence}]"
        )
        s += "".join(f"\nwarning: {w}" for w in self.warnings)
        return s + (f"\nnote: {self.note}" if self.note else "")


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_json_safe(u) for u in v]
    if isinstance(v, dict):
        return {k: _json_safe(u) for k, u in v.items()}
    return v


# ----------------------------------------------------------------------------------------------- inputs


def _as_2d_float(a: Any, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists etc.
        raise UserError(f"{name} cannot be read as a numeric array ({e})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise UserError(f"{name} must be real-valued, got complex numbers")
    if arr.ndim == 1:
        arr = arr[:, None]  # one feature
    elif arr.ndim != 2:
        raise UserError(f"{name} must be 1-D (one feature) or 2-D (samples, features), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.shape[1] == 0:
        raise UserError(f"{name} has no features (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise UserError(f"{name} contains NaN or inf values in {bad} row(s); drop or impute them first")
    return arr


def _rank_gauss(a: np.ndarray) -> np.ndarray:
    """Columnwise Gaussian copula transform: average ranks r in 1..n -> Phi^-1(r / (n + 1))."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    r = rankdata(a, method="average", axis=0)  # (n, d)
    z = ndtri(r / (a.shape[0] + 1.0))  # (n, d)
    return _zscore(z)


def _zscore(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    sd[sd == 0] = 1.0
    return (a - a.mean(axis=0)) / sd


def _preprocess(a: np.ndarray, how: str) -> np.ndarray:
    if how == "rank":
        return _rank_gauss(a)
    if how == "standardize":
        return _zscore(a)
    return a


# ---------------------------------------------------------------------------------------------- critics


def _build_critic(
    name: str, x_dim: int, y_dim: int, hidden: tuple[int, ...] | None, embed_dim: int
) -> nn.Module:
    from infomax.critics import CRITICS

    cls = CRITICS[name]
    if name == "separable":
        return cls(x_dim, y_dim, hidden=hidden or (256, 256), embed_dim=embed_dim)
    if name == "concat":
        return cls(x_dim, y_dim, hidden=hidden or (256, 256))
    return cls(x_dim, y_dim)  # bilinear


class _Baseline(nn.Module):
    """TUBA's learned log-baseline log a(y): a small MLP, (M, Dy) -> (M,)."""

    def __init__(self, y_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(y_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y).squeeze(-1)  # (M,)


# ------------------------------------------------------------------------------------------- objectives

#: ``fn(scores (N, N), log_baseline (N,) | None) -> (value to maximize, reported value)``
Objective = Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor]]


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


# ------------------------------------------------------------------------------------ held-out estimate

#: Held-out batches evaluated at least (whole random partitions of the test split; >= 30 keeps the
#: standard error itself stable: its relative noise is about 1 / sqrt(2 * 32) = 12.5%).
N_EVAL_BATCHES = 32


class HeldOut(NamedTuple):
    """Result of :func:`heldout_estimate` (nats).

    Attributes:
        value: mean of ``batch_values``, the held-out estimate.
        stderr: its standard error from held-out sampling noise (see :func:`heldout_estimate`).
        batch_values: (P * K,) the bound on every evaluated batch, partition after partition.
        batches_per_partition: K = n // batch_size, the disjoint batches one partition of the rows makes.
    """

    value: float
    stderr: float
    batch_values: np.ndarray
    batches_per_partition: int


@torch.no_grad()
def heldout_estimate(
    batch_value: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    batch_size: int,
    n_batches: int = N_EVAL_BATCHES,
    generator: torch.Generator | None = None,
) -> HeldOut:
    """Evaluate a trained critic's bound on many random batches of held-out pairs, with a standard error.

    The n held-out rows are randomly partitioned P times into K = n // batch_size disjoint batches of
    exactly ``batch_size`` rows (the n - K * batch_size rows left over change with each partition), with P
    the fewest partitions giving at least ``n_batches`` batches. The estimate is the mean of the P * K
    batch values; with s their standard deviation,

        stderr = s * sqrt(n / (n - batch_size)) / sqrt(K).

    Reading: one partition's mean of K independent batch values has variance sigma_b^2 / K, where sigma_b^2
    is the variance of the value of a batch of ``batch_size`` fresh pairs. Batches drawn from a finite set
    of n rows vary less than fresh ones, by the factor (n - b) / n for a mean of b rows (the finite-population
    correction), which the square root undoes. For a bound that is a plain mean over rows this makes
    stderr ~= std(row terms) / sqrt(n), the textbook standard error of the held-out mean; averaging more
    partitions only removes the batching noise, so this is slightly conservative.

    It covers the sampling noise of the held-out estimate only: NOT the bias of a lower bound, nor that of a
    critic limited by few training samples or steps (both push the value below the true MI), nor the noise
    of the critic's training.

    Args:
        batch_value: ``(xb (b, Dx), yb (b, Dy)) -> scalar`` bound on one batch (positives = same row).
        x: (n, Dx) held-out samples of X.
        y: (n, Dy) held-out samples of Y, row-paired with x.
        batch_size: rows per batch, 2 <= batch_size <= n // 2 (so K >= 2).
        n_batches: evaluate at least this many batches (rounded up to whole partitions).
        generator: torch RNG for the partitions (None: the global one).

    Returns:
        :class:`HeldOut` ``(value, stderr, batch_values, batches_per_partition)``; value and stderr are NaN
        when some batch value is not finite.

    Example:
        >>> import torch
        >>> from infomax.bounds import nwj
        >>> x = torch.randn(100, 1); y = x + torch.randn(100, 1)
        >>> h = heldout_estimate(lambda a, b: nwj(a @ b.T), x, y, batch_size=25)
        >>> h.batches_per_partition, len(h.batch_values)
        (4, 32)
    """
    n = int(x.shape[0])
    if y.shape[0] != n:
        raise UserError(f"x and y must have the same number of rows, got {n} and {y.shape[0]}")
    if not 2 <= batch_size <= n // 2:
        raise UserError(f"batch_size must be in [2, {n // 2}] for {n} held-out rows, got {batch_size}")
    if n_batches < 2:
        raise UserError(f"n_batches must be >= 2, got {n_batches}")
    k = n // batch_size
    vals: list[float] = []
    for _ in range(math.ceil(n_batches / k)):
        rows = torch.randperm(n, generator=generator)[: k * batch_size].to(x.device)  # (K * b,)
        for b in rows.view(k, batch_size):  # (b,)
            vals.append(float(batch_value(x[b], y[b])))
    v = np.asarray(vals)  # (P * K,)
    if not np.all(np.isfinite(v)):
        return HeldOut(float("nan"), float("nan"), v, k)
    se = float(v.std(ddof=1)) * math.sqrt(n / (n - batch_size)) / math.sqrt(k)
    return HeldOut(float(v.mean()), se, v, k)


# -------------------------------------------------------------------------------------------- estimator


def estimate_mi(
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    bound: str = "smile",
    critic: str = "separable",
    *,
    tau: float | None = 5.0,
    preprocess: str = "rank",
    batch_size: int = 256,
    max_steps: int = 4000,
    lr: float = 5e-4,
    weight_decay: float = 0.0,
    hidden: tuple[int, ...] | None = None,
    embed_dim: int = 32,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    eval_every: int = 100,
    patience: int = 8,
    eval_batch_size: int | None = None,
    n_eval_batches: int = N_EVAL_BATCHES,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> MIEstimate:
    """Estimate the mutual information I(X; Y) from paired samples with a trained critic.

    The n rows are shuffled (``seed``) into train / validation / test splits. The critic is trained
    with Adam on random training batches, maximizing ``bound`` over the (batch, batch) score matrix
    (positives on the diagonal, every other pair a negative; SMILE follows the JSD gradient as in Song &
    Ermon's code). Every ``eval_every`` steps the training objective is computed on the validation split;
    the critic with the best value is kept and training stops after ``patience`` checks without
    improvement (or at ``max_steps``, which adds a "did not converge" warning). The reported value is the
    mean of the bound over at least ``n_eval_batches`` random batches of ``eval_batch_size`` held-out test
    rows (whole random partitions of the test split), and ``stderr_nats`` is the standard error of
    :func:`heldout_estimate`: ``std(batch values) * sqrt(n_test / (n_test - eval_batch_size)) / sqrt(K)``
    with K = n_test // eval_batch_size batches per partition.

    ``stderr_nats`` covers the sampling noise of the held-out estimate only (which test rows, which
    batches). It does not cover the bias of the estimator: the lower bounds (NWJ, DV, InfoNCE, TUBA) and
    SMILE below its clip level read LOW when the critic is limited by few samples or steps, and no
    estimator from n samples can show much more than log(n) nats (McAllester & Stratos 2020); the
    result's ``note`` and ``warnings`` say this where it applies.

    Args:
        x: (n, dx) or (n,) samples of X (numpy array, torch tensor or nested lists).
        y: (n, dy) or (n,) samples of Y, row i paired with row i of x.
        bound: "smile" (default), "nwj", "dv", "infonce", "tuba" or "jsd" (see ``ESTIMATOR_BOUNDS``).
        critic: "separable" (default, g(x)^T h(y)), "concat" (MLP on [x, y] for every pair; slower),
            or "bilinear" (x^T W y).
        tau: SMILE's clip level (None = plain DV); ignored by the other bounds.
        preprocess: "rank" (default: each column -> standard normal through its ranks, which keeps MI
            and tames long tails), "standardize" (z-score) or "none".
        batch_size: training batch; each positive gets ``batch_size - 1`` negatives. InfoNCE's
            training value is capped at log(batch_size).
        max_steps: optimisation steps at most.
        lr, weight_decay: Adam settings.
        hidden: critic hidden layer sizes (default (256, 256)).
        embed_dim: separable critic's embedding size.
        test_fraction, val_fraction: shares of the rows held out for the test and validation splits.
        eval_every: steps between validation checks.
        patience: validation checks without improvement before stopping.
        eval_batch_size: held-out batch size (default: max(batch_size, n_test // 10), at most
            n_test // 2); InfoNCE's held-out value is capped at log(eval_batch_size).
        n_eval_batches: held-out batches to evaluate at least (default 32; rounded up to whole partitions).
        seed: seeds the split, the batches, the critic's initialisation and the held-out partitions (the
            global RNG is left as it was).
        device: torch device for the critic.
        progress: show a tqdm progress bar on stderr.

    Returns:
        :class:`MIEstimate` (``mi_nats``, ``mi_bits``, ``stderr_nats``, ``warnings``, ``history``, ...).

    Raises:
        UserError: mismatched sample counts, fewer than 20 samples, NaN/inf values, arrays with more than
            2 dimensions, an unknown bound/critic/preprocess name or a bad option value.

    Example:
        >>> import torch
        >>> from infomax.data.synthetic import sample_correlated_gaussian, mi_to_rho
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = sample_correlated_gaussian(5000, 5, mi_to_rho(1.0, 5), generator=g)
        >>> est = estimate_mi(x, y, progress=False)
        >>> abs(est.mi_nats - 1.0) < 0.15
        True
    """
    t0 = time.perf_counter()
    _check_options(
        bound,
        critic,
        preprocess,
        tau,
        batch_size,
        max_steps,
        lr,
        weight_decay,
        test_fraction,
        val_fraction,
        eval_every,
        patience,
        eval_batch_size,
        n_eval_batches,
        embed_dim,
        hidden,
    )
    xa, ya = _as_2d_float(x, "x"), _as_2d_float(y, "y")
    n = xa.shape[0]
    if ya.shape[0] != n:
        raise UserError(f"x and y must have the same number of samples (rows), got {n} and {ya.shape[0]}")
    if n < MIN_SAMPLES:
        raise UserError(f"need at least {MIN_SAMPLES} paired samples to estimate MI, got {n}")
    warnings: list[str] = []
    if n < _FEW_SAMPLES:
        warnings.append(
            f"only {n} samples: the estimate is noisy and likely biased low; use thousands if possible"
        )
    for name, a in (("x", xa), ("y", ya)):
        const = int((a.std(axis=0) == 0).sum())
        if const:
            warnings.append(f"{name} has {const} constant column(s); they carry no information")

    relation = _exact_relation(xa, ya)
    gx, gy = _rank_gauss(xa), _rank_gauss(ya)  # (n, dx), (n, dy)
    pair = _pair_check(gx, gy)
    dims = xa.shape[1] + ya.shape[1]
    xa, ya = (gx, gy) if preprocess == "rank" else (_preprocess(xa, preprocess), _preprocess(ya, preprocess))
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda requested but no CUDA device is available")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    n_test = max(2, int(round(test_fraction * n)))
    n_val = max(2, int(round(val_fraction * n)))
    n_train = n - n_test - n_val
    if n_test < 4:
        raise UserError(
            f"the test split has only {n_test} rows (test_fraction={test_fraction}); at least 4 are needed "
            "for an estimate with a standard error: raise test_fraction or give more samples"
        )
    if n_train < 2:
        raise UserError(
            f"no samples left for training with test_fraction={test_fraction}, val_fraction={val_fraction}"
        )
    xt = torch.as_tensor(xa, dtype=torch.float32)[perm].to(dev)  # (n, dx)
    yt = torch.as_tensor(ya, dtype=torch.float32)[perm].to(dev)  # (n, dy)
    va, te = slice(n_train, n_train + n_val), slice(n_train + n_val, n)  # rows [0, n_train) train
    bs = min(batch_size, n_train)
    if bs < batch_size:
        warnings.append(
            f"batch size reduced from {batch_size} to {bs} (the training split has {n_train} rows)"
        )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _build_critic(critic, xa.shape[1], ya.shape[1], hidden, embed_dim).to(dev)
        base = _Baseline(ya.shape[1]).to(dev) if bound == "tuba" else None
    objective = _objective(bound, tau)
    params = list(net.parameters()) + (list(base.parameters()) if base is not None else [])
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

    def value(xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        s = net(xb, yb)  # (b, b)
        return objective(s, base(yb) if base is not None else None)

    @torch.no_grad()
    def held_out(sl: slice, group: int) -> np.ndarray:
        """(training objective, reported value) on disjoint groups of ``group`` rows: (#groups, 2)."""
        net.eval()
        idx = torch.arange(sl.start, sl.stop, device=dev)
        k = max(1, len(idx) // group)
        out = [[v.item() for v in value(xt[g], yt[g])] for g in torch.tensor_split(idx, k)]
        net.train()
        return np.asarray(out).reshape(-1, 2)

    val_group = min(n_val, 2048)  # one big matrix: many negatives, a steadier early-stopping signal
    history: list[dict[str, float]] = []
    best_obj, best_val, best_step, best_state = -math.inf, -math.inf, 0, _state(net, base)
    bad_checks, step, recent, diverged, stopped_early = 0, 0, [], "", False
    bar = _progress(max_steps, progress)
    order = torch.randperm(n_train, generator=gen).to(dev)
    pos = 0
    try:
        for step in range(1, max_steps + 1):
            if pos + bs > n_train:
                order, pos = torch.randperm(n_train, generator=gen).to(dev), 0
            b = order[pos : pos + bs]  # (bs,)
            pos += bs
            train_v, report_v = value(xt[b], yt[b])
            if not torch.isfinite(train_v):
                diverged = f"training diverged at step {step} (non-finite {bound} value)"
                break
            opt.zero_grad(set_to_none=True)
            (-train_v).backward()
            opt.step()
            recent.append(report_v.item())
            if step % eval_every == 0 or step == max_steps:
                v = held_out(va, val_group)  # (groups, 2)
                obj, val = (float(c.mean()) if np.all(np.isfinite(c)) else -math.inf for c in v.T)
                tr_mean = float(np.mean(recent))
                recent = []
                history.append({"step": step, "train": tr_mean, "val": val, "val_objective": obj})
                if bar is not None:
                    bar.set_postfix(train=f"{tr_mean:.3f}", val=f"{val:.3f}", refresh=False)
                # Early stopping on the held-out TRAINING objective (for smile/jsd: the JSD loss), not on
                # the reported value: picking the maximum of a non-bound (SMILE) selects overestimates.
                if obj > best_obj + 1e-3:
                    best_obj, best_val, best_step, best_state = obj, val, step, _state(net, base)
                    bad_checks = 0
                else:
                    bad_checks += 1
                    if bad_checks >= patience:
                        stopped_early = True
                        break
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    if diverged:
        warnings.append(diverged + "; reporting the best critic before it" + _smile_hint(bound))
    if best_step == 0:
        if not history:
            raise UserError(f"{bound} training diverged before the first validation check; try bound='smile'")
        warnings.append("the validation estimate never became finite; the result is unreliable")
    _load(net, base, best_state)

    eb = min(eval_batch_size or max(bs, n_test // 10), max(2, n_test // 2))  # K >= 2 batches: a stderr

    def report(xb: Tensor, yb: Tensor) -> Tensor:
        return value(xb, yb)[1]

    net.eval()
    ho = heldout_estimate(
        report, xt[te], yt[te], eb, n_eval_batches, torch.Generator().manual_seed(seed + _EVAL_SEED_OFFSET)
    )
    net.train()
    vals = ho.batch_values  # (P * K,) reported values
    finite = np.isfinite(vals)
    if not finite.all():
        warnings.append(
            f"{int((~finite).sum())} of {len(vals)} held-out batch values were not finite (the {bound} "
            "estimate diverged on held-out data)" + _smile_hint(bound)
        )
    mi, se = ho.value, ho.stderr

    train_last = history[-1]["train"] if history else float("nan")
    saturated, ceiling = False, None
    if bound == "infonce":
        ceiling = math.log(eb)
        train_ceiling = math.log(bs)
        # InfoNCE's bias grows as the MI nears log N: within 1 nat of the ceiling it is unreliable
        if mi > ceiling - 1.0 or train_last > train_ceiling - 1.0:
            saturated = True
            warnings.append(
                f"InfoNCE is pinned near its ceiling (held-out {mi:.3f} vs log N = {ceiling:.3f}; "
                f"training {train_last:.3f} vs log {bs} = {train_ceiling:.3f}): it is only a lower bound "
                "and the true MI is probably higher; use bound='smile' or larger batches"
            )
    limited = _sample_limited(history, best_step, mi, se)
    if not stopped_early and not diverged:
        advice = (
            "more steps would not help: the critic already memorizes its training pairs"
            if limited
            else "the estimate may be low: allow more steps (max_steps, CLI --steps)"
        )
        warnings.append(
            f"did not converge within {max_steps} steps (early stopping never triggered; best validation "
            f"at step {best_step}); {advice}"
        )
    if relation is not None:
        warnings.append(_deterministic_warning(relation, bound, n, eb))
    if limited:
        warnings.append(_sample_limited_warning(limited, n_train, dims))
    if relation is None and pair is not None:
        warnings.extend(_pair_warning(pair, mi, se))
    high = bound != "infonce" and math.isfinite(mi) and mi > math.log(eb) - 1.0
    if high:
        warnings.append(_high_mi_warning(bound, tau, mi, eb, n))
    elif bound == "smile" and tau is not None and math.isfinite(mi) and mi > tau - 1.0:
        warnings.append(
            f"the estimate ({mi:.2f} nats) is near or above SMILE's clip level tau={tau:g}, where SMILE is "
            "not a bound and is biased (either way); treat it as approximate, try a larger tau, and compare "
            "with bound='infonce' and a large batch (a lower bound)"
        )
    reliable = limited is None and math.isfinite(mi)
    dependence = _verdict(mi, se, reliable, relation is not None, bool(pair and pair["significant"]))
    if math.isfinite(mi):
        _quality_warnings(
            warnings, bound, mi, se, best_val, history, best_step, dependence, limited is not None
        )

    return MIEstimate(
        mi_nats=mi,
        stderr_nats=se,
        bound=bound,
        critic=critic,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        preprocess=preprocess,
        batch_size=bs,
        eval_batch_size=eb,
        n_eval_batches=len(vals),
        steps=step,
        best_step=best_step,
        converged=stopped_early,
        train_mi_nats=train_last,
        val_mi_nats=best_val,
        saturated=saturated,
        ceiling_nats=ceiling,
        reliable=reliable,
        deterministic=relation is not None,
        dependence=dependence,
        pair_check=pair,
        seconds=time.perf_counter() - t0,
        warnings=warnings,
        note=_note(bound, tau, n_test, eb, len(vals), ho.batches_per_partition),
        history=history,
    )


_EVAL_SEED_OFFSET = 104729  # the held-out partitions' generator: seed + this (independent of the split)


def _note(bound: str, tau: float | None, n_test: int, eb: int, n_batches: int, k: int) -> str:
    """What ``stderr_nats`` covers and which way the estimate is biased (the result's ``note``)."""
    if bound == "smile":
        kind = (
            f"SMILE (tau={tau:g}) is not a strict bound: below its clip level it reads like a lower bound, "
            "near or above it it is biased either way"
            if tau is not None
            else "SMILE without a clip is the Donsker-Varadhan lower bound"
        )
    elif bound == "jsd":
        kind = "jsd reports NWJ of the JSD-trained critic, a lower bound"
    else:
        kind = f"{bound} is a lower bound"
    return (
        f"stderr_nats is the sampling noise of the held-out estimate only (std of the bound over {n_batches} "
        f"random batches of {eb} of the {n_test} test rows, x sqrt({n_test}/({n_test}-{eb})) / sqrt({k})); "
        f"it does not include the estimator's bias. {kind}, and a critic limited by few samples or "
        "training steps reads lower still, so the true MI can lie many standard errors above mi_nats."
    )


def _high_mi_warning(bound: str, tau: float | None, mi: float, eb: int, n: int) -> str:
    clip = (
        f"; SMILE above its clip level tau={tau:g} is not a bound either, so the value is approximate"
        if bound == "smile" and tau is not None and mi > tau - 1.0
        else ""
    )
    return (
        f"the estimate ({mi:.2f} nats) is near or above what this data can show: log(held-out batch "
        f"{eb}) = {math.log(eb):.2f}, log(n = {n}) = {math.log(n):.2f} nats. Batch-based MI estimates are "
        "capped near log(n) (McAllester & Stratos 2020) or limited by what the critic can learn, so the "
        "true MI may be far above this value; more samples and larger batches raise the cap" + clip
    )


def _exact_relation(x: np.ndarray, y: np.ndarray) -> str | None:
    """Describe an exact deterministic relation Y = f(X) found by cheap checks, or None.

    Checked: a continuous Y column (>= 90% distinct values) with the same ranks as an X column, or reversed
    ones (Y = X, a duplicated column, any strictly monotone map of one column); and, when n exceeds dx + 10
    and dx <= 1000, a continuous Y column that least squares fits exactly from the X columns (an invertible
    linear map; fitted on the first 2 dx + 1000 rows at most, far more than an exact fit by chance needs).
    A continuous Y that is a function of X has I(X; Y) = infinity; discrete data (ties) have a finite MI
    and are not flagged.

    Args:
        x: (n, dx) samples; y: (n, dy) samples (raw, before any preprocessing).

    Example:
        >>> x = np.random.default_rng(0).standard_normal((50, 2))
        >>> _exact_relation(x, np.exp(x[:, 1]))
        'y column 0 is an exact monotone function of x column 1 (1 of the 1 y columns are)'
    """
    from scipy.stats import rankdata

    y = y if y.ndim == 2 else y[:, None]
    n = x.shape[0]

    def continuous(a: np.ndarray) -> np.ndarray:
        srt = np.sort(a, axis=0)  # (n, d)
        return 1 + (np.diff(srt, axis=0) != 0).sum(0) >= 0.9 * n  # (d,) distinct values

    cx, cy = continuous(x), continuous(y)
    if not cy.any():
        return None
    rx, ry = rankdata(x, axis=0), rankdata(y, axis=0)  # (n, dx), (n, dy) average ranks: k or k + 0.5
    first: dict[bytes, int] = {}
    for i in np.flatnonzero(cx):
        first.setdefault(rx[:, i].tobytes(), int(i))
    hits = []
    for j in np.flatnonzero(cy):
        i = first.get(ry[:, j].tobytes(), first.get((n + 1 - ry[:, j]).tobytes()))
        if i is not None:
            hits.append((i, int(j)))
    if hits:
        (i, j), k = hits[0], len(hits)
        return (
            f"y column {j} is an exact monotone function of x column {i} ({k} of the {y.shape[1]} y columns "
            "are)"
        )
    if n >= x.shape[1] + 12 and x.shape[1] <= 1000:
        m = min(n, 2 * x.shape[1] + 1000)
        a = np.c_[np.ones(m), _zscore(x[:m])]  # (m, dx + 1)
        cols = np.flatnonzero(cy & (y[:m].std(axis=0) > 0))
        b = _zscore(y[:m, cols])  # (m, dy') unit variance
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
        exact = np.flatnonzero(((b - a @ coef) ** 2).mean(0) < 1e-9)
        if exact.size:
            j = int(cols[exact[0]])
            return (
                f"y column {j} is an exact linear function of the x columns ({exact.size} of the "
                f"{y.shape[1]} y columns are)"
            )
    return None


def _pair_check(
    gx: np.ndarray, gy: np.ndarray, max_work: float = 4e9, max_pairs: int = 10_000_000
) -> dict[str, Any] | None:
    """The most correlated (x column, y column) pair of rank-Gaussianized data (see ``MIEstimate``).

    ``significant``: |r| sqrt(n) beyond sqrt(2 ln(dx dy)) + 3, well past the largest |r| sqrt(n) that
    dx * dy pairs of independent columns show (about sqrt(2 ln(dx dy))). The first rows are used, to keep
    n * dx * dy <= ``max_work``; None with fewer than 50 rows left or more than ``max_pairs`` pairs.
    """
    n, dx = gx.shape
    dy = gy.shape[1]
    rows = min(n, int(max_work // (dx * dy)))
    if rows < 50 or dx * dy > max_pairs:
        return None
    a, b = _zscore(gx[:rows]), _zscore(gy[:rows])
    c = a.T @ b / rows  # (dx, dy) correlations
    i, j = np.unravel_index(int(np.abs(c).argmax()), c.shape)
    r = float(np.clip(c[i, j], -1.0, 1.0))
    return {
        "x_column": int(i),
        "y_column": int(j),
        "rank_correlation": r,
        "gaussian_mi_nats": float(-0.5 * math.log(max(1.0 - r * r, 1e-12))),
        "significant": bool(abs(r) * math.sqrt(rows) > math.sqrt(2 * math.log(max(dx * dy, 2))) + 3),
    }


def _sample_limited(history: list[dict[str, float]], best_step: int, mi: float, se: float) -> str | None:
    """Why the held-out estimate says little about the MI (a critic that does not generalize), or None.

    Any of: at the kept step the training value exceeds the held-out one by more than max(0.3, |mi|)
    nats (more than double); during training it runs more than max(2, 2 |validation|) nats above the
    validation value (memorizing); the held-out value is below zero beyond noise (a critic that
    generalizes cannot do worse than the constant one, which reads 0).
    """
    if not math.isfinite(mi):
        return "the held-out estimate is not finite"
    at_best = [h for h in history if h["step"] == best_step]
    if at_best and math.isfinite(at_best[0]["train"]) and at_best[0]["train"] - mi > max(0.3, abs(mi)):
        return (
            f"at the kept step it reads {at_best[0]['train']:.2f} nats on its training pairs but {mi:.3f} "
            "held out"
        )
    finite = [h for h in history if math.isfinite(h["train"]) and math.isfinite(h["val"])]
    gaps = [(h["train"] - h["val"], h) for h in finite if h["train"] - h["val"] > max(2, 2 * abs(h["val"]))]
    if gaps:
        h = max(gaps, key=lambda g: g[0])[1]
        return (
            f"it goes on to read {h['train']:.2f} nats on its training pairs while validation reads "
            f"{h['val']:.3f} (step {int(h['step'])})"
        )
    if mi < -0.1 and (not math.isfinite(se) or mi + 2 * se < 0):
        return f"the held-out value ({mi:.3f} nats) is below zero beyond noise, worse than a constant critic"
    return None


def _pair_warning(pair: dict[str, Any], mi: float, se: float) -> list[str]:
    """A warning when one column pair alone shows far more dependence than the estimate."""
    margin = max(0.5, 3 * se) if math.isfinite(se) else 0.5
    if not pair["significant"] or (math.isfinite(mi) and pair["gaussian_mi_nats"] <= mi + margin):
        return []
    return [
        f"a single pair of columns (x column {pair['x_column']}, y column {pair['y_column']}) has rank "
        f"correlation {pair['rank_correlation']:.3f}: under a Gaussian copula that pair alone carries about "
        f"{pair['gaussian_mi_nats']:.2f} nats, far above the estimate ({mi:.3f} nats); I(X;Y) is at least "
        "the MI of any pair of its columns, so the estimate misses dependence that is there"
    ]


def _sample_limited_warning(why: str, n_train: int, dims: int) -> str:
    head = (
        f"the sample is too small for the dimension ({n_train} training pairs for {dims} input dimensions): "
        if n_train < 10 * dims
        else f"the critic does not generalize from {n_train} training pairs: "
    )
    return (
        head + f"the critic memorizes rather than learns ({why}). The held-out value says little about the "
        "MI: the true MI may be far higher, and a value near or below zero does NOT mean independence. "
        "To get a usable estimate, reduce the dimension (e.g. PCA to a few dozen components per variable; "
        "the MI of such projections is a lower bound on I(X;Y)), give more samples (many more than the "
        "dimension), or try a smaller critic (CLI --hidden 64)"
    )


def _deterministic_warning(relation: str, bound: str, n: int, eb: int) -> str:
    cap = (
        f"InfoNCE cannot exceed log(held-out batch {eb}) = {math.log(eb):.2f} nats"
        if bound == "infonce"
        else "batch-based bounds cannot show much more than that (McAllester & Stratos 2020)"
    )
    return (
        f"X and Y are deterministically related: {relation}, e.g. X against itself or a duplicated column. "
        "The mutual information of a continuous variable with an exact function of itself is infinite, so "
        "the reported value is only a lower bound, limited by the sample to at most about "
        f"log n = {math.log(n):.2f} nats; {cap}"
    )


def _verdict(mi: float, se: float, reliable: bool, deterministic: bool, pair_significant: bool) -> str:
    """``dependence``: what the estimate (and the column-pair check) supports, in one word."""
    if deterministic:
        return "deterministic"
    if pair_significant or (reliable and math.isfinite(mi) and math.isfinite(se) and mi - 2 * se > 0):
        return "detected"
    if not reliable or not math.isfinite(mi):
        return "inconclusive"
    return "none detected"


def _smile_hint(bound: str) -> str:
    return "; bound='smile' is more stable" if bound in ("dv", "nwj", "tuba", "jsd") else ""


def _quality_warnings(
    warnings: list[str],
    bound: str,
    mi: float,
    se: float,
    best_val: float,
    history: list[dict[str, float]],
    best_step: int,
    dependence: str,
    limited: bool,
) -> None:
    if mi < 0 and dependence == "none detected":  # only a critic that generalizes can say so
        warnings.append(
            f"the estimate is below zero ({mi:.3f} nats) but within noise of 0: no dependence detected (the "
            "critic found none it could generalize; this does not prove independence)"
        )
    if math.isfinite(se) and se > max(0.1, 0.1 * abs(mi)):
        warnings.append(f"high variance: standard error {se:.3f} nats" + _smile_hint(bound))
    if math.isfinite(best_val) and abs(best_val - mi) > max(
        0.25, 0.2 * abs(mi), 4 * se if math.isfinite(se) else 0
    ):
        warnings.append(
            f"validation ({best_val:.3f}) and test ({mi:.3f}) estimates disagree: the estimate is unstable"
            + _smile_hint(bound)
        )
    at_best = [h for h in history if h["step"] == best_step]
    if not limited and at_best and at_best[0]["train"] > mi + max(0.3, 0.3 * abs(mi)):
        warnings.append(
            f"the critic overfits (training {at_best[0]['train']:.3f} vs held-out {mi:.3f} nats): "
            "more samples would raise the estimate"
        )
    vals = [h["val"] for h in history]
    if bound in ("dv", "nwj", "tuba") and len(vals) >= 3 and math.isfinite(best_val):
        drop = best_val - min(v for v in vals[vals.index(best_val) :])
        if drop > max(1.0, 0.5 * abs(best_val)):
            warnings.append(
                f"the {bound} validation estimate collapsed by {drop:.2f} nats after step {best_step} "
                "(divergence); reporting the critic from before it" + _smile_hint(bound)
            )


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


def _check_options(
    bound: str,
    critic: str,
    preprocess: str,
    tau: float | None,
    batch_size: int,
    max_steps: int,
    lr: float,
    weight_decay: float,
    test_fraction: float,
    val_fraction: float,
    eval_every: int,
    patience: int,
    eval_batch_size: int | None,
    n_eval_batches: int,
    embed_dim: int,
    hidden: tuple[int, ...] | None,
) -> None:
    if bound not in ESTIMATOR_BOUNDS:
        raise UserError(f"unknown bound {bound!r}; choose one of: {', '.join(ESTIMATOR_BOUNDS)}")
    if critic not in ESTIMATOR_CRITICS:
        raise UserError(f"unknown critic {critic!r}; choose one of: {', '.join(ESTIMATOR_CRITICS)}")
    if preprocess not in PREPROCESS:
        raise UserError(f"unknown preprocess {preprocess!r}; choose one of: {', '.join(PREPROCESS)}")
    checks = [
        (tau is None or (math.isfinite(tau) and tau > 0), f"tau must be > 0 or None, got {tau}"),
        (batch_size >= 2, f"batch_size must be >= 2, got {batch_size}"),
        (max_steps >= 1, f"max_steps must be >= 1, got {max_steps}"),
        (math.isfinite(lr) and lr > 0, f"lr must be a positive number, got {lr}"),
        (math.isfinite(weight_decay) and weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}"),
        (0 < test_fraction < 1, f"test_fraction must be in (0, 1), got {test_fraction}"),
        (0 < val_fraction < 1, f"val_fraction must be in (0, 1), got {val_fraction}"),
        (test_fraction + val_fraction < 1, "test_fraction + val_fraction must be < 1"),
        (eval_every >= 1, f"eval_every must be >= 1, got {eval_every}"),
        (patience >= 1, f"patience must be >= 1, got {patience}"),
        (
            eval_batch_size is None or eval_batch_size >= 2,
            f"eval_batch_size must be >= 2, got {eval_batch_size}",
        ),
        (n_eval_batches >= 2, f"n_eval_batches must be >= 2, got {n_eval_batches}"),
        (embed_dim >= 1, f"embed_dim must be >= 1, got {embed_dim}"),
        (hidden is None or all(h >= 1 for h in hidden), f"hidden sizes must be >= 1, got {hidden}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UserError(msg)
