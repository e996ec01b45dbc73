"""ProtoNet: a continuous embedding trained with the prototypical loss, the metric baseline of DIMCO.

Snell et al., "Prototypical Networks for Few-shot Learning" (NeurIPS 2017). Every batch is read as an
episode: in each class with more than ``n_support`` items in the batch, the first ``n_support`` items (in
batch order) are the support set, whose mean embedding is the class prototype, and the others are
queries, classified by softmax over the negative squared Euclidean distances to the prototypes of the
batch's classes; the loss is their cross-entropy. Classes with too few items are skipped (a batch with
fewer than two usable classes gives a zero loss), so the method wants class-balanced batches
(``--set sampler=balanced batch_classes=P``, as the ``protonet-omniglot`` preset sets).
``holdout_classes`` keeps labels out of training exactly as DIMCO's option does (their items never enter
the loss; the balanced sampler never draws them), for retrieval / few-shot on unseen classes of
Fashion-MNIST or CIFAR-10 (``--set holdout_classes=5,6,7,8,9``; ``benchmarks/dimco/compare.py``).
``shift`` translates training images by up to S pixels, as DIMCO's option of the same name
(:mod:`infomax.methods.shift`).

The encoder is the backbone alone (``dim_conv`` by default); its ``embed_layer`` feature is the
embedding, so ``infomax eval RUN --protocol fewshot`` and ``benchmarks/dimco/quality.py`` read the same
network DIMCO trains a code head on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.config import MethodConfig, Preset, choice
from infomax.encoders import ENCODERS
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.methods.holdout import check_holdout, drop_held_out
from infomax.methods.shift import check_shift, shift_view
from infomax.types import Batch, LossDict

BROADCAST_MAX_DIM = 256


def squared_distances(q: Tensor, p: Tensor) -> Tensor:
    """Squared Euclidean distances (Q, C) between rows of ``q`` (Q, D) and ``p`` (C, D).

    Up to ``BROADCAST_MAX_DIM`` dimensions the differences are formed explicitly (exact; ProtoNet's 64-d
    embedding); wider features use ``|q|^2 + |p|^2 - 2 q p^T`` (clamped at 0), which needs O(QC) memory
    instead of the (Q, C, D) difference tensor: on DIMCO's 1024-d ``fc`` feature (192 queries, 64 classes)
    the explicit form took about 0.4 s per step, as long as the rest of the step.

    Example:
        >>> squared_distances(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
        tensor([[25.,  1.]])
    """
    if q.shape[1] <= BROADCAST_MAX_DIM:
        return ((q[:, None, :] - p[None]) ** 2).sum(-1)
    return ((q * q).sum(1, keepdim=True) + (p * p).sum(1)[None] - 2.0 * q @ p.T).clamp_min(0.0)


def prototypical_loss(z: Tensor, labels: Tensor, n_support: int) -> tuple[Tensor, Tensor, int]:
    """The prototypical loss of embeddings ``z`` (B, D) with ``labels`` (B,) read as one episode.

    Returns ``(loss, accuracy, classes)``: the mean cross-entropy of the queries against the prototypes,
    their accuracy, and the number of classes used (0: no usable class pair; the loss is then 0 with a
    gradient path to ``z``).

    Example:
        >>> z = torch.tensor([[0.0], [0.0], [4.0], [4.0]])
        >>> loss, acc, c = prototypical_loss(z, torch.tensor([0, 0, 1, 1]), n_support=1)
        >>> round(float(loss), 6), float(acc), c  # log(1 + exp(-16))
        (0.0, 1.0, 2)
    """
    same = labels[:, None] == labels[None, :]  # (B, B)
    before = torch.ones_like(same).tril(-1)  # (B, B): j < i
    rank = (same & before).sum(1)  # (B,) earlier items of the item's class
    count = same.sum(1)  # (B,)
    usable = (labels >= 0) & (count > n_support)  # (B,)
    classes, cls = torch.unique(labels[usable], return_inverse=True)  # (C,), (U,)
    if len(classes) < 2:
        zero = z.sum() * 0.0
        return zero, zero.detach(), 0
    zu, ru = z[usable], rank[usable]  # (U, D), (U,)
    support, query = ru < n_support, ru >= n_support
    protos = torch.zeros(len(classes), z.shape[1], dtype=z.dtype, device=z.device)
    protos = protos.index_add(0, cls[support], zu[support]) / n_support  # (C, D)
    logits = -squared_distances(zu[query], protos)  # (Q, C)
    loss = F.cross_entropy(logits, cls[query])
    acc = (logits.argmax(1) == cls[query]).float().mean()
    return loss, acc.detach(), len(classes)


class ProtoNet(MethodBase):
    """An encoder trained with :func:`prototypical_loss` on its ``embed_layer`` feature (flattened).

    Args:
        encoder: an encoder returning named features (``layers``, ``output_layer``).
        embed_layer: the feature that is the embedding.
        n_support: support items per class and batch (the rest of the class's items are queries).
        holdout_classes: labels never trained on (their items are left out of the loss; stored as the
            ``holdout`` buffer that ``unseen_test_items`` reads).
        augment: applied to the images of every training batch (after held-out classes are dropped), e.g.
            :func:`~infomax.methods.shift.shift_view`; None: the images as they are.
    """

    def __init__(self, encoder: nn.Module, embed_layer: str, n_support: int = 1,
                 holdout_classes: tuple[int, ...] = (), augment: nn.Module | None = None) -> None:
        super().__init__()
        if n_support < 1:
            raise UserError(f"n_support must be >= 1, got {n_support}")
        self.encoder, self.embed_layer, self.n_support = encoder, embed_layer, int(n_support)
        self.augment = augment
        # a buffer only when labels are held out, so runs trained without the option keep loading
        if holdout_classes:
            self.register_buffer("holdout", torch.tensor(sorted(set(holdout_classes)), dtype=torch.int64))
        else:
            self.holdout = None

    def forward(self, batch: Batch) -> LossDict:
        x, labels = batch
        x, labels = drop_held_out(x, labels, self.holdout)
        if labels.numel() == 0:  # every item was held out
            zero = sum((p.sum() for p in self.encoder.parameters()), x.new_zeros(())) * 0.0
            return {"loss": zero, "accuracy": zero.detach(), "classes": torch.tensor(0.0)}
        if self.augment is not None and self.training:
            x = self.augment(x)
        z = self.encoder(x)[self.embed_layer].flatten(1)  # (B, D)
        loss, acc, classes = prototypical_loss(z, labels, self.n_support)
        return {"loss": loss, "accuracy": acc, "classes": torch.tensor(float(classes))}


def _layers(cfg: Config) -> tuple[str, ...] | None:
    enc = ENCODERS.get(cfg.encoder)
    return None if enc is None else tuple(enc.layers)


@dataclass
class Config(MethodConfig):
    """Options of ProtoNet.

    Attributes:
        encoder: backbone architecture, a key of ``infomax.encoders.ENCODERS``.
        y_dim: width of the backbone's output representation.
        embed_layer: the backbone feature used as the embedding ("y": the y_dim-wide output; "fc").
        n_support: support items per class in a batch; the other items of the class are queries (a
            class-balanced batch of K items per class needs K > n_support).
        holdout_classes: labels never trained on (for retrieval / few-shot on unseen classes of CIFAR-10
            etc., as DIMCO's option of the same name).
        shift: translate every training image by up to ``shift`` pixels on each axis (random per image,
            border pixels replicated; :mod:`infomax.methods.shift`); 0: the images as they are.
    """

    encoder: str = choice("dim_conv", ENCODERS)
    y_dim: int = 64
    embed_layer: str = choice("y", _layers)
    n_support: int = 1
    holdout_classes: tuple[int, ...] = ()
    shift: int = 0

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (names: see :meth:`MethodConfig.validate`)."""
        if self.y_dim < 1 or self.n_support < 1:
            raise UserError(f"y_dim and n_support must be >= 1, got {self.y_dim} and {self.n_support}")
        check_shift(self.shift)


def check_train(cfg: Config, train_cfg: object) -> None:
    """With class-balanced batches, each class's K items must leave at least one query."""
    if getattr(train_cfg, "sampler", "random") == "balanced":
        k = train_cfg.batch_size // train_cfg.batch_classes
        if k <= cfg.n_support:
            raise UserError(f"protonet: n_support ({cfg.n_support}) must be below the items per class of a "
                            f"balanced batch (batch_size/batch_classes = {k}), to leave queries")


def build(cfg: Config, info: object) -> ProtoNet:
    """ProtoNet for data described by ``info`` (a ``DataInfo``); UserError on unlabelled data."""
    cfg.validate()
    if getattr(info, "num_classes", 0) < 2:
        raise UserError(f"ProtoNet is supervised, but dataset {getattr(info, 'name', '')!r} has fewer than 2 "
                        "labelled classes")
    encoder = ENCODERS[cfg.encoder](in_channels=info.channels, image_size=info.image_size, y_dim=cfg.y_dim,
                                    mean=info.mean, std=info.std)
    check_holdout(tuple(cfg.holdout_classes), getattr(info, "num_classes", None), "ProtoNet")
    return ProtoNet(encoder, embed_layer=cfg.embed_layer, n_support=cfg.n_support,
                    holdout_classes=tuple(cfg.holdout_classes),
                    augment=shift_view(info.image_size, cfg.shift))


PRESETS: dict[str, Preset] = {
    "protonet-digits": Preset(
        description="ProtoNet on the bundled digits, batches of 5 classes x 8 items (a quick check)",
        method="protonet",
        overrides={"data": "digits", "batch_size": 40, "max_epochs": 10, "sampler": "balanced",
                   "batch_classes": 5, "n_support": 1},
    ),
    "protonet-omniglot": Preset(
        description="ProtoNet (prototypical loss, 1 support + 7 queries per class) on Omniglot background "
                    "with the dimco-omniglot encoder, batches of 32 classes x 8 items, training images "
                    "shifted by up to 2 pixels as dimco-omniglot's; few-shot on evaluation",
        method="protonet",
        overrides={"data": "omniglot", "batch_size": 256, "max_epochs": 30, "sampler": "balanced",
                   "batch_classes": 32, "n_support": 1, "shift": 2},
    ),
}
