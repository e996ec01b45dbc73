"""Contrastive Predictive Coding on a patch grid, and Deep InfoMax (L) on the same strided-crop encoder.

van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive Coding", 2018, sec. 3.2;
Hjelm et al., "Learning deep representations by mutual information estimation and maximization",
ICLR 2019, sec. 4.2 (the CPC comparison, Table 3). Both objectives share a
:class:`~infomax.encoders.cpc.CPCPatchEncoder` (32x32: 8x8 crops, stride 4, a 7x7 grid of patch vectors z);
the representation is the pooled patch vectors.

``objective="cpc"``: a GRU reads the grid in raster order, giving a summary ``c[t, col]`` that has seen
only the patches up to (t, col) in that order (:class:`RasterGRUContext`). For each offset ``k`` in
``min_offset .. min_offset + n_offsets - 1`` a separate linear map ``W_k`` predicts the patch ``k`` rows
below: ``p = W_k c[t, col]`` for ``z[t + k, col]``. InfoNCE scores each prediction against every patch
vector of the batch (other positions of the same image and all positions of the other images); the loss is
the mean over offsets of ``-(mean_i [s_ii - logsumexp_j s_ij])``. The masking is exact end to end, in training
as in evaluation: the context network sees raster positions up to its own, and the patch network
normalises each patch on its own (``patch_norm="layer"``, CPC v2's fix, Henaff et al. 2019); with
``patch_norm="batch"`` (the original CPC setup) batch norm pools statistics over all patches of the batch,
a small leak across rows in training mode.
With the default 8x8 crops at stride 4, row t + 1's crops overlap row t's by 4 pixels: ``min_offset=2``
predicts only non-overlapping rows.

``objective="dim"``: DIM(L) with infoNCE: a global ``y = MLP(mean of the patch vectors)`` scored against every
patch vector with the encode-and-dot head of :mod:`infomax.methods.dim_heads`. With ``n_globals > 0``
("multiple globals"), extra less-global features are computed from random ``block_size`` blocks of the
grid (the mean of the block's patch vectors through the same MLP), each contrasted with the full grid by the
same shared estimator; the objective is the mean over the global and the block globals.

Multi-process training (``gather_negatives``, on by default): the candidate patch vectors (CPC) or location
embeddings (DIM) of every process are gathered (:func:`~infomax.engine.distributed.gather_with_grad`) and each
process scores its own predictions / globals against all of them, its positives at offset ``rank`` x its own
count; the infoNCE terms are means over the process's own rows, so with DDP's gradient averaging the
gradients are those of one process on the full batch (batch norm aside). In one process nothing changes.

Logged: ``mi/infonce`` (nats: CPC's mean over offsets, or the DIM local infoNCE), ``cpc/k<k>`` per offset,
and ``probe/linear_acc`` / ``probe/mlp_acc`` from online probes on detached pooled vectors.

Example:
    >>> from types import SimpleNamespace
    >>> info = SimpleNamespace(channels=1, image_size=8, num_classes=10, mean=(0.5,), std=(0.5,))
    >>> method = build(Config(ndf=8, dim=16), info)
    >>> out = method((torch.rand(4, 1, 8, 8), torch.arange(4)))
    >>> sorted(k for k in out if k.startswith("cpc/"))
    ['cpc/k1', 'cpc/k2', 'cpc/k3']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomax.bounds import infonce
from infomax.config import MethodConfig, Preset, choice
from infomax.encoders.cpc import PATCH_NORMS, CPCPatchEncoder, patch_grid
from infomax.engine.distributed import gather_candidates, gather_world, shard_pos_mask
from infomax.errors import UserError
from infomax.methods.base import MethodBase
from infomax.methods.dim_heads import EncodeDotLocalHead, local_pos_mask
from infomax.methods.dim_multi import random_block_masks
from infomax.methods.probe_heads import OnlineProbes
from infomax.types import Batch, LossDict

if TYPE_CHECKING:  # pragma: no cover
    from infomax.data.datasets import DataInfo

OBJECTIVES = ("cpc", "dim")


@dataclass
class Config(MethodConfig):
    """CPC / patch-grid DIM(L) options (CPU-sane defaults).

    Attributes:
        objective: ``cpc`` (autoregressive row prediction) or ``dim`` (DIM(L), infoNCE).
        patch_size, patch_stride: Crop side and stride (0: image_size // 4 and half of it).
        ndf: Patch network width.
        dim: Patch vector size (also the GRU's hidden size, as in Hjelm et al. app. A.2).
        patch_norm: ``layer`` (per patch, CPC v2: no information crosses patches) or ``batch``.
        n_offsets: CPC: number of row offsets K predicted (one linear map each).
        min_offset: CPC: smallest offset (1: the next row; 2 skips the row overlapping the summary's patch).
        y_dim: DIM: width of the global feature.
        embed_dim: DIM: encode-and-dot embedding width.
        n_globals: DIM: extra less-global features from random blocks of the grid ("multiple globals").
        block_size: DIM: side of those blocks in patches (0: half the grid side).
        online_probes: Train online linear + MLP probes on detached pooled vectors (needs labels).
        probe_hidden: Hidden width of the online MLP probe.
        gather_negatives: Under multi-process (DDP) training, score against the candidates of every
            process's images (the full batch's negatives); a no-op in one process.
    """

    objective: str = choice("cpc", OBJECTIVES)
    patch_size: int = 0
    patch_stride: int = 0
    ndf: int = 32
    dim: int = 64
    patch_norm: str = choice("layer", PATCH_NORMS)
    n_offsets: int = 3
    min_offset: int = 1
    y_dim: int = 64
    embed_dim: int = 128
    n_globals: int = 0
    block_size: int = 0
    online_probes: bool = True
    probe_hidden: int = 256
    gather_negatives: bool = True

    def check(self) -> None:
        """Raise :class:`UserError` for an out-of-range option (names: see :meth:`MethodConfig.validate`)."""
        for name in ("ndf", "dim", "n_offsets", "min_offset", "y_dim", "embed_dim", "probe_hidden"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("patch_size", "patch_stride", "n_globals", "block_size"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")


class RasterGRUContext(nn.Module):
    """A GRU over the grid in raster order: ``c[:, :, t, col]`` depends only on ``z`` at raster positions
    ``<= t * G + col`` (rows above t, and row t up to column col). (B, D, G, G) -> (B, H, G, G).

    Example:
        >>> RasterGRUContext(4, 6)(torch.randn(2, 4, 3, 3)).shape
        torch.Size([2, 6, 3, 3])
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True)

    def forward(self, z: Tensor) -> Tensor:
        b, _, g, g2 = z.shape
        seq = z.flatten(2).transpose(1, 2)  # (B, G*G, D) in raster order
        out, _ = self.gru(seq)  # (B, G*G, H)
        return out.transpose(1, 2).reshape(b, -1, g, g2)


class PatchGlobal(nn.Module):
    """DIM's global feature on a patch grid: ``y = MLP(mean of the (visible) patch vectors)``.

    ``forward(z (B, D, G, G), mask (B, 1, G, G) or None) -> (B, y_dim)``: the mean over the mask's ones
    (a random block: a less-global feature), or over the whole grid.
    """

    def __init__(self, dim: int, y_dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, y_dim)
        )

    def forward(self, z: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            pooled = z.mean(dim=(2, 3))  # (B, D)
        else:
            pooled = (z * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1)  # (B, D)
        return self.mlp(pooled)


class CPC(MethodBase):
    """CPC or patch-grid DIM(L) on a :class:`~infomax.encoders.cpc.CPCPatchEncoder` (module docstring).

    Args:
        in_channels, image_size, mean, std: The data.
        num_classes: Classes for the online probes (< 2: no probes).
        objective, patch_size, patch_stride, ndf, dim, patch_norm, n_offsets, min_offset, y_dim, embed_dim,
        n_globals, block_size, online_probes, probe_hidden, gather_negatives: As in :class:`Config`.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        num_classes: int = 0,
        objective: str = "cpc",
        patch_size: int = 0,
        patch_stride: int = 0,
        ndf: int = 32,
        dim: int = 64,
        patch_norm: str = "layer",
        n_offsets: int = 3,
        min_offset: int = 1,
        y_dim: int = 64,
        embed_dim: int = 128,
        n_globals: int = 0,
        block_size: int = 0,
        online_probes: bool = True,
        probe_hidden: int = 256,
        gather_negatives: bool = True,
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise UserError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        _, _, g = patch_grid(image_size, patch_size, patch_stride)
        self.objective = objective
        self.gather_negatives = gather_negatives
        self.encoder = CPCPatchEncoder(
            in_channels,
            image_size,
            patch_size=patch_size,
            stride=patch_stride,
            ndf=ndf,
            dim=dim,
            mean=mean,
            std=std,
            norm=patch_norm,
        )
        self.offsets: tuple[int, ...] = ()
        if objective == "cpc":
            self.offsets = tuple(range(min_offset, min_offset + n_offsets))
            if self.offsets[-1] >= g:
                raise UserError(
                    f"an offset of {self.offsets[-1]} rows needs a grid of more rows than that, got "
                    f"{g}x{g}: lower n_offsets or min_offset"
                )
            self.context = RasterGRUContext(dim=dim, hidden=dim)
            self.predictors = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in self.offsets)
        else:
            self.n_globals = n_globals
            self.block_size = block_size or max(1, g // 2)
            if n_globals > 0 and not 1 <= self.block_size < g:
                raise UserError(f"block_size must be in 1..{g - 1} (smaller than the {g}x{g} grid)")
            self.global_net = PatchGlobal(dim=dim, y_dim=y_dim, hidden=2 * dim)
            self.head = EncodeDotLocalHead(local_channels=dim, y_dim=y_dim, embed_dim=embed_dim)
        use_probes = online_probes and num_classes >= 2
        self.probes = (
            OnlineProbes(in_dim=dim, num_classes=num_classes, hidden=probe_hidden) if use_probes else None
        )

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"main": encoder + context/predictors or DIM heads, "probe": the online probes}``."""
        probe_ids = {id(p) for p in self.probes.parameters()} if self.probes is not None else set()
        groups = {"main": [p for p in self.parameters() if p.requires_grad and id(p) not in probe_ids]}
        if self.probes is not None:
            groups["probe"] = list(self.probes.parameters())
        return groups

    # -- CPC ---------------------------------------------------------------------------------------
    def predict(self, z: Tensor) -> dict[int, Tensor]:
        """``{k: (B, D, G - k, G)}``: predictions of ``z[:, :, t + k, col]`` from row ``t``'s summaries."""
        c = self.context(z)  # (B, H, G, G)
        g = z.shape[2]
        out = {}
        for k, w in zip(self.offsets, self.predictors):
            ctx = c[:, :, : g - k]  # (B, H, G-k, G)
            out[k] = w(ctx.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, D, G-k, G)
        return out

    def cpc_infonce(self, z: Tensor) -> dict[int, Tensor]:
        """``{k: infoNCE (nats)}``; each prediction vs all B*G*G patch vectors, the true one positive."""
        b, d, g, _ = z.shape
        cands = z.permute(0, 2, 3, 1).reshape(b * g * g, d)  # (M, D), index (b, row, col) raster
        idx = torch.arange(b * g * g, device=z.device).view(b, g, g)
        if gather_world(self.gather_negatives) > 1:  # every process's patches (W*M, D), own from offset on
            cands, offset = gather_candidates(cands)
            idx = idx + offset
        out = {}
        for k, pred in self.predict(z).items():
            rows = pred.permute(0, 2, 3, 1).reshape(-1, d)  # (N_k, D), (b, t, col) for t < G-k
            target = idx[:, k:, :].reshape(-1)  # (N_k,) index of z[b, :, t+k, col]
            logits = rows @ cands.t()  # (N_k, M)
            out[k] = math.log(cands.shape[0]) - F.cross_entropy(logits, target)
        return out

    # -- DIM(L) ------------------------------------------------------------------------------------
    def dim_infonce(self, z: Tensor) -> Tensor:
        """DIM(L) infoNCE (nats) of the global (and block) features against every patch vector."""
        b, _, g, _ = z.shape
        emb = self.head.embed_local(z)  # (B*L, E)
        world = gather_world(self.gather_negatives)
        if world == 1:
            pos = local_pos_mask(b, g * g, device=z.device)  # (B, B*L)
        else:  # every process's location embeddings (W*B*L, E)
            emb = gather_candidates(emb)[0]
            pos = shard_pos_mask(b, world, g * g, device=z.device)  # (B, W*B*L)
        terms = [infonce(self.head.scores(self.global_net(z), z, emb), pos_mask=pos)]
        for _ in range(self.n_globals):
            m = random_block_masks(b, g, self.block_size, device=z.device)  # (B, 1, G, G)
            terms.append(infonce(self.head.scores(self.global_net(z, m), z, emb), pos_mask=pos))
        return torch.stack(terms).mean()

    def forward(self, batch: Batch) -> LossDict:
        x, labels = batch
        if x.shape[0] < 2:
            raise UserError("CPC/DIM need batches of at least 2 images (negatives come from other images)")
        feats = self.encoder(x)
        z = feats["patches"]  # (B, D, G, G)
        out: LossDict = {}
        if self.objective == "cpc":
            per_k = self.cpc_infonce(z)
            mi = torch.stack(list(per_k.values())).mean()
            out.update({f"cpc/k{k}": v.detach() for k, v in per_k.items()})
        else:
            mi = self.dim_infonce(z)
        out["loss"] = -mi
        out["mi/infonce"] = mi.detach()
        if self.probes is not None:
            probe_loss, accs = self.probes(feats["pooled"], labels)
            out["loss/probe"] = probe_loss
            out.update(accs)
        return out


def build(cfg: Config, info: DataInfo) -> CPC:
    """A :class:`CPC` for data described by ``info`` (channels, image_size, num_classes, mean, std)."""
    cfg.validate()
    return CPC(
        in_channels=info.channels,
        image_size=info.image_size,
        mean=tuple(info.mean),
        std=tuple(info.std),
        num_classes=int(getattr(info, "num_classes", 0) or 0),
        objective=cfg.objective,
        patch_size=cfg.patch_size,
        patch_stride=cfg.patch_stride,
        ndf=cfg.ndf,
        dim=cfg.dim,
        patch_norm=cfg.patch_norm,
        n_offsets=cfg.n_offsets,
        min_offset=cfg.min_offset,
        y_dim=cfg.y_dim,
        embed_dim=cfg.embed_dim,
        n_globals=cfg.n_globals,
        block_size=cfg.block_size,
        online_probes=cfg.online_probes,
        probe_hidden=cfg.probe_hidden,
        gather_negatives=cfg.gather_negatives,
    )


def _p(description: str, **overrides: Any) -> Preset:
    return Preset(description=description, method="cpc", overrides={"data": "cifar10", **overrides})


PRESETS: dict[str, Preset] = {
    "cpc": _p("CPC on CIFAR-10: 8x8 crops stride 4 (7x7 grid), raster GRU, offsets 1-3, infoNCE"),
    "cpc-dim-l": _p(
        "DIM(L), one global, on CPC's strided-crop encoder (Hjelm et al. Table 3)", objective="dim"
    ),
    "cpc-dim-l-multiglobal": _p(
        "DIM(L) with 3 less-global features from random 3x3 blocks of the patch grid (Table 3)",
        objective="dim",
        n_globals=3,
    ),
}
