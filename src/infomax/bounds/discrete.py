"""Closed-form mutual information of discrete codes and labels, and DIMCO's independence regularizer.

Lee et al., "Discrete Infomax Codes for Supervised Representation Learning" (DIMCO; arXiv 1905.11656,
Entropy 2022), sections 2.2 and 2.4. An encoder outputs, per item ``b``, ``d`` independent categorical
distributions over ``k`` symbols: ``probs[b, i, :]``. Because codes and labels are discrete, the mutual
information between the code distribution and the label has a closed form from batch statistics:

    I = sum_i [ H(mean_b p_bi) - sum_c pi_c H(mean_{b: y_b = c} p_bi) ]

with ``pi_c`` the frequency of class ``c`` in the batch. Like the paper, the code entropy is the sum of the
per-dimension entropies, so the value is ``sum_i I(x_i; Y)``; each term lies in [0, min(log k, H(Y))] and
the total in [0, d min(log k, H(Y))]. The total can exceed H(Y), the ceiling of the joint I(code; Y), when
dimensions repeat each other: that redundancy is what the pairwise independence regularizer penalizes.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from infomax.errors import UserError

_TINY = 1e-30  # clamp inside log so that 0 * log 0 = 0 with a finite gradient


def _entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy (nats) of categorical distributions along ``dim``; ``0 log 0 = 0``."""
    return -(p * torch.log(p.clamp_min(_TINY))).sum(dim)


def _check_probs(probs: Tensor) -> None:
    if not isinstance(probs, Tensor) or probs.dim() != 3:
        shape = tuple(probs.shape) if isinstance(probs, Tensor) else type(probs).__name__
        raise UserError(f"probs must be a (B, d, k) tensor of code probabilities, got {shape}")
    b, d, k = probs.shape
    if b < 1:
        raise UserError("probs is empty: need at least one item")
    if d < 1:
        raise UserError(f"code dimension d must be >= 1, got {d}")
    if k < 2:
        raise UserError(f"code alphabet size k must be >= 2, got {k}")


def discrete_mi(probs: Tensor, labels: Tensor) -> Tensor:
    """Closed-form I(code; label) of DIMCO (Lee et al. 2022, eq. 4-7), in nats.

    Args:
        probs: (B, d, k) per-dimension symbol probabilities (each ``probs[b, i]`` sums to 1, e.g. a
            softmax over the last axis).
        labels: (B,) int64 class labels, all >= 0 (-1, "unlabelled", is an error: the objective is
            supervised).

    Returns:
        Scalar tensor ``sum_i [H(mean_b p_bi) - sum_c pi_c H(mean_{b in c} p_bi)]`` in [0, d log k].
        A batch with a single class has I = 0 (a warning is issued; nothing is divided by zero).

    Example:
        >>> p = torch.eye(2).repeat(2, 1).unsqueeze(1)  # (4, 1, 2): symbols 0, 1, 0, 1
        >>> round(discrete_mi(p, torch.tensor([0, 1, 0, 1])).item(), 4)  # = log 2
        0.6931
    """
    _check_probs(probs)
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.shape[0] != probs.shape[0]:
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise UserError(f"labels must be a ({probs.shape[0]},) tensor matching probs, got {got}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise UserError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if bool((labels < 0).any()):
        raise UserError("discrete_mi needs a label for every item; got unlabelled items (label -1)")
    b, d, k = probs.shape
    classes, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    if classes.numel() == 1:
        warnings.warn("discrete_mi: the batch holds a single class, so I(code; label) = 0", stacklevel=2)
    flat = probs.reshape(b, d * k)  # (B, d*k)
    onehot = torch.zeros(classes.numel(), b, dtype=probs.dtype, device=probs.device)
    onehot[inverse, torch.arange(b, device=probs.device)] = 1.0  # (C, B)
    counts_f = counts.to(probs.dtype)  # (C,), every count >= 1 by construction
    class_mean = (onehot @ flat) / counts_f[:, None]  # (C, d*k)
    pi = counts_f / b  # (C,)
    h_marginal = _entropy(flat.mean(0).reshape(d, k)).sum()  # sum_i H(mean_b p_bi)
    h_cond = (pi * _entropy(class_mean.reshape(-1, d, k)).sum(-1)).sum()  # sum_c pi_c sum_i H(...)
    return h_marginal - h_cond


def sample_pairs(d: int, n_pairs: int, generator: torch.Generator | None = None) -> Tensor:
    """``n_pairs`` ordered pairs of distinct dimensions, uniformly at random: (n_pairs, 2) int64.

    Example:
        >>> sample_pairs(4, 3, torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
    """
    if d < 2:
        raise UserError(f"pairs of distinct dimensions need d >= 2, got d={d}")
    if n_pairs < 1:
        raise UserError(f"n_pairs must be >= 1, got {n_pairs}")
    device = generator.device if generator is not None else None
    i1 = torch.randint(0, d, (n_pairs,), generator=generator, device=device)
    i2 = (i1 + torch.randint(1, d, (n_pairs,), generator=generator, device=device)) % d
    return torch.stack([i1, i2], dim=1)


def pairwise_independence(
    probs: Tensor,
    pairs: Tensor | None = None,
    n_pairs: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DIMCO's pairwise independence regularizer (Lee et al. 2022, sec. 2.4, eq. 9), in nats.

    For each pair of dimensions ``(i1, i2)``: ``KL(joint || marginal(i1) x marginal(i2))`` where the
    (k, k) joint is ``mean_b outer(p_b,i1, p_b,i2)`` and the marginals are ``mean_b p_b,i``. The result is
    the mean over pairs (so its scale does not depend on the number of pairs).

    Args:
        probs: (B, d, k) per-dimension symbol probabilities.
        pairs: (P, 2) int64 dimension pairs with ``i1 != i2``. Give either ``pairs`` or ``n_pairs``.
        n_pairs: number of pairs to sample uniformly (distinct dimensions) with ``generator``.
        generator: optional torch.Generator for the sampling (the global RNG otherwise).

    Returns:
        Scalar tensor >= 0; 0 when the sampled dimensions are independent over the batch. With
        ``d == 1`` and ``n_pairs`` there is no pair to compare: 0.

    Example:
        >>> p = torch.eye(2).repeat(2, 1).unsqueeze(1).repeat(1, 2, 1)  # dim 1 duplicates dim 0
        >>> round(pairwise_independence(p, pairs=torch.tensor([[0, 1]])).item(), 4)  # = log 2
        0.6931
    """
    _check_probs(probs)
    b, d, k = probs.shape
    if (pairs is None) == (n_pairs is None):
        raise UserError("pairwise_independence: give exactly one of pairs= or n_pairs=")
    if pairs is None:
        if d < 2:
            return probs.new_zeros(())
        pairs = sample_pairs(d, int(n_pairs), generator).to(probs.device)
    pairs = torch.as_tensor(pairs, device=probs.device)
    if pairs.dim() != 2 or pairs.shape[1] != 2 or pairs.shape[0] < 1:
        raise UserError(f"pairs must have shape (P, 2) with P >= 1, got {tuple(pairs.shape)}")
    if bool(((pairs < 0) | (pairs >= d)).any()):
        raise UserError(f"pairs must index dimensions in [0, {d}), got {pairs.tolist()}")
    if bool((pairs[:, 0] == pairs[:, 1]).any()):
        raise UserError("pairs must join two different dimensions (i1 != i2)")
    p1 = probs[:, pairs[:, 0]]  # (B, P, k)
    p2 = probs[:, pairs[:, 1]]  # (B, P, k)
    joint = torch.einsum("bpk,bpl->pkl", p1, p2) / b  # (P, k, k)
    product = p1.mean(0)[:, :, None] * p2.mean(0)[:, None, :]  # (P, k, k)
    kl = (joint * (torch.log(joint.clamp_min(_TINY)) - torch.log(product.clamp_min(_TINY)))).sum((1, 2))
    return kl.mean()
