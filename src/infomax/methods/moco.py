"""MoCo v2: momentum contrast with a queue of negative keys and an MLP projection head.

He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020
(Algorithm 1) and Chen, Fan, Girshick, He, "Improved Baselines with Momentum Contrastive Learning", 2020
(the v2 changes kept here: an MLP head and stronger augmentation with blur; the cosine learning-rate
schedule is not, the engine uses a constant rate).

Per batch: two augmented views; queries ``q = normalize(head(f_q(v1)))``, keys
``k = normalize(head_k(f_k(v2)))`` from the momentum encoder (no gradient); scores
``[q . k, q . queue] / temperature`` of shape (B, 1 + K), positives in column 0; the loss is minus the
InfoNCE bound (:func:`infomax.bounds.infonce`, nats; equal to the usual cross-entropy minus log(1 + K));
then the keys replace the oldest entries of the queue, and after the optimiser step the key encoder and
head move towards the query ones: ``theta_k <- m * theta_k + (1 - m) * theta_q``.

Multi-process training (``gather_negatives``, on by default): MoCo has no in-batch negatives (they are
the queue's keys), so what every process must share is the keys: each step's keys are all-gathered (no
gradient flows through keys) and all W * B of them join every process's queue, as in MoCo's own DDP code
(``concat_all_gather``). Every queue then holds the keys a one-process run on the full batch would have;
the queue size must be a multiple of W * B. Each process's loss is a mean over its own queries, so DDP's
gradient averaging gives the full-batch gradient. In one process nothing changes.

Batch norm in the key encoder: the paper's shuffling BN across GPUs is emulated in one process by
encoding the keys in ``bn_splits`` sub-batches of a random permutation of the batch, so a query and
its key never share batch statistics.

Example:
    >>> from types import SimpleNamespace
    >>> info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,))
    >>> method = build(Config(queue_size=64), info)
    >>> out = method((torch.rand(16, 1, 8, 8), torch.zeros(16, dtype=torch.long)))
    >>> sorted(out)
    ['loss', 'mi/infonce', 'moco/pos_similarity']
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.bounds import infonce
from infomax.config import MethodConfig, Preset, choice
from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.encoders.nvae import NVAEEncoder
from infomax.engine.distributed import all_gather_detached, gather_world
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.types import Batch, LossDict

if TYPE_CHECKING:  # pragma: no cover
    from infomax.config import TrainConfig
    from infomax.data.datasets import DataInfo

#: MoCo's ``Config.encoder`` names -> the encoder class (its ``layers`` are what ``Config.layer`` may name);
#: built by :func:`make_encoder` with MoCo's own options.
MOCO_ENCODERS: dict[str, type[nn.Module]] = {"dim": DIMConvEncoder, "nvae": NVAEEncoder}
#: The layer the projection head reads, per encoder, when ``Config.layer`` is empty.
DEFAULT_LAYER = {"dim": "fc", "nvae": "y"}


def _layers(cfg: Config) -> tuple[str, ...] | None:
    """What ``Config.layer`` may name: "" (the encoder's default) or a layer of ``cfg.encoder``."""
    enc = MOCO_ENCODERS.get(cfg.encoder)
    return None if enc is None else ("", *enc.layers)


def check_queue_size(queue_size: int, batch_size: int) -> None:
    """UserError unless the queue holds a whole number of batches (each step replaces ``batch_size`` keys).

    Example:
        >>> check_queue_size(4096, 64)
        >>> check_queue_size(100, 64)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        infomax.errors.UserError: the MoCo queue size (100) must be a multiple of the batch size (64); ...
    """
    if queue_size % batch_size:
        fit = batch_size * max(1, queue_size // batch_size)
        raise UserError(f"the MoCo queue size ({queue_size}) must be a multiple of the batch size "
                        f"({batch_size}); set queue_size or batch_size accordingly, "
                        f"e.g. --set queue_size={fit}")


class KeyQueue(nn.Module):
    """A FIFO queue of K unit-norm keys (a buffer: it is saved in checkpoints and ``model.safetensors``).

    ``enqueue(k)`` writes a batch of B keys over the oldest B entries (positions ``ptr .. ptr + B - 1``)
    and advances ``ptr`` by B modulo K; K must be a multiple of B (as in MoCo), else UserError.

    Args:
        size: K, the number of keys.
        dim: key width D.

    Example:
        >>> q = KeyQueue(4, 2)
        >>> q.enqueue(torch.ones(2, 2)); int(q.ptr)
        2
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise UserError(f"queue size and key width must be >= 1, got {size} and {dim}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))  # (K, D)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, k: Tensor) -> None:
        """Replace the B oldest keys by ``k`` (B, D); index arithmetic on the device, no host sync."""
        size, b = self.keys.shape[0], k.shape[0]
        check_queue_size(size, b)
        idx = (self.ptr + torch.arange(b, device=self.ptr.device)) % size  # (B,) positions ptr .. ptr + B - 1
        self.keys.index_copy_(0, idx, k.detach().to(self.keys.dtype))
        self.ptr.copy_((self.ptr + b) % size)


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """MoCo v2's MLP head: Linear(in, hidden) - ReLU - Linear(hidden, out); (B, in) -> (B, out)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


@torch.no_grad()
def feature_dim(encoder: nn.Module, layer: str, channels: int, image_size: int) -> int:
    """Flattened width of ``encoder``'s ``layer`` for one image (a forward pass in eval mode)."""
    was = encoder.training
    encoder.eval()
    try:
        out = encoder(torch.zeros(1, channels, image_size, image_size))
    finally:
        encoder.train(was)
    if layer not in out:
        raise UserError(f"unknown layer {layer!r} for {type(encoder).__name__}; it has: {', '.join(out)}")
    return int(out[layer][0].numel())


@torch.no_grad()
def momentum_update(key: nn.Module, query: nn.Module, m: float) -> None:
    """``p_k <- p_k * m + p_q * (1 - m)`` for every parameter pair (buffers are left alone)."""
    for pk, pq in zip(key.parameters(), query.parameters(), strict=True):
        pk.copy_(pk * m + pq.detach() * (1.0 - m))


class MoCoBranch(nn.Module):
    """The MoCo machinery around a query encoder it does not own: heads, momentum key encoder, queue.

    The query encoder is passed to :meth:`scores` and :meth:`momentum_step` (so a method that also
    uses it elsewhere, like the hybrid autoencoder, owns it once). The key encoder and key head are
    copies made at construction, with ``requires_grad=False``.

    Args:
        encoder: the query encoder (copied once for the key encoder).
        layer: the feature the projection head reads (flattened).
        in_dim: that feature's flattened width.
        proj_hidden, proj_dim: projection head widths (MoCo v2: 2048, 128).
        queue_size: K negatives (a multiple of the batch size).
        temperature: tau, scores are cosine similarities / tau (MoCo v2: 0.2).
        momentum: m of the key update (MoCo: 0.999; 0.99 suits short runs).
        bn_splits: sub-batches the shuffled keys are encoded in (shuffle-BN emulation; 1 = off).
        feature: optional map applied to the encoder's output dict to pick the feature (default
            ``feats[layer]``).
        gather_negatives: under multi-process training, :meth:`enqueue` puts every process's keys in the
            queue (see the module docstring); a no-op in one process.
    """

    def __init__(
        self,
        encoder: nn.Module,
        layer: str,
        in_dim: int,
        proj_hidden: int = 512,
        proj_dim: int = 128,
        queue_size: int = 4096,
        temperature: float = 0.2,
        momentum: float = 0.99,
        bn_splits: int = 2,
        feature: Callable[[dict[str, Tensor]], Tensor] | None = None,
        gather_negatives: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise UserError(f"momentum must be in [0, 1], got {momentum}")
        if not temperature > 0:
            raise UserError(f"temperature must be > 0, got {temperature}")
        if bn_splits < 1:
            raise UserError(f"bn_splits must be >= 1, got {bn_splits}")
        self.layer, self.temperature, self.momentum, self.bn_splits = layer, temperature, momentum, bn_splits
        self._feature = feature
        self.gather_negatives = gather_negatives
        self.head = projection_head(in_dim, proj_hidden, proj_dim)
        self.key_encoder = copy.deepcopy(encoder)
        self.key_head = copy.deepcopy(self.head)
        for p in [*self.key_encoder.parameters(), *self.key_head.parameters()]:
            p.requires_grad_(False)
        self.queue = KeyQueue(queue_size, proj_dim)

    def feature(self, feats: dict[str, Tensor]) -> Tensor:
        """The flattened feature (B, D) the heads read from an encoder's output dict."""
        return (self._feature(feats) if self._feature is not None else feats[self.layer]).flatten(1)

    def query(self, h: Tensor) -> Tensor:
        """Unit-norm query embeddings (B, proj_dim) of features h (B, D)."""
        return F.normalize(self.head(h), dim=1)

    @torch.no_grad()
    def keys(self, v2: Tensor) -> Tensor:
        """Unit-norm key embeddings (B, proj_dim) of the second views (B, C, H, W), shuffle-BN style."""
        b = v2.shape[0]
        g = self.bn_splits if b % self.bn_splits == 0 and b // self.bn_splits >= 2 else 1
        perm = torch.randperm(b).to(v2.device)
        parts = [self.feature(self.key_encoder(chunk)) for chunk in v2[perm].chunk(g)]
        k = F.normalize(self.key_head(torch.cat(parts)), dim=1)  # (B, P) in shuffled order
        return k[torch.argsort(perm)]

    def scores(self, q: Tensor, k: Tensor) -> Tensor:
        """(B, 1 + K) scores ``[q_i . k_i, q_i . queue_j] / tau``; the positive is column 0."""
        pos = (q * k).sum(1, keepdim=True)  # (B, 1)
        neg = q @ self.queue.keys.clone().detach().T  # (B, K)
        return torch.cat([pos, neg], dim=1) / self.temperature

    def infonce_from_features(self, h_q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """(InfoNCE in nats, mean positive cosine) from query features h_q (B, D) and keys k (B, P)."""
        q = self.query(h_q)
        s = self.scores(q, k)  # (B, 1 + K)
        pos_mask = torch.zeros_like(s, dtype=torch.bool)
        pos_mask[:, 0] = True
        return infonce(s, pos_mask=pos_mask), (q * k).sum(1).mean().detach()

    def enqueue(self, k: Tensor) -> None:
        """Put this step's keys k (B, P) in the queue: every process's (W * B, P) under multi-process
        training with ``gather_negatives``, else this process's own."""
        self.queue.enqueue(all_gather_detached(k) if gather_world(self.gather_negatives) > 1 else k)

    def step(self, encoder: nn.Module, v1: Tensor, v2: Tensor) -> tuple[Tensor, Tensor]:
        """One MoCo step on two views: (InfoNCE, mean positive cosine); the keys join the queue."""
        k = self.keys(v2)
        mi, pos = self.infonce_from_features(self.feature(encoder(v1)), k)
        self.enqueue(k)
        return mi, pos

    @torch.no_grad()
    def momentum_step(self, encoder: nn.Module) -> None:
        """Move the key encoder and key head towards ``encoder`` and the query head."""
        momentum_update(self.key_encoder, encoder, self.momentum)
        momentum_update(self.key_head, self.head, self.momentum)


def two_views(size: int) -> nn.Module:
    """MoCo v2's two augmented views of a batch (:func:`infomax.data.views.mocov2_augment`)."""
    from infomax.data.views import TwoViews, mocov2_augment

    return TwoViews(mocov2_augment(size))


@dataclass
class Config(MethodConfig):
    """MoCo v2 options (CPU-sane defaults; the papers' values in brackets).

    Attributes:
        encoder: ``dim`` (:class:`~infomax.encoders.DIMConvEncoder`) or ``nvae`` (the NVAE-style
            encoder, :class:`~infomax.encoders.NVAEEncoder`).
        layer: Encoder feature the head reads ("" = ``fc`` for dim, ``y`` for nvae).
        y_dim: DIM encoder's output width.
        latent_channels, y_channels, hidden: NVAE encoder sizes (0 = automatic, see the encoder).
        proj_hidden, proj_dim: Projection head widths [2048, 128].
        queue_size: Negatives K, a multiple of the batch size [65536 for ImageNet; 4096 for CIFAR].
        temperature: Softmax temperature [0.2].
        momentum: Key-encoder momentum [0.999].
        bn_splits: Sub-batches for the shuffle-BN emulation (1 = off).
        augment: Use the MoCo v2 augmentation (off: identical views, for tests only).
        gather_negatives: Under multi-process (DDP) training, every process's keys join every queue (the
            queue size must then be a multiple of batch_size x devices); a no-op in one process.
    """

    encoder: str = choice("dim", MOCO_ENCODERS)
    layer: str = choice("", _layers)
    y_dim: int = 64
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
        """Raise :class:`UserError` for an out-of-range option (names: see :meth:`MethodConfig.validate`)."""
        for name in ("y_dim", "proj_hidden", "proj_dim", "queue_size", "bn_splits", "hidden"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.latent_channels < 0 or self.y_channels < 0:
            raise UserError("latent_channels and y_channels must be >= 0 (0 = automatic)")
        if not 0.0 <= self.momentum <= 1.0:
            raise UserError(f"momentum must be in [0, 1], got {self.momentum}")
        if not self.temperature > 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")


class MoCo(MethodBase):
    """MoCo v2 on a chosen encoder; ``forward((x, labels))`` -> ``{"loss", "mi/infonce",
    "moco/pos_similarity"}`` (InfoNCE in nats, the mean query-key cosine).

    Args:
        encoder: the query encoder (the representation that is probed and exported).
        views: callable x (B, C, H, W) -> (v1, v2), e.g. :func:`two_views`.
        layer, proj_hidden, proj_dim, queue_size, temperature, momentum, bn_splits, gather_negatives: see
            :class:`MoCoBranch`.
        channels, image_size: the input size (to size the head).
    """

    def __init__(
        self,
        encoder: nn.Module,
        views: Callable[[Tensor], tuple[Tensor, Tensor]],
        layer: str,
        channels: int,
        image_size: int,
        proj_hidden: int = 512,
        proj_dim: int = 128,
        queue_size: int = 4096,
        temperature: float = 0.2,
        momentum: float = 0.99,
        bn_splits: int = 2,
        gather_negatives: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.views = views
        self.moco = MoCoBranch(
            encoder,
            layer=layer,
            in_dim=feature_dim(encoder, layer, channels, image_size),
            proj_hidden=proj_hidden,
            proj_dim=proj_dim,
            queue_size=queue_size,
            temperature=temperature,
            momentum=momentum,
            bn_splits=bn_splits,
            gather_negatives=gather_negatives,
        )

    def forward(self, batch: Batch) -> LossDict:
        v1, v2 = self.views(batch[0])  # (B, C, H, W) each
        mi, pos = self.moco.step(self.encoder, v1, v2)
        return {"loss": -mi, "mi/infonce": mi.detach(), "moco/pos_similarity": pos}

    def on_after_optimizer_step(self) -> None:
        self.moco.momentum_step(self.encoder)


def check_train(cfg: Config, train_cfg: TrainConfig) -> None:
    """Checks of MoCo settings against the engine's (``infomax.engine.fit.check_settings`` calls this
    before the run starts): the queue size must be a multiple of the keys enqueued per step, the
    (per-process) batch size, times the number of processes when their keys are gathered."""
    per_step = train_cfg.batch_size * (train_cfg.devices if cfg.gather_negatives else 1)
    check_queue_size(cfg.queue_size, per_step)


def make_encoder(cfg: Config, info: DataInfo) -> nn.Module:
    """The query encoder named by ``cfg.encoder``."""
    mean: Sequence[float] = tuple(info.mean)
    std: Sequence[float] = tuple(info.std)
    if cfg.encoder == "dim":
        return DIMConvEncoder(info.channels, info.image_size, y_dim=cfg.y_dim, mean=mean, std=std)
    return NVAEEncoder(info.channels, info.image_size, latent_channels=cfg.latent_channels,
                       y_channels=cfg.y_channels, hidden=cfg.hidden, mean=mean, std=std)


def build(cfg: Config, info: DataInfo) -> MoCo:
    """A :class:`MoCo` for data described by ``info`` (channels, image_size, mean, std)."""
    cfg.validate()
    encoder = make_encoder(cfg, info)
    views = two_views(info.image_size) if cfg.augment else (lambda x: (x, x))
    return MoCo(
        encoder,
        views,
        layer=cfg.layer or DEFAULT_LAYER[cfg.encoder],
        channels=info.channels,
        image_size=info.image_size,
        proj_hidden=cfg.proj_hidden,
        proj_dim=cfg.proj_dim,
        queue_size=cfg.queue_size,
        temperature=cfg.temperature,
        momentum=cfg.momentum,
        bn_splits=cfg.bn_splits,
        gather_negatives=cfg.gather_negatives,
    )


PRESETS: dict[str, Preset] = {
    "moco": Preset(description="MoCo v2 on DIM's conv encoder (queue 4096, tau 0.2, m 0.99)", method="moco"),
    "moco-nvae": Preset(description="MoCo v2 on the NVAE-style encoder's y (the hybrid's alpha=0 alone)",
                        method="moco", overrides={"encoder": "nvae"}),
}
