"""The DDIM stage as an engine method: a U-Net learns the distribution of the frozen encoder's latent z.

Sinha, Song, Ermon (source document 002, Fig. 1b): once the representation is trained, the encoder is
frozen and a DDIM is trained on the whole latent z = f(x), x ~ p(x); samples are decoded by the
autoencoder's decoder. Latents are standardized per channel (statistics of the training split, stored as
buffers) before the diffusion.

``forward((x, labels))`` -> ``{"loss": DDPM simple loss}``; only the U-Net is optimised (group "main").
The frozen encoder stays in eval mode (its batch-norm statistics never move) whatever ``train()`` says.

Example:
    >>> from infomax.encoders import NVAEEncoder
    >>> m = LatentDDIM(NVAEEncoder(1, 8), Config(base=8, timesteps=50))
    >>> out = m((torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)))
    >>> sorted(out), tuple(m.sample(2, steps=5).shape)
    (['loss'], (2, 2, 4, 4))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from infomax.errors import UserError
from infomax.generative.ddim import DDIMSchedule, ddim_sample
from infomax.generative.unet import LatentUNet
from infomax.methods.base import MethodBase
from infomax.types import Batch, LossDict


@dataclass
class Config:
    """DDIM stage options.

    Attributes:
        base: U-Net width at the latent's resolution.
        timesteps: Diffusion steps T of training (DDPM: 1000).
        beta_start, beta_end: Linear noise schedule (DDPM: 1e-4, 0.02).
        stats_items: Training images used for the per-channel latent mean/std.
    """

    base: int = 64
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    stats_items: int = 2048

    def validate(self) -> None:
        """Raise :class:`UserError` for an out-of-range option."""
        if self.base < 1 or self.timesteps < 1 or self.stats_items < 1:
            raise UserError("base, timesteps and stats_items must be >= 1")
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise UserError(f"need 0 < beta_start <= beta_end < 1, got {self.beta_start}, {self.beta_end}")


class LatentDDIM(MethodBase):
    """A frozen encoder (features ``z``) + a DDIM on standardized z.

    Args:
        encoder: the trained representation (its parameters are frozen here).
        cfg: the stage's :class:`Config`.
    """

    def __init__(self, encoder: nn.Module, cfg: Config) -> None:
        super().__init__()
        cfg.validate()
        self.encoder = encoder
        for p in encoder.parameters():
            p.requires_grad_(False)
        c = int(encoder.latent_channels)
        self.latent_shape = (c, int(encoder.latent_size), int(encoder.latent_size))
        self.unet = LatentUNet(c, cfg.base)
        self.schedule = DDIMSchedule(cfg.timesteps, cfg.beta_start, cfg.beta_end)
        self.register_buffer("latent_mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("latent_std", torch.ones(1, c, 1, 1))
        self.encoder.eval()

    def train(self, mode: bool = True) -> LatentDDIM:
        super().train(mode)
        self.encoder.eval()  # frozen: batch norm keeps its running statistics
        return self

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"main": list(self.unet.parameters())}

    @torch.no_grad()
    def latents(self, x: Tensor) -> Tensor:
        """z (B, C, S, S) of images x (B, C_img, H, W) in [0, 1] under the frozen encoder."""
        self.encoder.eval()
        return self.encoder(x)["z"]

    @torch.no_grad()
    def set_latent_stats(self, x: Tensor, batch_size: int = 256) -> None:
        """Per-channel mean/std of the latents of images x (N, C_img, H, W) in [0, 1]."""
        z = torch.cat([self.latents(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        self.latent_mean.copy_(z.mean(dim=(0, 2, 3), keepdim=True))
        self.latent_std.copy_(z.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6))

    def forward(self, batch: Batch) -> LossDict:
        zn = (self.latents(batch[0]) - self.latent_mean) / self.latent_std  # (B, C, S, S)
        return {"loss": self.schedule.loss(self.unet, zn)}

    @torch.no_grad()
    def sample(self, n: int, steps: int = 50, eta: float = 0.0, generator: torch.Generator | None = None,
               z_T: Tensor | None = None, on_step: Callable[[], object] | None = None) -> Tensor:
        """n latents (n, C, S, S) by DDIM from z_T (default: N(0, I) drawn from ``generator``);
        ``on_step`` is called after each DDIM step."""
        was = self.training
        self.eval()
        try:
            if z_T is None:
                z_T = torch.randn((n, *self.latent_shape), generator=generator)
            dev = self.latent_mean.device
            zn = ddim_sample(self.unet, self.schedule, z_T.to(dev), steps, eta, generator, on_step)
        finally:
            self.train(was)
        return zn * self.latent_std + self.latent_mean
