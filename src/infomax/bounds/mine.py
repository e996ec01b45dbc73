"""MINE: the Donsker-Varadhan bound with Belghazi et al.'s bias-corrected gradient ("Mutual Information
Neural Estimation", ICML 2018, section 3.2, eq. 12 and Algorithm 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infomax.bounds._reduce import Scores
from infomax.bounds.dv import dv_stats
from infomax.errors import UserError

#: Range the batch's partition estimate ``mean_neg e^s`` is clipped to before it enters the moving
#: average (torch-mist's ``ExponentialMovingAverage`` uses the same [1e-4, 1e4]).
PARTITION_RANGE: tuple[float, float] = (1e-4, 1e4)


def ema_log_partition(
    log_ema: Tensor | None,
    batch_lme: Tensor,
    decay: float,
    partition_range: tuple[float, float] | None = PARTITION_RANGE,
) -> Tensor:
    """One update of MINE's moving average of the partition term, in log space; detached scalar.

    ``ema <- decay * ema + (1 - decay) * clip(mean_neg e^s)`` with ``batch_lme = log mean_neg e^s``; the
    first call (``log_ema`` None or NaN) returns the clipped batch value.

    Why the clip: without it one outlier batch (cubed inputs make them common) lifts the average by up
    to ``log(1 - decay) + batch_lme``, the gradient factor ``mean_neg e^s / ema`` then sits near 0 for the
    thousands of steps the average takes to decay, the negatives are never pushed down and the scores run
    away (on the cubic staircase our unclipped MINE reached -1e16 nats in every seed;
    ``benchmarks/mi_bounds/README.md``). Clipping caps the average, so a partition above the range is
    pushed down at least as hard as DV pushes it; DV's value is invariant to a shift of the scores, so
    the range only fixes their scale, not the estimate.

    Args:
        log_ema: the current log moving average (scalar) or None.
        batch_lme: ``log mean_neg e^s`` of this batch (scalar).
        decay: in [0, 1).
        partition_range: (low, high) of the clip, or None for none.

    Example:
        >>> ema_log_partition(None, torch.tensor(30.0), 0.9)  # clipped to log 1e4
        tensor(9.2103)
    """
    batch = batch_lme.detach()
    if partition_range is not None:
        batch = batch.clamp(math.log(partition_range[0]), math.log(partition_range[1]))
    if log_ema is None or torch.isnan(log_ema) or decay == 0.0:
        return batch
    log_ema = log_ema.detach().to(batch)
    return torch.logaddexp(math.log(decay) + log_ema, math.log1p(-decay) + batch)


#: Cap on log(mean_neg e^s / ema), the factor MINE puts on DV's negative-term gradient: beyond e^20 the
#: negatives dominate the gradient anyway, and an uncapped factor overflows float32 (exp > e^88) into NaN.
MAX_LOG_RATIO = 20.0


def mine_surrogate(pos: Tensor, lme: Tensor, log_ema: Tensor, max_log_ratio: float = MAX_LOG_RATIO) -> Tensor:
    """A scalar whose gradient is MINE's: ``grad pos - min(mean_neg e^s / ema, e^max_log_ratio) grad lme``.

    ``lme = log mean_neg e^s`` so ``grad lme = sum_neg e^s grad s / sum_neg e^s`` and the uncapped gradient
    is Belghazi et al.'s ``grad pos - mean_neg(e^s grad s) / ema``. The factor is detached and capped (not
    the tensor it multiplies: clamping ``lme - log_ema`` itself would zero the negatives' gradient exactly
    when the partition runs away). Its value is meaningless; add ``value - surrogate.detach()``.

    Args:
        pos: mean positive score (scalar, with gradient).
        lme: log mean exp of the negative scores (scalar, with gradient).
        log_ema: log of the moving average (scalar, no gradient).
        max_log_ratio: cap on ``lme - log_ema``.

    Example:
        >>> s = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> mine_surrogate(s[0], s[1], torch.tensor(2.0)).backward()  # ratio e^0 = 1
        >>> s.grad
        tensor([ 1., -1.])
    """
    w = torch.exp(torch.clamp(lme.detach() - log_ema.detach().to(lme), max=max_log_ratio))
    return pos - w * lme


class MINE(nn.Module):
    """DV value with a moving-average-corrected gradient; the only stateful bound.

    The DV gradient ``grad mean_pos s - E_neg[e^s grad s] / mean_neg e^s`` divides by a mini-batch
    estimate of the partition term, which biases it. MINE replaces that denominator with an
    exponential moving average ``ema <- decay * ema + (1 - decay) * mean_neg e^s`` (kept in log space
    in the buffer ``log_ema``; the first call initialises it to the batch value, so the first gradient
    equals DV's; each batch value is first clipped to ``partition_range``, see
    :func:`ema_log_partition`). The returned tensor's **value is DV** on the batch and its
    **gradient** is::

        grad mean_pos s - (sum_neg e^s grad s) / (n_neg * ema)

    i.e. DV's negative-term gradient times ``mean_neg e^s / ema``. The moving average is updated
    (before being used) only in training mode with gradients enabled; otherwise the call is plain DV.

    Args:
        ema_decay: decay of the moving average, in [0, 1).
        partition_range: (low, high) clip of the batch's ``mean_neg e^s`` before it enters the average
            (default [1e-4, 1e4], as torch-mist); None for Belghazi et al.'s unclipped average.

    Example:
        >>> import torch
        >>> mine = MINE(ema_decay=0.99)
        >>> s = torch.randn(8, 8, requires_grad=True)
        >>> v = mine(s)        # value = dv(s); gradient uses the moving average
        >>> v.backward()
    """

    log_ema: Tensor

    def __init__(
        self, ema_decay: float = 0.99, partition_range: tuple[float, float] | None = PARTITION_RANGE
    ) -> None:
        super().__init__()
        if not 0.0 <= ema_decay < 1.0:
            raise UserError(f"MINE ema_decay must be in [0, 1), got {ema_decay}")
        if partition_range is not None:
            lo, hi = (float(v) for v in partition_range)
            if not (0.0 < lo < hi < math.inf):
                raise UserError(f"MINE partition_range must be 0 < low < high < inf, got {partition_range}")
            partition_range = (lo, hi)
        self.ema_decay = float(ema_decay)
        self.partition_range = partition_range
        self.register_buffer("log_ema", torch.tensor(math.nan))

    def forward(
        self,
        scores: Scores,
        pos_mask: Tensor | None = None,
        n_negatives: int | None = None,
        chunk_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """DV on ``scores`` (N, M) (options as in :func:`infomax.bounds.dv`), MINE gradient; scalar, nats."""
        pos, lme = dv_stats(scores, pos_mask, n_negatives, chunk_size, generator)  # lme = log mean_neg e^s
        value = pos - lme
        if not (self.training and torch.is_grad_enabled()):
            return value
        with torch.no_grad():
            new = ema_log_partition(self.log_ema, lme.to(self.log_ema), self.ema_decay, self.partition_range)
            self.log_ema.copy_(new)
        surrogate = mine_surrogate(pos, lme, self.log_ema)  # gradient of the corrected objective
        return value.detach() + surrogate - surrogate.detach()

    def extra_repr(self) -> str:
        return f"ema_decay={self.ema_decay}, partition_range={self.partition_range}"
