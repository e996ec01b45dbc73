"""The held-out stage of ``estimate_mi``: the trained critic's bound on the test split, with a standard error.

:func:`heldout_estimate` is the general tool (any ``batch_value`` on any held-out pairs);
:func:`evaluate` applies it to the critic kept by training, and :func:`note` words what the standard error
covers for the result.

Example:
    >>> import torch
    >>> from infomax.bounds import nwj
    >>> x = torch.randn(200, 2); y = x + torch.randn(200, 2)
    >>> h = heldout_estimate(lambda a, b: nwj(a @ b.T), x, y, batch_size=50)
    >>> h.batches_per_partition, len(h.batch_values), h.stderr > 0
    (4, 32, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from infomax.errors import UserError
from infomax.estimate.data import Split
from infomax.estimate.params import N_EVAL_BATCHES, EstimateParams, smile_hint
from infomax.estimate.training import Trained

_EVAL_SEED_OFFSET = 104729  # the held-out partitions' generator: seed + this (independent of the split)


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


class Evaluation(NamedTuple):
    """:func:`evaluate`'s result: the held-out estimate, the batch size it used, and its warnings."""

    heldout: HeldOut
    eval_batch_size: int
    warnings: list[str]


def evaluate(trained: Trained, data: Split, p: EstimateParams) -> Evaluation:
    """The reported value of ``trained`` on ``data``'s test rows, through :func:`heldout_estimate`.

    The held-out batch is ``p.eval_batch_size``, by default max(training batch, n_test // 10), and at most
    n_test // 2 so that a partition holds K >= 2 batches (a standard error); the partitions are drawn from
    their own generator, seeded with ``p.seed + 104729``. The critic is evaluated in eval mode.
    """
    n_test = data.n_test
    eb = min(p.eval_batch_size or max(trained.batch_size, n_test // 10), max(2, n_test // 2))

    def report(xb: Tensor, yb: Tensor) -> Tensor:
        return trained.value(xb, yb)[1]

    trained.net.eval()
    gen = torch.Generator().manual_seed(p.seed + _EVAL_SEED_OFFSET)
    ho = heldout_estimate(report, data.x[data.test], data.y[data.test], eb, p.n_eval_batches, gen)
    trained.net.train()
    vals = ho.batch_values  # (P * K,) reported values
    finite = np.isfinite(vals)
    warnings = []
    if not finite.all():
        warnings.append(
            f"{int((~finite).sum())} of {len(vals)} held-out batch values were not finite (the {p.bound} "
            "estimate diverged on held-out data)" + smile_hint(p.bound)
        )
    return Evaluation(ho, eb, warnings)


def note(p: EstimateParams, n_test: int, ev: Evaluation) -> str:
    """What ``stderr_nats`` covers and which way the estimate is biased (the result's ``note``)."""
    bound, tau, eb = p.bound, p.tau, ev.eval_batch_size
    n_batches, k = len(ev.heldout.batch_values), ev.heldout.batches_per_partition
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
