"""Barber-Agakov (Barber & Agakov 2003, "The IM algorithm") and the hybrid bound
alpha * BA + (1 - alpha) * InfoNCE (source document 002)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infomax.errors import UserError


def gaussian_log_likelihood(x: Tensor, x_hat: Tensor, sigma: float | Tensor = 1.0) -> Tensor:
    """log N(x; x_hat, sigma^2 I) per sample, summed over all non-batch dimensions (nats).

    ``sum_d [ -(x_d - x_hat_d)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2 ]``

    Args:
        x: (N, ...) data.
        x_hat: (N, ...) decoder means, same shape.
        sigma: decoder standard deviation, a positive scalar or a tensor broadcastable to ``x``.

    Returns:
        (N,) log-likelihoods.

    Example:
        >>> import torch
        >>> float(gaussian_log_likelihood(torch.zeros(1, 2), torch.zeros(1, 2))[0])  # -log(2 pi)
        -1.8378770351409912
    """
    if x.shape != x_hat.shape:
        raise UserError(f"x and x_hat must have one shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    sig = torch.as_tensor(sigma, dtype=x_hat.dtype, device=x_hat.device)
    if bool((sig <= 0).any()):
        raise UserError("sigma must be positive")
    ll = -0.5 * ((x - x_hat) / sig) ** 2 - torch.log(sig) - 0.5 * math.log(2 * math.pi)
    return ll.expand_as(x).reshape(x.shape[0], -1).sum(1)


def barber_agakov(log_q: Tensor, entropy_x: float | Tensor) -> Tensor:
    """Barber-Agakov lower bound I(X; Y) >= E[log q(x | y)] + H(X), in nats.

    Args:
        log_q: (N,) log q(x_i | y_i) of the paired samples under the decoder q (e.g.
            :func:`gaussian_log_likelihood` of a reconstruction).
        entropy_x: H(X) in nats (differential entropy for continuous X; a constant w.r.t. the model).

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> float(barber_agakov(torch.tensor([-1.0, -3.0]), entropy_x=2.5))
        0.5
    """
    if log_q.dim() != 1:
        raise UserError(f"log_q must be 1-D (N,) per-sample log-likelihoods, got shape {tuple(log_q.shape)}")
    return log_q.mean() + entropy_x


def hybrid_bound(ba_value: Tensor, infonce_value: Tensor, alpha: float) -> Tensor:
    """``alpha * BA + (1 - alpha) * InfoNCE``: a convex combination of two lower bounds (so still one).

    Args:
        ba_value: scalar Barber-Agakov value (:func:`barber_agakov`).
        infonce_value: scalar InfoNCE value (:func:`infomax.bounds.infonce`).
        alpha: weight of the BA term, in [0, 1].

    Returns:
        Scalar tensor, nats.

    Example:
        >>> import torch
        >>> float(hybrid_bound(torch.tensor(1.0), torch.tensor(3.0), alpha=0.25))
        2.5
    """
    if not (isinstance(alpha, int | float) and 0.0 <= alpha <= 1.0):
        raise UserError(f"hybrid alpha must be in [0, 1], got {alpha!r}")
    return alpha * ba_value + (1.0 - alpha) * infonce_value
