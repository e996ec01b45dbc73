"""The hybrid MI bound: an autoencoder (Barber-Agakov) on the whole latent z plus MoCo v2 on its first half y.

Sinha, Song, Ermon (source document 002), eq. (hybrid objective)::

    I(g, q) = alpha * E[log q(x | z) - log p(x)]  +  (1 - alpha) * InfoNCE(y; y')

with z = f(x) from an NVAE-style encoder (:class:`~infomax.encoders.NVAEEncoder`; 32x32x3 -> 16x16x6,
28x28x1 -> 14x14x2 by default), q(x | z) = N(x; decoder(z), sigma^2 I) a Gaussian decoder (so the BA term
is the squared reconstruction error up to constants: ``-||x - x_hat||^2 / (2 sigma^2)`` per image, summed
over pixels in [0, 1] scale), and y = the first ``y_channels`` channels of z (16x16x3) fed to MoCo v2.
The autoencoder branch sees the clean image; the contrastive branch two MoCo v2 augmented views.
-log p(x) = H(X) is a constant of the data: the reported ``ba/log_q`` is the BA bound minus H(X).

The loss minimised is ``-hybrid_bound(BA, InfoNCE, alpha)`` (:func:`infomax.bounds.hybrid_bound`).
alpha = 1 is the autoencoder alone (no contrastive branch is built). alpha = 0 is MoCo v2 alone on y;
the decoder is then still trained, on the detached latent (no gradient reaches the encoder from it),
so the reconstruction and generation of a contrastive-only latent can be measured.

Example:
    >>> from types import SimpleNamespace
    >>> info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,))
    >>> method = build(Config(queue_size=64), info)
    >>> out = method((torch.rand(16, 1, 8, 8), torch.zeros(16, dtype=torch.long)))
    >>> sorted(out)
    ['ba/log_q', 'loss', 'mi/infonce', 'moco/pos_similarity', 'recon/mse']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from infomax.bounds import barber_agakov, gaussian_log_likelihood, hybrid_bound
from infomax.config import MethodConfig, Preset
from infomax.encoders.nvae import NVAEDecoder, NVAEEncoder
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.methods.moco import MoCoBranch, check_queue_size, two_views
from infomax.types import Batch, LossDict

if TYPE_CHECKING:  # pragma: no cover
    from infomax.config import TrainConfig
    from infomax.data.datasets import DataInfo


@dataclass
class Config(MethodConfig):
    """Hybrid options (CPU-sane defaults).

    Attributes:
        alpha: Weight of the BA (autoencoder) term, in [0, 1]; 1 - alpha weighs InfoNCE.
        sigma: Standard deviation of the Gaussian decoder q(x | z) (pixels in [0, 1]).
        latent_channels: Channels of z (0 = 2 x image channels: 16x16x6 for 32x32x3).
        y_channels: Channels of y, the contrastive part (0 = half of z's; must then divide evenly).
        hidden: NVAE encoder/decoder width.
        proj_hidden, proj_dim, queue_size, temperature, momentum, bn_splits: MoCo v2 settings
            (see :mod:`infomax.methods.moco`).
        augment: MoCo v2 augmentation for the contrastive views (off: identical views, tests only).
        gather_negatives: Under multi-process (DDP) training, every process's keys join every MoCo queue
            (see :mod:`infomax.methods.moco`); a no-op in one process.
    """

    alpha: float = 0.5
    sigma: float = 1.0
    latent_channels: int = 0
    y_channels: int = 0
    hidden: int = 32
    proj_hidden: int = 512
    proj_dim: int = 128
    queue_size: int = 4096
    temperature: float = 0.2
    momentum: float = 0.99
    bn_splits: int = 2
    augment: bool = True
    gather_negatives: bool = True

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (see :meth:`MethodConfig.validate`)."""
        if not 0.0 <= self.alpha <= 1.0:
            raise UserError(f"hybrid alpha must be in [0, 1], got {self.alpha}")
        if not self.sigma > 0:
            raise UserError(f"sigma must be > 0, got {self.sigma}")
        for name in ("hidden", "proj_hidden", "proj_dim", "queue_size", "bn_splits"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.latent_channels < 0 or self.y_channels < 0:
            raise UserError("latent_channels and y_channels must be >= 0 (0 = automatic)")
        if not 0.0 <= self.momentum <= 1.0:
            raise UserError(f"momentum must be in [0, 1], got {self.momentum}")
        if not self.temperature > 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")


class Hybrid(MethodBase):
    """NVAE-style autoencoder + MoCo v2 on y; ``forward((x, labels))`` returns

    - ``"loss"``: ``-(alpha * BA + (1 - alpha) * InfoNCE)`` (+ the detached-latent decoder term at alpha 0);
    - ``"ba/log_q"``: mean log q(x | z) per image, nats (the BA bound minus the constant H(X));
    - ``"recon/mse"``: mean squared error per pixel, [0, 1] pixel scale;
    - ``"mi/infonce"``, ``"moco/pos_similarity"`` when alpha < 1.

    Args:
        encoder: the NVAE encoder (its ``y`` is the contrastive part of z).
        decoder: the NVAE decoder for z.
        views: x -> (v1, v2) for the contrastive branch.
        alpha, sigma: as in :class:`Config`.
        proj_hidden, ...: MoCo settings.
        gather_negatives: under multi-process training the contrastive branch's keys are gathered from
            every process into the queue (:class:`~infomax.methods.moco.MoCoBranch`); its InfoNCE is a mean
            over the process's own queries and the BA term a mean over its own images, so DDP's gradient
            averaging gives the full-batch gradient. A no-op in one process.
    """

    def __init__(
        self,
        encoder: NVAEEncoder,
        decoder: NVAEDecoder,
        views: Callable[[Tensor], tuple[Tensor, Tensor]],
        alpha: float = 0.5,
        sigma: float = 1.0,
        proj_hidden: int = 512,
        proj_dim: int = 128,
        queue_size: int = 4096,
        temperature: float = 0.2,
        momentum: float = 0.99,
        bn_splits: int = 2,
        gather_negatives: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise UserError(f"hybrid alpha must be in [0, 1], got {alpha}")
        self.encoder, self.decoder, self.views = encoder, decoder, views
        self.alpha, self.sigma = float(alpha), float(sigma)
        y_dim = encoder.y_channels * encoder.latent_size**2
        self.moco = (
            MoCoBranch(
                encoder,
                layer="y",
                in_dim=y_dim,
                proj_hidden=proj_hidden,
                proj_dim=proj_dim,
                queue_size=queue_size,
                temperature=temperature,
                momentum=momentum,
                bn_splits=bn_splits,
                gather_negatives=gather_negatives,
            )
            if alpha < 1
            else None
        )

    def reconstruction(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log q(x | z) per image (B,), the BA value minus H(X) (scalar), MSE per pixel (scalar))."""
        x_hat = self.decoder(z)  # (B, C, H, W)
        log_q = gaussian_log_likelihood(x, x_hat, self.sigma)  # (B,)
        return log_q, barber_agakov(log_q, entropy_x=0.0), (x - x_hat).pow(2).mean().detach()

    def contrastive(self, z_q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """(InfoNCE, mean positive cosine) of query latents z_q (B, Cz, S, S) against keys k (B, P):
        only the first ``y_channels`` channels of z_q are read."""
        assert self.moco is not None
        y_q, _ = self.encoder.split(z_q)  # (B, Cy, S, S)
        return self.moco.infonce_from_features(y_q.flatten(1), k)

    def forward(self, batch: Batch) -> LossDict:
        x = batch[0]
        z = self.encoder(x)["z"]  # (B, Cz, S, S) of the clean image
        _, ba, mse = self.reconstruction(x, z if self.alpha > 0 else z.detach())
        out: LossDict = {"ba/log_q": ba.detach(), "recon/mse": mse}
        if self.moco is None:
            out["loss"] = -ba
            return out
        v1, v2 = self.views(x)  # (B, C, H, W) each
        k = self.moco.keys(v2)  # (B, P) momentum keys of y(v2)
        nce, pos = self.contrastive(self.encoder(v1)["z"], k)
        self.moco.enqueue(k)  # every process's keys under multi-process training
        objective = hybrid_bound(ba, nce, self.alpha)
        loss = -objective if self.alpha > 0 else -objective - ba  # alpha 0: the decoder on detached z
        out.update({"loss": loss, "mi/infonce": nce.detach(), "moco/pos_similarity": pos})
        return out

    def on_after_optimizer_step(self) -> None:
        if self.moco is not None:
            self.moco.momentum_step(self.encoder)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Images (B, C, H, W) in [0, 1] of latents z (B, Cz, S, S)."""
        return self.decoder(z)


def check_train(cfg: Config, train_cfg: TrainConfig) -> None:
    """Checks of hybrid settings against the engine's (called by ``infomax.engine.fit.check_settings``
    before the run starts): with a contrastive branch (alpha < 1), the MoCo queue size must be a multiple
    of the keys enqueued per step (the batch size, times the number of processes when they are gathered)."""
    if cfg.alpha < 1:
        per_step = train_cfg.batch_size * (train_cfg.devices if cfg.gather_negatives else 1)
        check_queue_size(cfg.queue_size, per_step)


def build(cfg: Config, info: DataInfo) -> Hybrid:
    """A :class:`Hybrid` for data described by ``info`` (channels, image_size, mean, std)."""
    cfg.validate()
    enc = NVAEEncoder(info.channels, info.image_size, latent_channels=cfg.latent_channels,
                      y_channels=cfg.y_channels, hidden=cfg.hidden, mean=tuple(info.mean),
                      std=tuple(info.std))
    dec = NVAEDecoder(info.channels, info.image_size, enc.latent_channels, hidden=cfg.hidden)
    views: Callable[[Tensor], tuple[Tensor, Tensor]] = (
        two_views(info.image_size) if cfg.augment else (lambda x: (x, x)))
    return Hybrid(
        enc,
        dec,
        views,
        alpha=cfg.alpha,
        sigma=cfg.sigma,
        proj_hidden=cfg.proj_hidden,
        proj_dim=cfg.proj_dim,
        queue_size=cfg.queue_size,
        temperature=cfg.temperature,
        momentum=cfg.momentum,
        bn_splits=cfg.bn_splits,
        gather_negatives=cfg.gather_negatives,
    )


PRESETS: dict[str, Preset] = {
    "hybrid": Preset(description="Hybrid bound: NVAE autoencoder (BA) + MoCo v2 on half the latent "
                                 "(alpha=0.5)", method="hybrid"),
    "hybrid-ae": Preset(description="Hybrid with alpha=1: the autoencoder alone", method="hybrid",
                        overrides={"alpha": 1.0}),
    "hybrid-moco": Preset(description="Hybrid with alpha=0: MoCo v2 alone on y (decoder on the detached z)",
                          method="hybrid", overrides={"alpha": 0.0}),
}
