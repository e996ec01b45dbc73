"""Multi-view MI maximization: maximize a bound on I(g1(X1); g2(X2)) for two views X1, X2 of each image.

Tschannen, Djolonga, Rubenstein, Gelly, Lucic, "On Mutual Information Maximization for Representation
Learning", ICLR 2020 (arXiv 1907.13625), eq. (1) and section 3. The paper's setup (the presets): X1 / X2
the top / bottom halves of an MNIST digit with N(0, 0.05^2) input noise, g1, g2 an MLP [300, 300, 100],
the small ConvNet or a RealNVP bijection, a bilinear, separable or concat-MLP critic, and the InfoNCE or
NWJ bound; Adam 1e-4, batch 128, ~21,000 steps. Two variants of the paper are options:

- target MI (section 3.3): minimize ``|I_EST(g1(X1); g2(X2)) - t|`` (``target_mi=t``, shared encoder);
- adversarial (section 3.1): a linear classifier on g1(X1) is trained on the labels (its own optimiser
  group ``"adversary"``) while the encoder maximizes that classifier's cross-entropy besides the bound
  (``adversary_weight > 0``). With a bijective g1, I(g1(X1); X2) stays what it was while the linear
  separability of g1(X1) is destroyed.

Multi-process training (``gather_negatives``, on by default): g2(X2) of every process is gathered
(:func:`~infomax.engine.distributed.gather_with_grad`) and each process scores its own g1(X1) rows against
all W * B of them, its positives at column offset ``rank * B``. For the bounds that are means over rows
(``infonce``, ``jsd``, ``nwj``) each process computes the bound of its own rows; for the others, and with
``target_mi`` (``|I - t|`` is not linear in I), the (B, W * B) row blocks are gathered into the full matrix
and every process computes the full-batch value. Either way DDP's gradient averaging gives the gradient of
one process on the full batch. In one process nothing changes.

The probed representation (``method.encoder``) is g1 applied to the first view of the *clean* image:
:class:`FirstViewEncoder` takes the full image, cuts the view and returns ``{"g1": (B, D)}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.bounds import BOUNDS
from infomax.config import MethodConfig, Preset, choice
from infomax.critics import CRITICS
from infomax.engine.distributed import (
    ROW_MEAN_BOUNDS,
    gather_candidates,
    gather_rows,
    gather_world,
    shard_pos_mask,
)
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.types import Batch, LossDict

PairView = Callable[[Tensor], tuple[Tensor, Tensor]]


class FirstView(nn.Module):
    """``x -> views(x)[0]``: the first of a pair of views (e.g. the top half of an image)."""

    def __init__(self, views: PairView) -> None:
        super().__init__()
        self.views = views

    def forward(self, x: Tensor) -> Tensor:
        return self.views(x)[0]


class FirstViewEncoder(nn.Module):
    """The representation to probe: full images (B, C, H, W) -> {"g1": g1(view(x)) flattened (B, D)}.

    Args:
        g1: The first view's encoder (returns a dict of features with an ``output_layer``).
        view: Maps a full image batch to the first view (e.g. :class:`FirstView` of the halves).

    Example:
        >>> from infomax.encoders.mlp import MLPEncoder
        >>> enc = FirstViewEncoder(MLPEncoder((1, 14, 28)), lambda x: x[:, :, :14])
        >>> tuple(enc(torch.rand(3, 1, 28, 28))["g1"].shape)
        (3, 100)
    """

    layers: tuple[str, ...] = ("g1",)
    output_layer: str = "g1"

    def __init__(self, g1: nn.Module, view: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.g1 = g1
        self.view = view

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"g1": self.g1(self.view(x))[self.g1.output_layer].flatten(1)}


class MultiView(MethodBase):
    """Maximize ``bound(critic(g1(X1), g2(X2)))``, or pull it to a target, for views ``(X1, X2) = views(x)``.

    Args:
        g1: Encoder of the first view (dict of features, ``output_layer``).
        g2: Encoder of the second view; ``None`` shares g1 (same parameters on both views).
        critic: ``(N, D1), (M, D2) -> scores (N, M)`` with the positives on the diagonal.
        bound: ``scores -> scalar`` lower bound in nats (e.g. ``infomax.bounds.infonce``).
        bound_name: Name used for the logged value ``"mi/<bound_name>"``.
        views: ``x (B, C, H, W) -> (x1, x2)``, any pair of views (e.g. ``TopBottomHalves()``).
        noise: Applied to each view during training only (e.g. ``GaussianNoise(0.05)``); None for none.
        target_mi: If set, minimize ``|bound - target_mi|`` instead of ``-bound``.
        adversary: Optional linear classifier on g1's output (trained in the group ``"adversary"``).
        adversary_weight: Weight of the encoder's adversarial term ``-w * CE(adversary(g1(X1)), y)``.
        gather_negatives: Under multi-process training, score against every process's g2(X2) (module
            docstring); a no-op in one process.

    Example:
        >>> from infomax.encoders.mlp import MLPEncoder
        >>> from infomax.critics import BilinearCritic
        >>> from infomax.bounds import infonce
        >>> halves = lambda x: (x[:, :, :14], x[:, :, 14:])
        >>> m = MultiView(MLPEncoder((1, 14, 28)), None, BilinearCritic(100, 100), infonce, "infonce", halves)
        >>> out = m((torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long)))
        >>> sorted(out)
        ['loss', 'mi/infonce']
    """

    def __init__(
        self,
        g1: nn.Module,
        g2: nn.Module | None,
        critic: nn.Module,
        bound: Callable[[Tensor], Tensor],
        bound_name: str,
        views: PairView,
        noise: Callable[[Tensor], Tensor] | None = None,
        target_mi: float | None = None,
        adversary: nn.Module | None = None,
        adversary_weight: float = 0.0,
        gather_negatives: bool = True,
    ) -> None:
        super().__init__()
        # g1 lives only inside the probed wrapper, so no tensor appears twice in the state dict
        self.encoder = FirstViewEncoder(g1, FirstView(views))
        self.g2 = g2  # None: shared with g1
        self.critic = critic
        self.bound = bound
        self.bound_name = bound_name
        self.views = views
        self.noise = noise
        self.target_mi = target_mi
        self.adversary = adversary
        self.adversary_weight = float(adversary_weight)
        self.gather_negatives = gather_negatives

    @property
    def g1(self) -> nn.Module:
        """The first view's encoder (stored in ``self.encoder``)."""
        return self.encoder.g1

    def embed(self, x: Tensor, train_noise: bool = True) -> tuple[Tensor, Tensor]:
        """Images (B, C, H, W) -> (g1(X1) (B, D1), g2(X2) (B, D2)), noise added when ``train_noise``."""
        x1, x2 = self.views(x)
        if self.noise is not None and train_noise:
            x1, x2 = self.noise(x1), self.noise(x2)
        g2 = self.g1 if self.g2 is None else self.g2
        z1 = self.g1(x1)[self.g1.output_layer].flatten(1)  # (B, D1)
        z2 = g2(x2)[g2.output_layer].flatten(1)  # (B, D2)
        return z1, z2

    def forward(self, batch: Batch) -> LossDict:
        x, labels = batch
        z1, z2 = self.embed(x)
        world = gather_world(self.gather_negatives)
        if world == 1:
            scores = self.critic(z1, z2)  # (B, B), positives on the diagonal
            mi = self.bound(scores)
        else:
            scores = self.critic(z1, gather_candidates(z2)[0])  # (B, W*B): own rows, every process's z2
            if self.bound_name in ROW_MEAN_BOUNDS and self.target_mi is None:  # a mean over own rows
                mi = self.bound(scores, pos_mask=shard_pos_mask(len(z1), world, device=scores.device))
            else:  # the full (W*B, W*B) matrix: every process computes the full-batch value
                mi = self.bound(gather_rows(scores))
        loss = -mi if self.target_mi is None else (mi - self.target_mi).abs()
        out: LossDict = {f"mi/{self.bound_name}": mi.detach()}
        if self.adversary is not None:
            labelled = labels >= 0  # (B,)
            if bool(labelled.any()):
                zl, yl = z1[labelled], labels[labelled]
                # encoder side: the classifier's weights are constants here (they belong to "adversary")
                w, b = self.adversary.weight.detach(), self.adversary.bias.detach()
                ce_enc = F.cross_entropy(F.linear(zl, w, b), yl)
                loss = loss - self.adversary_weight * ce_enc
                logits = self.adversary(zl.detach())  # (B_l, K)
                ce = F.cross_entropy(logits, yl)
                out["adversary/accuracy"] = (logits.argmax(1) == yl).float().mean().detach()
            else:
                ce = self.adversary.weight.sum() * 0.0
            out["loss/adversary"] = ce
        out["loss"] = loss
        return out

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        adv = {id(p) for p in self.adversary.parameters()} if self.adversary is not None else set()
        groups = {"main": [p for p in self.parameters() if p.requires_grad and id(p) not in adv]}
        if self.adversary is not None:
            groups["adversary"] = list(self.adversary.parameters())
        return groups


# ----------------------------------------------------------------------------------------------------------
# Config -> method


def _halves() -> PairView:
    from infomax.data.views import TopBottomHalves

    return TopBottomHalves()


#: Config.views -> factory of a pair-of-views transform.
VIEWS: dict[str, Callable[[], PairView]] = {"halves": _halves}


def _mlp(in_shape: tuple[int, ...], cfg: Config, mean: tuple, std: tuple) -> nn.Module:
    from infomax.encoders.mlp import MLPEncoder

    return MLPEncoder(in_shape, hidden=cfg.mlp_hidden, out_dim=cfg.out_dim, mean=mean, std=std)


def _convnet(in_shape: tuple[int, ...], cfg: Config, mean: tuple, std: tuple) -> nn.Module:
    from infomax.encoders.convnet import ConvNetEncoder

    return ConvNetEncoder(in_shape, channels=cfg.conv_channels, out_dim=cfg.out_dim, mean=mean, std=std)


def _realnvp(in_shape: tuple[int, ...], cfg: Config, mean: tuple, std: tuple) -> nn.Module:
    from infomax.encoders.realnvp import RealNVPEncoder

    return RealNVPEncoder(
        in_shape, n_layers=cfg.flow_layers, hidden=cfg.flow_hidden, scale=cfg.flow_scale, mean=mean, std=std,
        seed=cfg.seed,
    )


#: Config.encoder -> factory ``(view shape (C, H, W), cfg, mean, std) -> encoder``.
ENCODER_FACTORIES: dict[str, Callable[[tuple[int, ...], Config, tuple, tuple], nn.Module]] = {
    "mlp": _mlp,
    "convnet": _convnet,
    "realnvp": _realnvp,
}

#: The critics of ``infomax.critics.CRITICS`` that score a pair of batches on their own (AMDIM's
#: stabilized score also returns a regularizer, so it is not one of them); see :func:`make_critic`.
CRITIC_NAMES = tuple(n for n in CRITICS if n != "stabilized")


def score_bounds() -> tuple[str, ...]:
    """The bounds of ``infomax.bounds.BOUNDS`` that take a score matrix alone (every other argument has a
    default): ``tuba`` needs a learned baseline and ``interpolated`` its alpha, which this method lacks."""
    out = []
    for name, fn in BOUNDS.items():
        params = list(inspect.signature(fn).parameters.values())[1:]
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            out.append(name)
    return tuple(out)


@dataclass
class Config(MethodConfig):
    """Options of the multi-view method (defaults: the paper's MLP / bilinear / InfoNCE cell).

    Attributes:
        encoder: g1 (and g2) architecture: "mlp", "convnet" or "realnvp" (a bijection, D = view size).
        shared_encoder: One encoder for both views (g2 = g1); the target-MI presets use it.
        critic: "bilinear", "separable", "concat" or "inner" (inner product; needs equal widths); see
            ``CRITIC_NAMES``.
        bound: A bound of ``infomax.bounds.BOUNDS`` that needs only the scores (see
            :func:`score_bounds`: "infonce", "nwj", "dv", "smile", "jsd").
        views: "halves": top / bottom halves of each image.
        noise_std: Std of the Gaussian noise added to each view in training (paper: 0.05).
        out_dim: Output width of the MLP / ConvNet encoders (paper: 100).
        mlp_hidden: Hidden widths of the MLP encoder (paper: 300, 300).
        conv_channels: First conv's channels of the ConvNet (paper: 64; the second has twice as many).
        flow_layers: Coupling layers of the RealNVP encoder (paper: 30).
        flow_hidden: Hidden widths of each coupling's shift MLP (paper: 512, 512).
        flow_scale: Affine instead of shift-only couplings (paper: shift-only).
        critic_hidden: Hidden widths of the separable / concat critic; None = paper (100,) / (200,).
        critic_embed_dim: Embedding width of the separable critic (paper: 100).
        target_mi: If set (nats), minimize |I_EST - target_mi| instead of maximizing I_EST.
        adversary_weight: If > 0, train a linear classifier on g1(X1) and make the encoder maximize its
            cross-entropy with this weight (the paper's adversarial bijective encoder).
        standardize: Standardize pixels with the dataset's mean / std inside the encoders (paper: raw).
        seed: Seed of the RealNVP permutations.
        gather_negatives: Under multi-process (DDP) training, score against every process's second views
            (the full batch's negatives); a no-op in one process.
    """

    encoder: str = choice("mlp", ENCODER_FACTORIES)
    shared_encoder: bool = False
    critic: str = choice("bilinear", CRITIC_NAMES)
    bound: str = choice("infonce", score_bounds())
    views: str = choice("halves", VIEWS)
    noise_std: float = 0.05
    out_dim: int = 100
    mlp_hidden: tuple[int, ...] = (300, 300)
    conv_channels: int = 64
    flow_layers: int = 30
    flow_hidden: tuple[int, ...] = (512, 512)
    flow_scale: bool = False
    critic_hidden: tuple[int, ...] | None = None
    critic_embed_dim: int = 100
    target_mi: float | None = None
    adversary_weight: float = 0.0
    standardize: bool = False
    seed: int = 0
    gather_negatives: bool = True

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (names: see :meth:`MethodConfig.validate`)."""
        for name in ("out_dim", "conv_channels", "flow_layers", "critic_embed_dim"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("mlp_hidden", "flow_hidden", "critic_hidden"):
            widths = getattr(self, name)
            if widths is not None and not all(w >= 1 for w in widths):
                raise UserError(f"{name} must be widths >= 1, e.g. 300,300; got {','.join(map(str, widths))}")
        if self.noise_std < 0:
            raise UserError(f"noise_std must be >= 0, got {self.noise_std}")
        if self.target_mi is not None and self.target_mi <= 0:
            raise UserError(f"target_mi must be > 0 nats, got {self.target_mi}")
        if self.adversary_weight < 0:
            raise UserError(f"adversary_weight must be >= 0, got {self.adversary_weight}")
        if self.seed < 0:
            raise UserError(f"seed must be >= 0, got {self.seed}")




def make_critic(
    name: str, x_dim: int, y_dim: int, hidden: tuple[int, ...] | None = None, embed_dim: int = 100
) -> nn.Module:
    """The study's critics with the paper's sizes by default (``hidden=None``)."""
    if name == "bilinear":
        from infomax.critics import BilinearCritic

        return BilinearCritic(x_dim, y_dim)
    if name == "separable":
        from infomax.critics import SeparableCritic

        return SeparableCritic(x_dim, y_dim, hidden=tuple(hidden or (100,)), embed_dim=embed_dim)
    if name == "concat":
        from infomax.critics import ConcatCritic

        return ConcatCritic(x_dim, y_dim, hidden=tuple(hidden or (200,)))
    if name == "inner":
        from infomax.critics import InnerProductCritic

        if x_dim != y_dim:
            raise UserError(f"the inner-product critic needs equal widths, got {x_dim} and {y_dim}")
        return InnerProductCritic()
    raise UserError(f"unknown critic {name!r}; choose one of: {', '.join(CRITIC_NAMES)}")


def _out_width(enc: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        was = enc.training
        enc.eval()
        width = enc(torch.zeros(2, *shape))[enc.output_layer].flatten(1).shape[1]
        enc.train(was)
    return int(width)


def build(cfg: Config, info: Any) -> MultiView:
    """The multi-view method for images described by ``info`` (a ``DataInfo``)."""
    cfg.validate()
    if cfg.adversary_weight > 0 and info.num_classes < 2:
        raise UserError(f"the adversarial variant needs labelled data; {info.name!r} has no classes")

    views = VIEWS[cfg.views]()
    x1, x2 = views(torch.zeros(1, info.channels, info.image_size, info.image_size))
    s1, s2 = tuple(x1.shape[1:]), tuple(x2.shape[1:])
    if cfg.shared_encoder and s1 != s2:
        raise UserError(f"shared_encoder needs views of one shape, got {s1} and {s2}")
    mean, std = (tuple(info.mean), tuple(info.std)) if cfg.standardize else ((0.0,), (1.0,))
    make = ENCODER_FACTORIES[cfg.encoder]
    g1 = make(s1, cfg, mean, std)
    g2 = None if cfg.shared_encoder else make(s2, cfg, mean, std)
    d1 = _out_width(g1, s1)
    d2 = d1 if g2 is None else _out_width(g2, s2)
    critic = make_critic(
        cfg.critic, x_dim=d1, y_dim=d2, hidden=cfg.critic_hidden, embed_dim=cfg.critic_embed_dim
    )
    noise = None
    if cfg.noise_std > 0:
        from infomax.data.views import GaussianNoise

        noise = GaussianNoise(cfg.noise_std)
    adversary = nn.Linear(d1, info.num_classes) if cfg.adversary_weight > 0 else None
    return MultiView(
        g1=g1,
        g2=g2,
        critic=critic,
        bound=BOUNDS[cfg.bound],
        bound_name=cfg.bound,
        views=views,
        noise=noise,
        target_mi=cfg.target_mi,
        adversary=adversary,
        adversary_weight=cfg.adversary_weight,
        gather_negatives=cfg.gather_negatives,
    )


# ----------------------------------------------------------------------------------------------------------
# Presets: the paper's runs on MNIST (Adam 1e-4, batch 128; 50 epochs of the 54k-image train split = 21.1k
# steps). Each is one ``infomax train NAME`` command; add ``--max-minutes`` for a CPU budget.

_PAPER = {"data": "mnist", "lr": 1e-4, "batch_size": 128, "max_epochs": 50}
_CRITIC_TEXT = {
    "bilinear": "bilinear critic",
    "separable": "separable critic (100 hidden + 100 linear per side)",
    "concat": "concat-MLP critic (200 hidden)",
}
_ENCODER_TEXT = {"mlp": "MLP [300, 300, 100]", "convnet": "ConvNet (conv64-conv128-LN-pool-dense100)"}


def _presets() -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    for enc, enc_text in _ENCODER_TEXT.items():
        for critic, critic_text in _CRITIC_TEXT.items():
            for bound in ("infonce", "nwj"):
                out[f"mv-{enc}-{critic}-{bound}"] = Preset(
                    description=f"Multi-view MNIST halves: {enc_text} encoders, {critic_text}, {bound} "
                    "(Tschannen et al. 2020, sec. 3.2)",
                    method="multiview",
                    overrides={**_PAPER, "encoder": enc, "critic": critic, "bound": bound},
                )
    out["mv-realnvp-bilinear-infonce"] = Preset(
        description="Multi-view MNIST halves: RealNVP bijections (30 shift-only couplings), bilinear, "
        "infonce (sec. 3.1: MI fixed, probe accuracy still moves)",
        method="multiview",
        overrides={**_PAPER, "encoder": "realnvp", "critic": "bilinear", "bound": "infonce"},
    )
    out["mv-realnvp-adversarial"] = Preset(
        description="As mv-realnvp-bilinear-infonce, plus an adversarial linear classifier the encoder must "
        "defeat (sec. 3.1)",
        method="multiview",
        overrides={**_PAPER, "encoder": "realnvp", "critic": "bilinear", "bound": "infonce",
                   "adversary_weight": 1.0},
    )
    for t in (2, 4):
        for enc, enc_text in _ENCODER_TEXT.items():
            for bound, suffix in (("infonce", ""), ("nwj", "-nwj")):
                out[f"mv-target-t{t}-{enc}{suffix}"] = Preset(
                    description=f"Target MI: minimize |{bound} - {t}| with a shared {enc_text}, bilinear "
                    "critic (sec. 3.3)",
                    method="multiview",
                    overrides={**_PAPER, "encoder": enc, "critic": "bilinear", "bound": bound,
                               "shared_encoder": True, "target_mi": float(t)},
                )
    return out


PRESETS: dict[str, Preset] = _presets()
