"""AMDIM: Augmented Multiscale Deep InfoMax.

Bachman, Hjelm, Buchwalter, "Learning Representations by Maximizing Mutual Information Across Views",
NeurIPS 2019 (summarised in the project's source document 004). Each image gives two independently
augmented views x1, x2 (flip, random resized crop, colour jitter, random grayscale); the
:class:`~infomax.encoders.amdim.AMDIMEncoder` maps both (one batch of 2B) to a global ``f1`` and local
``f5`` (5x5) and ``f7`` (7x7) embeddings. The minimised loss is, for each scale pair in
``1-7, 1-5, 5-5`` (``multiscale=False``: 1-7 only) and both directions (x1->x2, x2->x1, averaged):

    - mean over positives of s_nce  +  l2_weight * mean(raw scores^2)

with the stabilized score ``c * tanh(<a, b> / sqrt(n_rkhs) / c)`` (:class:`~infomax.critics.StabilizedScore`;
``stabilize=False``: raw scores, no penalty) and ``s_nce`` the NCE log-softmax of each positive against all
locations of the other images, the negatives' log-sum-exp shared per row (:mod:`.amdim_nce`). The 5-5 source
is one random 5x5 location of x1 per image (as the authors' code), the targets all 25 of x2. With
``n_mix > 1`` the global sources of 1-7 and 1-5 are mixture components weighted by their posterior
``q = softmax_j(mix_tau * s_nce)``, and the entropy bonus ``mix_alpha * H(q)`` joins the maximised objective
(it is subtracted from the loss; eq. 6, :mod:`.amdim_mixture`). Online linear and MLP probes train on
detached ``f1`` of x1 (:mod:`.probe_heads`).

Logged: ``mi/infonce`` (the 1-7 infoNCE in nats, both directions averaged: mean s_nce + log(1 + (B-1) L)),
``nce/1-7``, ``nce/1-5``, ``nce/5-5`` (the same per term), ``reg/score_l2`` (the penalties),
``mix/entropy`` (with n_mix > 1), ``probe/linear_acc`` and ``probe/mlp_acc``.

CPU-sane defaults: ndf 32, n_rkhs 256, depth 1 (the paper's large CIFAR model, ndf 256, n_rkhs 2048, depth
10, batch 480, Adam 2e-4, is the ``amdim-large`` preset; every AMDIM preset sets the paper's Adam betas
(0.8, 0.999) through ``adam_beta1``/``adam_beta2``).

Example:
    >>> from types import SimpleNamespace
    >>> info = SimpleNamespace(channels=3, image_size=32, num_classes=10, mean=(0.5,) * 3, std=(0.5,) * 3)
    >>> method = build(Config(ndf=8, n_rkhs=16), info)
    >>> out = method((torch.rand(4, 3, 32, 32), torch.arange(4)))
    >>> sorted(k for k in out if k.startswith("nce/"))
    ['nce/1-5', 'nce/1-7', 'nce/5-5']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from infomax.config import MethodConfig, Preset
from infomax.critics.stabilized import StabilizedScore
from infomax.data.views import (
    ColorJitter,
    Compose,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    TwoViews,
    amdim_augment,
)
from infomax.encoders.amdim import AMDIMEncoder, amdim_map_sizes
from infomax.engine.distributed import gather_candidates, gather_world
from infomax.errors import UserError
from infomax.methods.amdim_mixture import MixtureHead, mixture_objective
from infomax.methods.amdim_nce import nce_scores
from infomax.methods.base import MethodBase
from infomax.methods.probe_heads import OnlineProbes
from infomax.types import Batch, LossDict

if TYPE_CHECKING:  # pragma: no cover
    from infomax.data.datasets import DataInfo


def strong_augment(size: int) -> Compose:
    """A stronger policy than :func:`~infomax.data.views.amdim_augment` (a stand-in for the paper's Fast
    AutoAugment, which is not reproduced): flip, random resized crop (scale 0.2-1, ratio 0.7-1.4), colour
    jitter (0.6, 0.6, 0.6, 0.2, p=0.8), random grayscale (p=0.25) and Gaussian blur (3x3, sigma 0.1-1.5,
    p=0.5)."""
    return Compose([
        RandomHorizontalFlip(0.5),
        RandomResizedCrop(size, scale=(0.2, 1.0), ratio=(0.7, 1.4)),
        ColorJitter(0.6, 0.6, 0.6, 0.2, p=0.8),
        RandomGrayscale(0.25),
        GaussianBlur(3, (0.1, 1.5), p=0.5),
    ])  # fmt: skip


@dataclass
class Config(MethodConfig):
    """AMDIM options (CPU-sane defaults; the paper's large model is the ``amdim-large`` preset).

    Attributes:
        ndf: Encoder base width (paper, large CIFAR model: 256).
        n_rkhs: Embedding size of the scored features (paper: 2048).
        depth: Layers per residual block (paper: 10).
        use_bn: Batch norm inside the encoder's residual layers.
        stabilize: Use the stabilized score (tanh clip + L2 penalty); False: raw scaled dot products.
        clip: Soft-clip level c of the stabilized score.
        l2_weight: Weight of the L2 penalty on the raw scores (doc 004: 4e-2; authors' code: 5e-2).
        multiscale: Train 1-7, 1-5 and 5-5; False: 1-7 only.
        random_crop, color_jitter, random_gray: Steps of the augmentation (ablations switch one off).
        translate: The authors' CIFAR step instead of the resized crop: a translation by up to
            ``image_size // 8`` reflect-padded pixels, p = 0.8 (:func:`~infomax.data.views.amdim_augment`).
        strong_augment: Use :func:`strong_augment` instead (the flags above are then ignored).
        n_mix: Mixture components of the global feature (1: no mixture).
        mix_tau: The paper's tau in ``q = softmax_j(tau * s_nce)``: it multiplies the scores, so it is an
            inverse temperature (larger = sharper q), not ``softmax(s / tau)``. For fixed scores the q that
            maximises eq. 6 is ``softmax(s_nce / mix_alpha)``, i.e. ``mix_tau = 1 / mix_alpha``.
        mix_alpha: Weight of the posterior's entropy bonus ``alpha * H(q)`` (maximised with the NCE, so it
            lowers the minimised loss; doc 004: "the entropy maximization term").
        mix_hidden: Hidden width of the mixture MLP (0: n_rkhs).
        online_probes: Train online linear + MLP probes on detached f1 (needs labels).
        probe_hidden: Hidden width of the online MLP probe.
        gather_negatives: Under multi-process (DDP) training, contrast each source with the target maps of
            every process's images (the full batch's negatives); a no-op in one process.
    """

    ndf: int = 32
    n_rkhs: int = 256
    depth: int = 1
    use_bn: bool = False
    stabilize: bool = True
    clip: float = 20.0
    l2_weight: float = 4e-2
    multiscale: bool = True
    random_crop: bool = True
    color_jitter: bool = True
    random_gray: bool = True
    translate: bool = False
    strong_augment: bool = False
    n_mix: int = 1
    mix_tau: float = 1.0
    mix_alpha: float = 0.1
    mix_hidden: int = 0
    online_probes: bool = True
    probe_hidden: int = 256
    gather_negatives: bool = True

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (see :meth:`MethodConfig.validate`)."""
        for name in ("ndf", "n_rkhs", "depth", "n_mix", "probe_hidden"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mix_hidden < 0:
            raise UserError(f"mix_hidden must be >= 0, got {self.mix_hidden}")
        if not self.clip > 0:
            raise UserError(f"clip must be > 0, got {self.clip}")
        if self.l2_weight < 0 or self.mix_alpha < 0 or not self.mix_tau > 0:
            raise UserError("l2_weight and mix_alpha must be >= 0 and mix_tau > 0")


class AMDIM(MethodBase):
    """AMDIM on an :class:`~infomax.encoders.amdim.AMDIMEncoder`; see the module docstring for the loss.

    ``forward((x, labels))`` with x (B, C, H, W) in [0, 1] (B >= 2) returns ``{"loss", "mi/infonce",
    "nce/<pair>", "reg/score_l2", ...}`` and, with online probes, ``"loss/probe"`` (group ``"probe"``).

    Multi-process training (``gather_negatives``, on by default): each target map's location embeddings are
    gathered from all W processes (:func:`~infomax.engine.distributed.gather_with_grad`), and each process's
    B sources are contrasted with the W * B images' locations, its own positives at image offset
    ``rank * B``; the NCE terms and the score penalty are means over the process's own sources, so with
    DDP's gradient averaging the gradients are those of one process on the full batch. The logged
    ``mi/infonce`` then counts the W * B - 1 other images. In one process nothing changes.

    Args:
        in_channels, image_size, mean, std: The data (image_size 32..35).
        num_classes: Classes for the online probes (< 2: no probes).
        views: Maps x (B, C, H, W) to two augmented views; None = ``TwoViews(amdim_augment(image_size))``.
        ndf, n_rkhs, depth, use_bn, stabilize, clip, l2_weight, multiscale, n_mix, mix_tau, mix_alpha,
        mix_hidden, online_probes, probe_hidden, gather_negatives: As in :class:`Config`.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        num_classes: int = 0,
        views: nn.Module | None = None,
        ndf: int = 32,
        n_rkhs: int = 256,
        depth: int = 1,
        use_bn: bool = False,
        stabilize: bool = True,
        clip: float = 20.0,
        l2_weight: float = 4e-2,
        multiscale: bool = True,
        n_mix: int = 1,
        mix_tau: float = 1.0,
        mix_alpha: float = 0.1,
        mix_hidden: int = 0,
        online_probes: bool = True,
        probe_hidden: int = 256,
        gather_negatives: bool = True,
    ) -> None:
        super().__init__()
        amdim_map_sizes(image_size)  # UserError for sizes without 7x7 / 5x5 / 1x1 maps
        self.encoder = AMDIMEncoder(
            in_channels, image_size, ndf=ndf, n_rkhs=n_rkhs, depth=depth, use_bn=use_bn, mean=mean, std=std
        )
        self.views = views if views is not None else TwoViews(amdim_augment(image_size))
        self.score = (
            StabilizedScore(dim=n_rkhs, clip=clip, l2_weight=l2_weight)
            if stabilize
            else StabilizedScore(dim=n_rkhs, clip=None, l2_weight=0.0)
        )
        self.mixture = MixtureHead(dim=n_rkhs, n_mix=n_mix, hidden=mix_hidden or n_rkhs)
        self.mix_tau, self.mix_alpha = float(mix_tau), float(mix_alpha)
        self.multiscale = multiscale
        self.gather_negatives = gather_negatives
        use_probes = online_probes and num_classes >= 2
        self.probes = (
            OnlineProbes(in_dim=n_rkhs, num_classes=num_classes, hidden=probe_hidden) if use_probes else None
        )

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"main": encoder + mixture head, "probe": the online probes}``."""
        probe_ids = {id(p) for p in self.probes.parameters()} if self.probes is not None else set()
        groups = {"main": [p for p in self.parameters() if p.requires_grad and id(p) not in probe_ids]}
        if self.probes is not None:
            groups["probe"] = list(self.probes.parameters())
        return groups

    def g2l(self, src: Tensor, trg: Tensor, mixture: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One direction of one scale pair.

        Args:
            src: Sources (B, D), one per image.
            trg: Target maps (B, D, h, w); image i's locations are its source's positives.
            mixture: Pass the sources through the mixture head (global sources).

        With ``gather_negatives`` under multi-process training the sources are contrasted with the targets
        of every process's images (see the class docstring).

        Returns:
            (objective to maximise: mean [sum_k q s_nce + alpha H(q)], score penalty, mean entropy of q,
            the infoNCE estimate in nats: mean_k-weighted s_nce + log(1 + (B - 1) L)), all scalars.
        """
        b, d = trg.shape[:2]
        n_loc = trg.shape[2] * trg.shape[3]
        comps = self.mixture(src) if mixture else src[:, None, :]  # (B, K, D)
        k = comps.shape[1]
        rows = trg.flatten(2).transpose(1, 2).reshape(b * n_loc, d)  # (B*L, D), image-major
        offset, world = 0, gather_world(self.gather_negatives)
        if world > 1:  # every process's target locations (W*B*L, D); own images from offset on
            rows, offset = gather_candidates(rows)
            offset //= n_loc
        scores, penalty = self.score.score_and_penalty(comps.reshape(b * k, d), rows)  # (B*K, B*L)
        if world == 1:
            s_nce = nce_scores(scores.view(b, k, b, n_loc))  # (B, K, L)
        else:
            s_nce = nce_scores(scores.view(b, k, world * b, n_loc), offset)  # (B, K, L)
        objective, entropy = mixture_objective(s_nce, self.mix_tau, self.mix_alpha)
        with torch.no_grad():
            weighted = objective - self.mix_alpha * entropy  # mean sum_k q s_nce
            mi = weighted + math.log(1 + (world * b - 1) * n_loc)
        return objective, penalty, entropy, mi

    def source_locations(self, b: int, device: torch.device) -> Tensor:
        """(2, B) random 5x5-map locations (0..24), the 5-5 source of each image in each view."""
        return torch.randint(0, 25, (2, b), device=device)

    def forward(self, batch: Batch) -> LossDict:
        x, labels = batch
        b = x.shape[0]
        if b < 2:
            raise UserError("AMDIM needs batches of at least 2 images (negatives come from other images)")
        x1, x2 = self.views(x)
        feats = self.encoder(torch.cat([x1, x2]))  # one pass over both views (2B images)
        f1, f5, f7 = feats["f1"].split(b), feats["f5"].split(b), feats["f7"].split(b)
        # (name, source x1, target x2, source x2, target x1, through the mixture head)
        pairs: list[tuple[str, Tensor, Tensor, Tensor, Tensor, bool]] = [
            ("1-7", f1[0], f7[1], f1[1], f7[0], True)
        ]
        if self.multiscale:
            loc = self.source_locations(b, x.device)  # (2, B)
            rows = torch.arange(b, device=x.device)
            src5 = [f5[v].flatten(2)[rows, :, loc[v]] for v in (0, 1)]  # 2 x (B, D)
            pairs.append(("1-5", f1[0], f5[1], f1[1], f5[0], True))
            pairs.append(("5-5", src5[0], f5[1], src5[1], f5[0], False))
        out: LossDict = {}
        loss = x.new_zeros(())
        reg = x.new_zeros(())
        entropies = []
        for name, src_a, trg_b, src_b, trg_a, mix in pairs:
            obj_ab, pen_ab, ent_ab, mi_ab = self.g2l(src_a, trg_b, mix)
            obj_ba, pen_ba, ent_ba, mi_ba = self.g2l(src_b, trg_a, mix)
            loss = loss - 0.5 * (obj_ab + obj_ba)
            reg = reg + 0.5 * (pen_ab + pen_ba)
            out[f"nce/{name}"] = 0.5 * (mi_ab + mi_ba)
            if mix and self.mixture.n_mix > 1:
                entropies.append(0.5 * (ent_ab + ent_ba).detach())
        out["loss"] = loss + reg
        out["mi/infonce"] = out["nce/1-7"]
        out["reg/score_l2"] = reg.detach()
        if entropies:
            out["mix/entropy"] = torch.stack(entropies).mean()
        if self.probes is not None:
            probe_loss, accs = self.probes(f1[0], labels)
            out["loss/probe"] = probe_loss
            out.update(accs)
        return out


def build_views(cfg: Config, image_size: int) -> TwoViews:
    """The two views of ``image_size`` images selected by ``cfg``: AMDIM's policy, an ablation of it, or the
    strong one (argument order as :func:`infomax.methods.dim.build_views`: the selection, then the size)."""
    if cfg.strong_augment:
        return TwoViews(strong_augment(image_size))
    return TwoViews(
        amdim_augment(image_size, cfg.random_crop, cfg.color_jitter, cfg.random_gray, translate=cfg.translate)
    )


def build(cfg: Config, info: DataInfo) -> AMDIM:
    """An :class:`AMDIM` for data described by ``info`` (channels, image_size 32..35, classes, mean, std)."""
    cfg.validate()
    return AMDIM(
        in_channels=info.channels,
        image_size=info.image_size,
        mean=tuple(info.mean),
        std=tuple(info.std),
        num_classes=int(getattr(info, "num_classes", 0) or 0),
        views=build_views(cfg, info.image_size),
        ndf=cfg.ndf,
        n_rkhs=cfg.n_rkhs,
        depth=cfg.depth,
        use_bn=cfg.use_bn,
        stabilize=cfg.stabilize,
        clip=cfg.clip,
        l2_weight=cfg.l2_weight,
        multiscale=cfg.multiscale,
        n_mix=cfg.n_mix,
        mix_tau=cfg.mix_tau,
        mix_alpha=cfg.mix_alpha,
        mix_hidden=cfg.mix_hidden,
        online_probes=cfg.online_probes,
        probe_hidden=cfg.probe_hidden,
        gather_negatives=cfg.gather_negatives,
    )


def _p(description: str, **overrides: Any) -> Preset:
    overrides = {"data": "cifar10", "lr": 2e-4, "adam_beta1": 0.8, "adam_beta2": 0.999, **overrides}
    return Preset(description=description, method="amdim", overrides=overrides)


PRESETS: dict[str, Preset] = {
    "amdim": _p("AMDIM on CIFAR-10, CPU-sized (ndf 32, n_rkhs 256, depth 1), 1-7/1-5/5-5, stabilized"),
    "amdim-large": _p(
        "AMDIM, the paper's large CIFAR model: ndf 256, n_rkhs 2048, depth 10, batch 480, 300 epochs (GPU)",
        ndf=256,
        n_rkhs=2048,
        depth=10,
        batch_size=480,
        max_epochs=300,
        accelerator="auto",
    ),
    "amdim-mixture": _p("AMDIM with 4 mixture components of f1 (eq. 6; tau 1, alpha 0.1)", n_mix=4),
    "amdim-no-jitter": _p("AMDIM ablation: no colour jitter", color_jitter=False),
    "amdim-no-gray": _p("AMDIM ablation: no random grayscale", random_gray=False),
    "amdim-no-crop": _p("AMDIM ablation: no random resized crop", random_crop=False),
    "amdim-translate": _p(
        "AMDIM with the authors' CIFAR views: a translation of up to 4 pixels instead of the resized crop",
        translate=True,
    ),
    "amdim-single-scale": _p("AMDIM ablation: 1-7 only (no multiscale)", multiscale=False),
    "amdim-no-stabilize": _p("AMDIM ablation: raw scores, no tanh clip or L2 penalty", stabilize=False),
    "amdim-strong-aug": _p("AMDIM with a stronger augmentation policy (+blur, stronger jitter/crop)",
                           strong_augment=True),
}
