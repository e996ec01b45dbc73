"""DDIM: exact recovery with the true noise, determinism at eta = 0, the step sub-sequence, the loss."""

from __future__ import annotations

import pytest
import torch

from infomax.errors import UserError
from infomax.generative.ddim import DDIMSchedule, ddim_sample
from infomax.generative.unet import LatentUNet


def _oracle(sched, z0):
    """The exact noise of z_t given the true z0: eps = (z_t - sqrt(abar) z0) / sqrt(1 - abar)."""
    def eps(zt, t):
        a = sched.abar[t].view(-1, 1, 1, 1)
        return (zt - a.sqrt() * z0) / (1 - a).sqrt()
    return eps


@pytest.mark.parametrize("steps", [50, 7, 1])
def test_exact_noise_model_recovers_z0(steps):
    sched = DDIMSchedule(50)
    z0 = torch.randn(4, 2, 4, 4, dtype=torch.float64)
    zt = sched.q_sample(z0, torch.full((4,), 49), torch.randn_like(z0))
    sched.abar = sched.abar.double()
    torch.testing.assert_close(ddim_sample(_oracle(sched, z0), sched, zt, steps), z0)


def test_full_steps_eta_zero_is_deterministic_and_draws_no_randomness():
    sched = DDIMSchedule(30)
    net = LatentUNet(2, base=8).eval()
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)  # a non-trivial network
    zT = torch.randn(3, 2, 4, 4)
    rng = torch.get_rng_state()
    a = ddim_sample(net, sched, zT, steps=30, eta=0.0)
    assert torch.equal(torch.get_rng_state(), rng)
    b = ddim_sample(net, sched, zT.clone(), steps=30, eta=0.0)
    assert torch.equal(a, b) and not torch.equal(a, zT)
    c = ddim_sample(net, sched, zT, steps=30, eta=1.0, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, c)  # eta > 0 adds noise


def test_step_sequence():
    sched = DDIMSchedule(10)
    assert sched.step_sequence(10) == list(range(10))
    assert sched.step_sequence(4) == [0, 3, 6, 9]
    assert sched.step_sequence(1) == [9]
    with pytest.raises(UserError, match="sampling steps"):
        sched.step_sequence(11)


def test_schedule_and_loss():
    sched = DDIMSchedule(1000)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    torch.testing.assert_close(sched.abar[[0, 500, 999]], torch.cumprod(1 - betas, 0)[[0, 500, 999]].float())
    z0 = torch.randn(256, 1, 2, 2)
    # a model predicting 0 has loss E||eps||^2 = 1
    loss = sched.loss(lambda z, t: torch.zeros_like(z), z0)
    assert abs(float(loss) - 1.0) < 0.15


def test_unet_shapes_and_zero_start():
    net = LatentUNet(6, base=8)
    z = torch.randn(2, 6, 14, 14)
    out = net(z, torch.tensor([0, 999]))
    assert out.shape == z.shape and torch.equal(out, torch.zeros_like(out))
    with pytest.raises(UserError, match="even"):
        net(torch.randn(1, 6, 7, 7), torch.tensor([0]))


def test_on_step_is_called_once_per_step():
    sched = DDIMSchedule(50)
    calls = []
    z = ddim_sample(lambda zt, t: torch.zeros_like(zt), sched, torch.randn(2, 1, 2, 2), steps=7,
                    on_step=lambda: calls.append(1))
    assert len(calls) == 7 and z.shape == (2, 1, 2, 2)
