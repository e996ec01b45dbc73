"""MINE: the Donsker-Varadhan bound with Belghazi et al.'s bias-corrected gradient ("Mutual Information
Neural Estimation", ICML 2018, section 3.2, eq. 12 and Algorithm 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infomax.bounds._reduce import Scores
from infomax.bounds.dv import dv_stats
from infomax.errors import UserError


class MINE(nn.Module):
    """DV value with a moving-average-corrected gradient; the only stateful bound.

    The DV gradient ``grad mean_pos s - E_neg[e^s grad s] / mean_neg e^s`` divides by a mini-batch
    estimate of the partition term, which biases it. MINE replaces that denominator with an
    exponential moving average ``ema <- decay * ema + (1 - decay) * mean_neg e^s`` (kept in log space
    in the buffer ``log_ema``; the first call initialises it to the batch value, so the first gradient
    equals DV's). The returned tensor's **value is DV** on the batch and its **gradient** is::

        grad mean_pos s - (sum_neg e^s grad s) / (n_neg * ema)

    i.e. DV's negative-term gradient times ``mean_neg e^s / ema``. The moving average is updated
    (before being used) only in training mode with gradients enabled; otherwise the call is plain DV.

    Args:
        ema_decay: decay of the moving average, in [0, 1).

    Example:
        >>> import torch
        >>> mine = MINE(ema_decay=0.99)
        >>> s = torch.randn(8, 8, requires_grad=True)
        >>> v = mine(s)        # value = dv(s); gradient uses the moving average
        >>> v.backward()
    """

    log_ema: Tensor

    def __init__(self, ema_decay: float = 0.99) -> None:
        super().__init__()
        if not 0.0 <= ema_decay < 1.0:
            raise UserError(f"MINE ema_decay must be in [0, 1), got {ema_decay}")
        self.ema_decay = float(ema_decay)
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
            batch = lme.detach().to(self.log_ema)
            if torch.isnan(self.log_ema):
                self.log_ema.copy_(batch)
            else:
                d = self.ema_decay
                self.log_ema.copy_(torch.logaddexp(math.log(d) + self.log_ema, math.log1p(-d) + batch))
        surrogate = pos - torch.exp(lme - self.log_ema.to(lme))  # gradient of the corrected objective
        return value.detach() + surrogate - surrogate.detach()

    def extra_repr(self) -> str:
        return f"ema_decay={self.ema_decay}"
