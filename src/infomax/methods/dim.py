"""Deep InfoMax: global and local MI maximization, prior matching, occlusion, coordinates.

Hjelm et al., "Learning deep representations by mutual information estimation and maximization",
ICLR 2019. The complete objective (eq. 8) minimised here is

    loss = -alpha * I_global - beta * I_local + gamma * prior_adv + coord_weight * coord_CE

where ``I_global`` scores (Y, last conv map) pairs, ``I_local`` scores Y against every location of the
local (next-to-last conv) map, each with the chosen bound (``infonce``, ``jsd`` or ``dv`` from
:mod:`infomax.bounds`; negatives are all other images' features, JSD excludes the positives).
The paper's DIM(G) is (alpha, beta, gamma) = (1, 0, 1) and DIM(L) (0, 1, 0.1): the presets ``dim-g`` and
``dim-l``; ``dim-g-noprior`` / ``dim-l-noprior`` drop the prior term (gamma = 0), as do the bare method's
defaults (``infomax train dim``) and the other ``dim-l-*`` variants.

CPU-sane defaults (the paper's settings are options): the encode-and-dot local head uses
``embed_dim=128`` instead of the paper's 2048. Measured on a shared 2-core CPU, one thread, batch 64 of
32x32 images, relative to the bare encoder's forward + backward: 2048 costs +1300% or more (the
head's 2048x2048 per-location layer alone is ~12x the encoder's flops), 256 costs +55-70%, 128 costs
+22-37% (the head's flops per location are 256*E + E^2 multiply-adds against ~340k for the encoder);
on a quiet 2-core CPU, 128 costs +24% (1 thread) / +28% (2 threads): ``benchmarks/dim/README.md`` section 1.
The engine's default learning rate is used (the paper: Adam 1e-4, batch 64: the ``dim-l-paper``
preset).

Views (``views``, :func:`build_views`): by default Y and the local map come from the raw image, as in the
paper's CIFAR-10 runs. ``crop-flip`` trains on one randomly translated and flipped copy (the paper's STL-10
pretraining). ``cross`` draws two copies with AMDIM's augmentation and scores each copy's Y against the
other copy's local map (Bachman et al., 2019, "Learning representations by maximizing mutual information
across views"), so the local features must predict a differently cropped and coloured view; it costs two
encoder passes per image (the ``dim-l-cross`` preset).

Example:
    >>> from types import SimpleNamespace
    >>> info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,))
    >>> method = build(Config(), info)
    >>> out = method((torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)))
    >>> sorted(k for k in out if k.startswith("mi/"))[:1]
    ['mi/dv']
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from infomax.bounds import dv, infonce, jsd
from infomax.config import MethodConfig, Preset, choice
from infomax.critics.stabilized import soft_clip
from infomax.data.views import (
    Compose,
    RandomHorizontalFlip,
    TwoViews,
    amdim_augment,
    amdim_cifar_augment,
    random_translate,
    simclr_augment,
)
from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.engine.distributed import (
    ROW_MEAN_BOUNDS,
    gather_candidates,
    gather_rows,
    gather_world,
    shard_pos_mask,
)
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.methods.dim_coords import AbsoluteCoordPredictor, RelativeCoordPredictor
from infomax.methods.dim_heads import (
    ConcatConvLocalHead,
    EncodeDotLocalHead,
    GlobalMLPDiscriminator,
    local_pos_mask,
)
from infomax.methods.dim_multi import random_block_masks
from infomax.methods.dim_occlusion import Occluder
from infomax.methods.dim_prior import PRIORS, PriorMatching
from infomax.types import Batch, LossDict

if TYPE_CHECKING:  # pragma: no cover
    from infomax.data.datasets import DataInfo

#: Bounds a DIM objective can be trained with: name -> bound on a score matrix (nats).
DIM_BOUNDS = {"infonce": infonce, "jsd": jsd, "dv": dv}
LOCAL_ARCHS = ("dot", "concat")
COORD_TASKS = ("none", "absolute", "relative", "both")
#: What the encoder sees during training (see :func:`build_views`).
VIEWS = ("none", "crop-flip", "cross", "cross-crop-flip", "cross-cifar", "cross-simclr")


def crop_flip(image_size: int) -> Compose:
    """The paper's pretraining augmentation for STL-10 (random crops, horizontal flips), for any input size:
    :func:`~infomax.data.views.random_translate` (up to ``image_size // 8`` reflect-padded pixels) and a
    horizontal flip with probability 0.5."""
    return Compose([random_translate(image_size), RandomHorizontalFlip(0.5)])


def build_views(views: str, image_size: int, jitter_scale: float = 1.0) -> nn.Module | None:
    """The training views of a DIM model (None = the raw image).

    - ``none``: the raw image feeds Y and the local map (the paper's CIFAR-10 setting);
    - ``crop-flip``: one augmented copy (:func:`crop_flip`) feeds both (the paper's STL-10 pretraining);
    - ``cross``: two copies augmented independently with AMDIM's policy
      (:func:`~infomax.data.views.amdim_augment`); Y of each copy is scored against the local map of the other
      (Bachman et al., 2019: MI across views), both directions averaged;
    - ``cross-crop-flip``: as ``cross`` with :func:`crop_flip` views;
    - ``cross-cifar``: as ``cross`` with AMDIM's CIFAR policy
      (:func:`~infomax.data.views.amdim_cifar_augment`: translation, colour jitter, grayscale and flip; no
      resized crop);
    - ``cross-simclr``: as ``cross`` with SimCLR's CIFAR-10 policy
      (:func:`~infomax.data.views.simclr_augment`: resized crop down to 8% of the area, colour jitter of
      strength 0.5, grayscale, flip).

    ``jitter_scale`` multiplies the colour jitter of AMDIM's policies (``cross``, ``cross-cifar``; see
    :func:`~infomax.data.views.amdim_augment`); the other views take only 1.
    """
    if jitter_scale != 1.0 and views not in ("cross", "cross-cifar"):
        raise UserError(f"view_jitter applies to views cross and cross-cifar, not {views!r}")
    if views == "none":
        return None
    if views == "crop-flip":
        return crop_flip(image_size)
    if views == "cross":
        return TwoViews(amdim_augment(image_size, jitter_scale=jitter_scale))
    if views == "cross-crop-flip":
        return TwoViews(crop_flip(image_size))
    if views == "cross-cifar":
        return TwoViews(amdim_cifar_augment(image_size, jitter_scale=jitter_scale))
    if views == "cross-simclr":
        return TwoViews(simclr_augment(image_size))
    raise UserError(f"unknown views {views!r}; choose one of: {', '.join(VIEWS)}")


@dataclass
class Config(MethodConfig):
    """Deep InfoMax options (defaults: DIM(L) with infoNCE and the encode-and-dot head).

    Attributes:
        alpha: Weight of the global objective.
        beta: Weight of the local objective.
        gamma: Weight of the encoder's adversarial prior-matching term (0 = no prior discriminator).
        bound: MI bound trained: ``infonce``, ``jsd`` or ``dv``.
        local_arch: ``dot`` (encode-and-dot-product) or ``concat`` (concat-and-convolve).
        embed_dim: Encode-and-dot embedding width (paper: 2048).
        hidden: Hidden width of the global discriminator and the concat-and-convolve head (paper: 512;
            the B x B pairs of the global MLP make 512 cost ~2.5x the encoder's step on a CPU).
        y_dim: Width of the representation Y.
        n_negatives: Use only this many negatives per positive, sampled among (image, location) pairs
            (None: all combinations in the batch).
        negative_images: Use only this many other images per image as negatives, every location of each
            (DIM App. A.3 varies this number of images); None: every other image in the batch.
        prior: ``uniform`` ([0, 1]^y_dim after a sigmoid) or ``gaussian``.
        occlude: Compute Y for the MI terms from a randomly occluded input (local maps see the full one).
        occlude_max_fraction: Largest side of the extra random occluded rectangle (fraction of the image).
        coord: Coordinate prediction: ``none``, ``absolute``, ``relative`` or ``both``.
        coord_weight: Weight of the coordinate cross-entropies.
        coord_hidden: Width of the coordinate predictors' two hidden layers.
        n_globals: Extra less-global features, each from one random block of the local map.
        block_size: Side (in local locations) of those blocks; 0 = half the local map side.
        views: What the encoder sees in training: one of :data:`VIEWS` (see :func:`build_views`; the
            ``cross*`` views cost two encoder passes per image).
        view_jitter: Multiplier of the colour jitter of the ``cross`` / ``cross-cifar`` views (AMDIM's 0.4,
            0.4, 0.4, 0.2 for brightness, contrast, saturation, hue); in [0, 2.5], 1 as the authors.
        gather_negatives: Under multi-process (DDP) training, score each process's rows against the
            features of every process's images (the full batch's negatives); a no-op in one process.
        score_clip: Soft-clip every score s to ``c * tanh(s / c)`` before the bounds (AMDIM's stabilised
            critic, Bachman et al. 2019, section 3.3, without its L2 penalty; None: raw scores). Under
            ``precision=bf16-mixed`` the unclipped cross-view objective blew up on one CIFAR-10 seed
            (BENCHMARKS.md, "CPU execution modes") and drifted on the same seed with float32 scores
            alone; with c = 20 it trained. The clip reads the raw scores (AMDIM first divides by
            sqrt(D)): with ``embed_dim=512`` they start far beyond 20, tanh is flat, and training never
            started (loss 0 for 1,750 steps); ``score_scale`` is that division.
        score_scale: Multiply every score by this before the clip and the bounds (AMDIM's 1 / sqrt(D) for
            the dot-product critic, D = ``embed_dim``: 0.0884 at 128, 0.0442 at 512; 1.0: raw scores). With
            ``embed_dim=512, score_clip=20, score_scale=0.0442`` the 512-wide cross-view run trains (CIFAR-10,
            30 minutes, one seed: 73.0 on a validation split, level with 128 wide; BENCHMARKS.md).
        encoder_width: Channel multiplier of the encoder's convs (:class:`DIMConvEncoder` ``width``; 1: the
            paper's 64-128-256).
    """

    alpha: float = 0.0
    beta: float = 1.0
    gamma: float = 0.0
    bound: str = choice("infonce", DIM_BOUNDS)
    local_arch: str = choice("dot", LOCAL_ARCHS)
    embed_dim: int = 128
    hidden: int = 256
    y_dim: int = 64
    n_negatives: int | None = None
    negative_images: int | None = None
    prior: str = choice("uniform", PRIORS)
    occlude: bool = False
    occlude_max_fraction: float = 0.5
    coord: str = choice("none", COORD_TASKS)
    coord_weight: float = 1.0
    coord_hidden: int = 256
    n_globals: int = 0
    block_size: int = 0
    views: str = choice("none", VIEWS)
    view_jitter: float = 1.0
    gather_negatives: bool = True
    score_clip: float | None = None
    score_scale: float = 1.0
    encoder_width: int = 1

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (names: see :meth:`MethodConfig.validate`)."""
        for name in ("alpha", "beta", "gamma", "coord_weight"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.alpha == 0 and self.beta == 0:
            raise UserError("alpha and beta are both 0: no MI objective left to train")
        for name in ("embed_dim", "hidden", "y_dim", "coord_hidden", "encoder_width"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_negatives is not None and self.n_negatives < 1:
            raise UserError(f"n_negatives must be >= 1 (or none for all), got {self.n_negatives}")
        if self.negative_images is not None and self.negative_images < 1:
            raise UserError(f"negative_images must be >= 1 (or none for all), got {self.negative_images}")
        if self.n_globals < 0 or self.block_size < 0:
            raise UserError("n_globals and block_size must be >= 0")
        if self.n_globals > 0 and self.beta == 0:
            raise UserError("n_globals > 0 needs the local objective (beta > 0)")
        if not 0.0 <= self.occlude_max_fraction <= 1.0:
            raise UserError(f"occlude_max_fraction must be in [0, 1], got {self.occlude_max_fraction}")
        if self.score_clip is not None and not self.score_clip > 0:
            raise UserError(f"score_clip must be > 0 (or none for raw scores), got {self.score_clip}")
        if not self.score_scale > 0:
            raise UserError(f"score_scale must be > 0, got {self.score_scale}")
        if not 0.0 <= self.view_jitter <= 2.5:  # which views take it: build_views
            raise UserError(f"view_jitter must be in [0, 2.5], got {self.view_jitter}")


def restrict_negative_images(
    scores: Tensor, k: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Keep, for each row ``i`` of ``(B, B * L)`` scores (``[i, j * L + l] = T(y_i, image j at location
    l)``; L = 1 for global scores), the columns of image ``i`` (its positives) and of ``k`` other images
    drawn uniformly without replacement (all ``B - 1`` when the batch is smaller than ``k + 1``): every
    location of a kept image is a negative, as DIM's App. A.3 varies the number of negative images.

    Returns:
        ``(scores (B, (k + 1) * L), pos_mask (B, (k + 1) * L))``: the first L columns of a row are image
        ``i``'s (positives), then ``k * L`` negatives (k capped at B - 1).

    Example:
        >>> s, pos = restrict_negative_images(torch.arange(18.0).view(3, 6), 1)  # B = 3, L = 2
        >>> s.shape, pos[0].tolist(), s[1, :2].tolist()
        (torch.Size([3, 4]), [True, True, False, False], [8.0, 9.0])
    """
    b = scores.shape[0]
    if scores.shape[1] % b:
        raise UserError(f"scores of shape {tuple(scores.shape)} are not (B, B * L)")
    n_loc = scores.shape[1] // b
    if k < 1 or b < 2:
        raise UserError(f"negative_images={k} needs k >= 1 and a batch of at least 2 images, got {b}")
    k = min(k, b - 1)  # a batch smaller than k + 1 (e.g. the last one) keeps every other image
    keys = torch.rand(b, b, generator=generator, device=generator.device if generator else scores.device)
    keys = keys.to(scores.device).fill_diagonal_(2.0)  # never its own image as a negative
    others = keys.topk(k, dim=1, largest=False).indices  # (B, k)
    idx = torch.cat([torch.arange(b, device=scores.device)[:, None], others], 1)  # (B, k + 1)
    kept = scores.view(b, b, n_loc).gather(1, idx[:, :, None].expand(-1, -1, n_loc))  # (B, k + 1, L)
    pos = torch.zeros(b, (k + 1) * n_loc, dtype=torch.bool, device=scores.device)
    pos[:, :n_loc] = True
    return kept.reshape(b, (k + 1) * n_loc), pos


@contextlib.contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Inside this block, batch-norm layers still normalise with batch statistics (in training) but do
    not update their running statistics (momentum 0), so extra passes on occluded or masked inputs
    leave the encoder's evaluation statistics those of full inputs."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


class DIM(MethodBase):
    """Deep InfoMax on a :class:`~infomax.encoders.DIMConvEncoder`.

    ``forward((x, labels))`` with x (B, C, H, W) in [0, 1] returns a loss dict:

    - ``"loss"``: the encoder's (and MI heads') objective, see the module docstring;
    - ``"mi/<bound>"`` for every bound in ``infonce``, ``jsd``, ``dv`` (nats, detached) on the main MI
      term (local when beta > 0, else global); with both terms also ``"mi/global/<b>"`` and
      ``"mi/local/<b>"``;
    - with gamma > 0: ``"loss/prior"`` (the prior discriminator's loss, its own optimiser group
      ``"prior"``) and ``"prior/encoder"``; with coordinates: ``"coord/<task>"`` losses and
      ``"coord/<task>_acc"`` accuracies.

    With two views (``views="cross"``), the MI terms and their reports are the average of the two
    directions (Y of view 1 against the maps of view 2, and the reverse); the prior and the coordinate
    tasks read view 1 alone.

    Multi-process training (``gather_negatives``, on by default): the candidate side of every score matrix
    (the conv map of the global term, the local embeddings of the local one) is gathered from all W
    processes with :func:`~infomax.engine.distributed.gather_with_grad`, and each process scores its own B
    rows against the W * B images, positives at column offset ``rank * B``. infoNCE and JSD are then means
    over the process's own rows; DV is not, so with ``bound="dv"`` the (B, W * B [* L]) row blocks are
    gathered into the full matrix and every process computes the full-batch DV. With DDP's gradient
    averaging the gradients equal those of one process on the whole batch (batch norm aside: its
    statistics stay per process). The logged bounds other than the trained one are computed on the
    process's own rows. In one process nothing changes.

    Args:
        in_channels, image_size, mean, std: The data (see :class:`~infomax.encoders.DIMConvEncoder`).
        bound: The trained bound, a function of :data:`DIM_BOUNDS` (:func:`build` resolves ``Config.bound``).
        bound_name: Its name in the ``mi/<bound>`` reports (default: its key in :data:`DIM_BOUNDS`).
        views: The training views, e.g. from :func:`build_views` (None = the raw image).
        alpha, beta, gamma, ...: As in :class:`Config`.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        alpha: float = 0.0,
        beta: float = 1.0,
        gamma: float = 0.0,
        bound: Callable[..., Tensor] = infonce,
        bound_name: str | None = None,
        local_arch: str = "dot",
        embed_dim: int = 128,
        hidden: int = 256,
        y_dim: int = 64,
        n_negatives: int | None = None,
        negative_images: int | None = None,
        prior: str = "uniform",
        occlude: bool = False,
        occlude_max_fraction: float = 0.5,
        coord: str = "none",
        coord_weight: float = 1.0,
        coord_hidden: int = 256,
        n_globals: int = 0,
        block_size: int = 0,
        views: nn.Module | None = None,
        gather_negatives: bool = True,
        score_clip: float | None = None,
        score_scale: float = 1.0,
        encoder_width: int = 1,
    ) -> None:
        super().__init__()
        self.encoder = DIMConvEncoder(in_channels, image_size, y_dim=y_dim, mean=mean, std=std,
                                      width=encoder_width)
        enc = self.encoder
        s = enc.local_size
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.bound = bound
        self.bound_name = bound_name or next(k for k, fn in DIM_BOUNDS.items() if fn is bound)
        self.n_negatives = n_negatives
        self.negative_images = negative_images
        self.gather_negatives = gather_negatives
        self.score_clip = score_clip
        self.score_scale = float(score_scale)
        self.coord_weight = float(coord_weight)
        self.n_globals = n_globals
        self.block_size = block_size or max(1, s // 2)
        if n_globals > 0 and self.block_size > s:
            raise UserError(f"block_size {self.block_size} exceeds the {s}x{s} local map")
        if n_globals > 0 and self.block_size == s:
            raise UserError(f"block_size must be smaller than the {s}x{s} local map for less-global features")
        self.global_head = (
            GlobalMLPDiscriminator(y_dim=y_dim, conv_dim=enc.conv_channels * enc.conv_size**2, hidden=hidden)
            if alpha > 0
            else None
        )
        self.local_head: nn.Module | None = None
        if beta > 0:
            self.local_head = (
                EncodeDotLocalHead(local_channels=enc.local_channels, y_dim=y_dim, embed_dim=embed_dim)
                if local_arch == "dot"
                else ConcatConvLocalHead(local_channels=enc.local_channels, y_dim=y_dim, hidden=hidden)
            )
        self.prior = PriorMatching(y_dim=y_dim, prior=prior) if gamma > 0 else None
        self.views = views
        self.occluder = (
            Occluder(
                image_size,
                s,
                enc.local_rf_size,
                enc.local_rf_stride,
                enc.local_rf_start,
                max_fraction=occlude_max_fraction,
            )
            if occlude
            else None
        )
        if coord != "none" and s < 2:
            raise UserError(
                f"coordinate prediction needs a local map of side >= 2, got {s}x{s} ({image_size}px input)"
            )
        self.coord_abs = (
            AbsoluteCoordPredictor(
                y_dim=y_dim, local_channels=enc.local_channels, map_size=s, hidden=coord_hidden
            )
            if coord in ("absolute", "both")
            else None
        )
        self.coord_rel = (
            RelativeCoordPredictor(
                y_dim=y_dim, local_channels=enc.local_channels, map_size=s, hidden=coord_hidden
            )
            if coord in ("relative", "both")
            else None
        )

    # -- optimiser groups -------------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"main": encoder + MI heads + coordinate predictors, "prior": prior discriminator}``."""
        prior_ids = {id(p) for p in self.prior.parameters()} if self.prior is not None else set()
        groups = {"main": [p for p in self.parameters() if p.requires_grad and id(p) not in prior_ids]}
        if self.prior is not None:
            groups["prior"] = list(self.prior.parameters())
        return groups

    # -- pieces ------------------------------------------------------------------------------------
    def _bound_kwargs(self) -> dict[str, Any]:
        return {} if self.n_negatives is None else {"n_negatives": self.n_negatives}

    def _mi(self, scores: Tensor, pos_mask: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """(trained bound value, {bound name: detached value for every bound}).

        Under multi-process training with ``gather_negatives``, ``scores`` are this process's rows
        (B, W * B * L) against every process's candidates (L = 1: global), and ``pos_mask`` is replaced by
        the positives of those rows (see the class docstring).
        """
        if self.score_scale != 1.0:
            scores = scores * self.score_scale
        if self.score_clip is not None:
            scores = soft_clip(scores, self.score_clip)
        fn = self.bound
        world = gather_world(self.gather_negatives)
        if world == 1:
            trained = fn(scores, pos_mask=pos_mask, **self._bound_kwargs())
        else:
            b = scores.shape[0]
            locations = scores.shape[1] // (world * b)
            pos_mask = shard_pos_mask(b, world, locations, device=scores.device)  # (B, W*B*L)
            if self.bound_name in ROW_MEAN_BOUNDS:
                trained = fn(scores, pos_mask=pos_mask, **self._bound_kwargs())
            else:  # not a mean over rows: every process computes the full-batch bound
                full_mask = None if locations == 1 else local_pos_mask(world * b, locations, scores.device)
                trained = fn(gather_rows(scores), pos_mask=full_mask, **self._bound_kwargs())
        report = {self.bound_name: trained.detach()}
        with torch.no_grad():
            for name, fn in DIM_BOUNDS.items():
                if name not in report:
                    report[name] = fn(scores.detach(), pos_mask=pos_mask)
        return trained, report

    def _negative_images(self, scores: Tensor, pos_mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """``(scores, pos_mask)`` restricted to ``negative_images`` other images per row when set."""
        if self.negative_images is None:
            return scores, pos_mask
        if gather_world(self.gather_negatives) > 1:
            raise UserError("negative_images needs single-process training (or gather_negatives=false)")
        return restrict_negative_images(scores, self.negative_images)

    def occlude(self, x: Tensor) -> Tensor:
        """x with random occlusions filled by the per-channel mean (0 after standardization)."""
        assert self.occluder is not None
        mask = self.occluder.sample(x.shape[0], device=x.device)  # (B, 1, H, W)
        return torch.where(mask, self.encoder.mean, x)

    def local_scores(self, y: Tensor, local: Tensor, local_emb: Tensor | None = None) -> Tensor:
        """(B, B * L) local scores ``[i, j * L + l] = T(y_i, local_j at l)``.

        Under multi-process training with ``gather_negatives`` the candidates are every process's images:
        ``local_emb`` must then be the gathered embeddings (W * B * L, E) (see :meth:`_mi_terms`), and the
        concat head gathers ``local`` itself; the scores are (B, W * B * L).
        """
        assert self.local_head is not None
        if isinstance(self.local_head, EncodeDotLocalHead):
            return self.local_head.scores(y, local, local_emb)
        if gather_world(self.gather_negatives) > 1:
            local = gather_candidates(local)[0]  # (W*B, C, s, s)
        return self.local_head.scores(y, local)

    # -- forward -----------------------------------------------------------------------------------
    def _mi_terms(
        self, x: Tensor, y: Tensor, conv: Tensor, local: Tensor
    ) -> tuple[Tensor, dict[str, dict[str, Tensor]]]:
        """(loss of the MI terms, {"global"/"local": {bound: value}}) for Y of input ``x`` (B, Dy) against
        the conv (B, 256, c, c) and local (B, 128, s, s) maps of the same images (or of another view)."""
        b = y.shape[0]
        gather = gather_world(self.gather_negatives) > 1
        y_mi = y
        if self.occluder is not None:
            with frozen_bn_stats(self.encoder):
                y_mi = self.encoder(self.occlude(x))["y"]  # (B, Dy) from the occluded input
        loss = y.new_zeros(())
        reports: dict[str, dict[str, Tensor]] = {}
        if self.global_head is not None:
            if gather:  # against every process's conv maps: (B, W*B) scores
                conv = gather_candidates(conv)[0]
            g_scores = self.global_head.scores(y_mi, conv)  # (B, B)
            mi_g, reports["global"] = self._mi(*self._negative_images(g_scores, None))
            loss = loss - self.alpha * mi_g
        if self.local_head is not None:
            n_loc = local.shape[2] * local.shape[3]
            pos = local_pos_mask(b, n_loc, device=y.device)  # (B, B*L)
            emb = (
                self.local_head.embed_local(local)
                if isinstance(self.local_head, EncodeDotLocalHead)
                else None
            )
            if gather and emb is not None:  # every process's location embeddings (W*B*L, E)
                emb = gather_candidates(emb)[0]
            l_scores = self.local_scores(y_mi, local, emb)  # (B, B*L)
            mi_l, reports["local"] = self._mi(*self._negative_images(l_scores, pos))
            if self.n_globals > 0:
                terms, rep_sum = [mi_l], dict(reports["local"])
                for _ in range(self.n_globals):
                    m = random_block_masks(b, local.shape[2], self.block_size, device=y.device)  # (B,1,s,s)
                    with frozen_bn_stats(self.encoder):
                        y_k = self.encoder.forward_from_local(local * m)["y"]  # (B, Dy)
                    mi_k, rep_k = self._mi(*self._negative_images(self.local_scores(y_k, local, emb), pos))
                    terms.append(mi_k)
                    rep_sum = {k: rep_sum[k] + rep_k[k] for k in rep_sum}
                mi_l = torch.stack(terms).mean()
                reports["local"] = {k: v / len(terms) for k, v in rep_sum.items()}
            loss = loss - self.beta * mi_l
        return loss, reports

    def forward(self, batch: Batch) -> LossDict:
        x = batch[0]
        viewed = x if self.views is None else self.views(x)
        xs = list(viewed) if isinstance(viewed, tuple) else [viewed]
        if len(xs) == 1:
            feats = [self.encoder(xs[0])]
        else:  # one pass over both views (2B images), split back per view
            chunks = {k: t.chunk(2) for k, t in self.encoder(torch.cat(xs)).items()}
            feats = [{k: c[i] for k, c in chunks.items()} for i in range(2)]
        # (Y source, map source): the same view, or with two views each Y against the other view's maps
        pairs = [(0, 0)] if len(xs) == 1 else [(0, 1), (1, 0)]
        out: LossDict = {}
        loss = x.new_zeros(())
        reports: dict[str, dict[str, Tensor]] = {}
        for i, j in pairs:
            loss_ij, rep_ij = self._mi_terms(xs[i], feats[i]["y"], feats[j]["conv"], feats[j]["local"])
            loss = loss + loss_ij / len(pairs)
            for part, rep in rep_ij.items():
                total = reports.setdefault(part, {})
                for name, val in rep.items():
                    total[name] = total.get(name, 0) + val / len(pairs)
        main = reports["local"] if "local" in reports else reports["global"]
        for name, v in main.items():
            out[f"mi/{name}"] = v
        if len(reports) == 2:
            for part, rep in reports.items():
                for name, v in rep.items():
                    out[f"mi/{part}/{name}"] = v
        y, local = feats[0]["y"], feats[0]["local"]
        if self.prior is not None:
            enc_adv, d_loss = self.prior(y)
            loss = loss + self.gamma * enc_adv
            out["loss/prior"] = d_loss
            out["prior/encoder"] = enc_adv.detach()
        for task, pred in (("absolute", self.coord_abs), ("relative", self.coord_rel)):
            if pred is not None:
                c_loss, acc = pred(y, local)
                loss = loss + self.coord_weight * c_loss
                out[f"coord/{task}"] = c_loss.detach()
                out[f"coord/{task}_acc"] = acc
        out["loss"] = loss
        return out


def build(cfg: Config, info: DataInfo) -> DIM:
    """A :class:`DIM` for data described by ``info`` (channels, image_size, mean, std)."""
    cfg.validate()
    return DIM(
        in_channels=info.channels,
        image_size=info.image_size,
        mean=tuple(info.mean),
        std=tuple(info.std),
        alpha=cfg.alpha,
        beta=cfg.beta,
        gamma=cfg.gamma,
        bound=DIM_BOUNDS[cfg.bound],
        bound_name=cfg.bound,
        local_arch=cfg.local_arch,
        embed_dim=cfg.embed_dim,
        hidden=cfg.hidden,
        y_dim=cfg.y_dim,
        n_negatives=cfg.n_negatives,
        negative_images=cfg.negative_images,
        prior=cfg.prior,
        occlude=cfg.occlude,
        occlude_max_fraction=cfg.occlude_max_fraction,
        coord=cfg.coord,
        coord_weight=cfg.coord_weight,
        coord_hidden=cfg.coord_hidden,
        n_globals=cfg.n_globals,
        block_size=cfg.block_size,
        views=build_views(cfg.views, info.image_size, cfg.view_jitter),
        gather_negatives=cfg.gather_negatives,
        score_clip=cfg.score_clip,
        score_scale=cfg.score_scale,
        encoder_width=cfg.encoder_width,
    )


def _p(description: str, **overrides: Any) -> Preset:
    return Preset(description=description, method="dim", overrides=overrides)


#: Engine settings of ``infomax train dim`` (the bare method; presets set their own): Adam at 1e-4, the
#: paper's rate. At the engine's default 1e-3 DIM(L) on the bundled 8x8 digits ends *below* the untrained
#: encoder (20 epochs, seed 0, linear probe conv/fc/y 96.3/97.6/88.9 vs 97.3/98.7/93.9); at 1e-4 it ends
#: level or above it (98.3/98.3/95.6), see ``infomax.cli.demo``. The measured presets (``dim-l-noprior``,
#: ``dim-l-cross``...) keep the engine's 1e-3 that their benchmark figures were taken with.
TRAIN_DEFAULTS: dict[str, float] = {"lr": 1e-4}

PRESETS: dict[str, Preset] = {
    "dim-l": _p("DIM(L) as in the paper: local infoNCE + prior matching (alpha=0, beta=1, gamma=0.1)",
                gamma=0.1),
    "dim-l-noprior": _p("DIM(L) without the prior term: local infoNCE, encode-and-dot head (alpha=0, beta=1, "
                        "gamma=0); most DIM(L) benchmark rows"),
    "dim-l-cosine": _p("DIM(L) with a cosine learning-rate decay over the run (epochs or --max-minutes)",
                       lr_schedule="cosine"),
    "dim-l-cross": _p(
        "DIM(L) across two augmented views (AMDIM's policy): each view's Y vs the other view's local map",
        views="cross",
    ),
    "dim-l-cross-cifar": _p(
        "DIM(L) across two views with AMDIM's CIFAR policy: a translation by up to size/8 px, no resized "
        "crop",
        views="cross-cifar",
    ),
    "dim-g": _p("DIM(G) as in the paper: global infoNCE + prior matching (alpha=1, beta=0, gamma=1)",
                alpha=1.0, beta=0.0, gamma=1.0),
    "dim-g-noprior": _p("DIM(G) without the prior term: global infoNCE only (alpha=1, beta=0, gamma=0)",
                        alpha=1.0, beta=0.0),
    "dim-l-jsd": _p("DIM(L) with the JSD bound (positives excluded from the negatives)", bound="jsd"),
    "dim-l-dv": _p("DIM(L) with the Donsker-Varadhan bound", bound="dv"),
    "dim-l-concat": _p(
        "DIM(L) infoNCE with the concat-and-convolve local head (slow: B*B*L scores)",
        local_arch="concat",
        hidden=128,
    ),
    "dim-lg": _p("DIM(L+G): alpha=0.5, beta=0.1 (the paper's Table 4 mix)", alpha=0.5, beta=0.1),
    "dim-l-paper": _p(
        "DIM(L) with the paper's settings: embedding 2048, Adam 1e-4, batch 64 (slow on CPU)",
        embed_dim=2048,
        lr=1e-4,
        batch_size=64,
    ),
    "dim-lg-prior": _p(
        "DIM(L+G) with prior matching (alpha=0.5, beta=0.1, gamma=0.1)", alpha=0.5, beta=0.1, gamma=0.1
    ),
    # occlusion needs inputs >= 28px (the 8x8 digits have no separable receptive fields): CIFAR-10, as Table 5
    "dim-l-occlude": _p("DIM(L) with occluded global inputs on CIFAR-10 (needs inputs >= 28px)", occlude=True,
                        data="cifar10"),
    "dim-l-coord": _p("DIM(L) + absolute and relative coordinate prediction", coord="both"),
    "dim-l-coord-occlude": _p(
        "DIM(L) + coordinates + occlusion on CIFAR-10 (Table 5 'both'; inputs >= 28px)", coord="both",
        occlude=True, data="cifar10",
    ),
    "dim-l-multiglobal": _p(
        "DIM(L) + 3 less-global features from random local blocks, one shared estimator", n_globals=3
    ),
    "dim-l-jsd-neg8": _p(
        "DIM(L) JSD with 8 sampled (image, location) negatives per positive (not App. A.3's images)",
        bound="jsd", n_negatives=8,
    ),
    "dim-l-neg8": _p("DIM(L) infoNCE with 8 sampled (image, location) negatives per positive (not App. A.3's "
                     "images)", n_negatives=8),
    "dim-l-jsd-negimg8": _p("DIM(L) JSD with 8 negative images per image, every location (App. A.3 ablation)",
                            bound="jsd", negative_images=8),
    "dim-l-negimg8": _p("DIM(L) infoNCE with 8 negative images per image, every location (App. A.3 ablation)",
                        negative_images=8),
}
