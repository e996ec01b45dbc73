"""Mixture representations (eq. 6): posterior normalisation, entropy term, reduction to plain NCE."""

from __future__ import annotations

import math

import pytest
import torch

from infomax.methods.amdim_mixture import MixtureHead, mixture_objective, mixture_posterior


@pytest.mark.parametrize("tau", [0.5, 1.0, 4.0])
def test_posterior_sums_to_one_over_components(tau: float) -> None:
    q = mixture_posterior(torch.randn(5, 3, 7), tau)
    assert torch.allclose(q.sum(1), torch.ones(5, 7))
    assert bool((q > 0).all())


def test_entropy_term_adds_alpha_times_entropy() -> None:
    s = torch.randn(4, 3, 5)
    obj0, h = mixture_objective(s, tau=1.0, alpha=0.0)
    obj1, h1 = mixture_objective(s, tau=1.0, alpha=0.5)
    assert torch.allclose(h, h1)
    assert 0 < float(h) <= math.log(3)
    assert torch.allclose(obj1 - obj0, 0.5 * h)  # maximised objective: the entropy is a bonus
    # the method minimises -objective, so a larger alpha lowers the loss by alpha * H
    assert float(-obj1) < float(-obj0)


def test_equal_scores_give_uniform_posterior_and_log_k_entropy() -> None:
    s = torch.full((2, 4, 3), -1.7)
    _, h = mixture_objective(s, tau=2.0, alpha=1.0)
    assert torch.allclose(h, torch.tensor(math.log(4)))


def test_hand_computed_two_components() -> None:
    s = torch.log(torch.tensor([0.5, 0.25])).view(1, 2, 1)
    obj, h = mixture_objective(s, tau=1.0, alpha=1.0)
    q = torch.tensor([2 / 3, 1 / 3])
    expected_h = float(-(q * q.log()).sum())
    assert math.isclose(float(h), expected_h, rel_tol=1e-6)
    assert math.isclose(float(obj), 2 / 3 * math.log(0.5) + 1 / 3 * math.log(0.25) + expected_h, rel_tol=1e-6)


def test_single_component_is_plain_nce() -> None:
    s = torch.randn(3, 1, 4)
    obj, h = mixture_objective(s, tau=3.0, alpha=0.7)
    assert torch.allclose(obj, s.mean()) and float(h) == 0.0


def test_mixture_head_is_residual() -> None:
    head = MixtureHead(6, 3, hidden=5)
    torch.nn.init.zeros_(head.mlp[2].weight)
    torch.nn.init.zeros_(head.mlp[2].bias)
    f1 = torch.randn(4, 6)
    assert torch.equal(head(f1), f1[:, None].expand(4, 3, 6))
    assert torch.equal(MixtureHead(6, 1, hidden=5)(f1), f1[:, None])


def test_tau_multiplies_the_scores_so_larger_tau_sharpens_q() -> None:
    # tau is the paper's exp(tau * s_nce) multiplier: an inverse temperature (not softmax(s / tau))
    s = torch.randn(3, 4, 5)
    for tau in (0.25, 1.0, 3.0):
        assert torch.allclose(mixture_posterior(s, tau), torch.softmax(tau * s, dim=1))
    ent = [float(mixture_objective(s, tau, alpha=0.0)[1]) for tau in (0.1, 1.0, 10.0)]
    assert ent[0] > ent[1] > ent[2]


def test_entropy_is_a_bonus_whose_optimum_is_tau_one_over_alpha() -> None:
    # max_q sum_k q s + alpha H(q) is q = softmax(s / alpha): with q = softmax(tau s) the objective peaks at
    # tau = 1 / alpha. (With the entropy as a penalty it would grow without bound in tau instead.)
    s = torch.tensor([0.3, -0.5, 1.1, 0.0], dtype=torch.float64).view(1, 4, 1)
    alpha = 0.5
    taus = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 8.0]
    objs = [float(mixture_objective(s, tau, alpha)[0]) for tau in taus]
    assert taus[objs.index(max(objs))] == 1 / alpha
