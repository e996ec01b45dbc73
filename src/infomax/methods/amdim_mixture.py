"""AMDIM's mixture-based representations (Bachman, Hjelm, Buchwalter, NeurIPS 2019, sec. 3.5, eq. 6).

A global feature f1 is turned into ``n_mix`` components ``f1^1 .. f1^k`` by a small MLP with a residual
connection (:class:`MixtureHead`); each component is scored against the target locations. For every
positive local feature ``f7^i`` the components are weighted by the posterior

    q(j | i) = softmax_j( tau * s_nce(f1^j, f7^i) )

and the objective maximised is ``mean_i [ sum_j q(j|i) s_nce(f1^j, f7^i) + alpha * H(q(.|i)) ]``
(:func:`mixture_objective`). With ``n_mix = 1``, q = 1 and H = 0: the plain NCE objective. The paper writes
the posterior as ``exp(tau * s_nce) / sum exp(tau * s_nce)``, so ``tau`` multiplies the scores here (an
inverse temperature: larger = sharper). Gradients flow through q (the objective is maximised in f and q).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MixtureHead(nn.Module):
    """(B, D) -> (B, n_mix, D): ``f1 + W2 relu(W1 f1)`` reshaped into ``n_mix`` components.

    Args:
        dim: Feature size D.
        n_mix: Number of components (1: the identity, no parameters).
        hidden: Hidden width of the MLP.

    Example:
        >>> MixtureHead(8, 3, hidden=16)(torch.randn(2, 8)).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, dim: int, n_mix: int, hidden: int) -> None:
        super().__init__()
        self.dim, self.n_mix = dim, n_mix
        self.mlp = (
            nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_mix * dim))
            if n_mix > 1
            else None
        )

    def forward(self, f1: Tensor) -> Tensor:
        if self.mlp is None:
            return f1[:, None, :]  # (B, 1, D)
        return f1[:, None, :] + self.mlp(f1).view(-1, self.n_mix, self.dim)  # (B, K, D)


def mixture_posterior(s_nce: Tensor, tau: float) -> Tensor:
    """q (B, K, L): softmax over the K components of ``tau * s_nce`` (B, K, L); sums to 1 over K."""
    return torch.softmax(tau * s_nce, dim=1)


def mixture_objective(s_nce: Tensor, tau: float, alpha: float) -> tuple[Tensor, Tensor]:
    """(objective to maximise, mean entropy of q), both scalars, from per-positive scores (B, K, L).

    ``objective = mean_{b,l} [ sum_k q s_nce + alpha * H(q) ]`` with ``H(q) = -sum_k q log q`` (nats).

    Example:
        >>> s = torch.log(torch.tensor([0.5, 0.25])).view(1, 2, 1)  # two components, one positive
        >>> obj, h = mixture_objective(s, tau=1.0, alpha=0.0)
        >>> round(float(obj), 4)  # q = (2/3, 1/3): 2/3 log .5 + 1/3 log .25
        -0.9242
    """
    log_q = torch.log_softmax(tau * s_nce, dim=1)  # (B, K, L)
    q = log_q.exp()
    entropy = -(q * log_q).sum(1)  # (B, L)
    value = (q * s_nce).sum(1) + alpha * entropy  # (B, L)
    return value.mean(), entropy.mean()
