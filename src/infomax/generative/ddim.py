"""Diffusion on a latent: the DDPM noise schedule and loss, and deterministic DDIM sampling.

Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (linear betas 1e-4 .. 0.02 over
T = 1000 steps; the simple noise-prediction loss, eq. 14) and Song, Meng, Ermon, "Denoising Diffusion
Implicit Models", ICLR 2021 (eq. 12: the generative step on a sub-sequence tau of the steps; eta = 0 makes
sampling deterministic given z_T). Notation: ``abar_t = prod_{s<=t} (1 - beta_s)``,
``z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps``.

Example:
    >>> sched = DDIMSchedule(100)
    >>> z0 = torch.randn(3, 2, 4, 4)
    >>> oracle = lambda zt, t: (zt - sched.abar[t].sqrt().view(-1, 1, 1, 1) * z0) / (1 - sched.abar[t]).sqrt().view(-1, 1, 1, 1)
    >>> zT = sched.q_sample(z0, torch.full((3,), 99), torch.randn_like(z0))
    >>> bool(torch.allclose(ddim_sample(oracle, sched, zT, steps=10), z0, atol=1e-4))
    True
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from infomax.errors import UserError

#: eps_theta(z_t (B, C, S, S), t (B,) long) -> predicted noise (B, C, S, S).
NoiseModel = Callable[[Tensor, Tensor], Tensor]


class DDIMSchedule(nn.Module):
    """The linear beta schedule as buffers: ``betas`` (T,), ``abar`` (T,) (cumulative products of 1 - beta).

    Args:
        timesteps: T.
        beta_start, beta_end: the linear schedule's ends (DDPM: 1e-4, 0.02).
    """

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> None:
        super().__init__()
        if timesteps < 1:
            raise UserError(f"timesteps must be >= 1, got {timesteps}")
        if not 0 < beta_start <= beta_end < 1:
            raise UserError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
        self.timesteps = timesteps
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("abar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def q_sample(self, z0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps for per-item steps t (B,)."""
        a = self.abar[t].view(-1, *([1] * (z0.dim() - 1)))
        return a.sqrt() * z0 + (1 - a).sqrt() * eps

    def loss(self, model: NoiseModel, z0: Tensor) -> Tensor:
        """DDPM's simple loss: mean over items and dims of ||eps - eps_theta(z_t, t)||^2, t ~ U{0..T-1}."""
        t = torch.randint(0, self.timesteps, (z0.shape[0],)).to(z0.device)
        eps = torch.randn_like(z0)
        return (model(self.q_sample(z0, t, eps), t) - eps).pow(2).mean()

    def step_sequence(self, steps: int) -> list[int]:
        """tau: ``steps`` increasing steps in [0, T-1], evenly spaced, ending at T-1 (all of them when
        ``steps == T``)."""
        if not 1 <= steps <= self.timesteps:
            raise UserError(f"sampling steps must be in [1, {self.timesteps}], got {steps}")
        return sorted({round(i * (self.timesteps - 1) / max(steps - 1, 1)) for i in range(steps)}
                      if steps > 1 else {self.timesteps - 1})


@torch.no_grad()
def ddim_sample(
    model: NoiseModel,
    schedule: DDIMSchedule,
    z_T: Tensor,
    steps: int,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    on_step: Callable[[], object] | None = None,
) -> Tensor:
    """Run the DDIM generative process from z_T (B, C, S, S) over ``steps`` steps; returns z_0.

    With ``eta = 0`` no randomness is drawn: the output is a fixed function of z_T (DDIM, eq. 12 with
    sigma = 0); ``eta = 1`` gives DDPM-like ancestral sampling (noise from ``generator``). ``on_step`` is
    called after every step (e.g. a progress bar's update).
    """
    if eta < 0:
        raise UserError(f"eta must be >= 0, got {eta}")
    taus = schedule.step_sequence(steps)
    z = z_T
    for i in reversed(range(len(taus))):
        t = taus[i]
        a_t = schedule.abar[t]
        a_prev = schedule.abar[taus[i - 1]] if i > 0 else torch.ones((), device=z.device)
        eps = model(z, torch.full((z.shape[0],), t, dtype=torch.long, device=z.device))
        z0_pred = (z - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp_min(0).sqrt()
        z = a_prev.sqrt() * z0_pred + (1 - a_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta > 0 and i > 0:
            noise = torch.randn(z.shape, generator=generator, dtype=z.dtype).to(z.device)
            z = z + sigma * noise
        if on_step is not None:
            on_step()
    return z
