"""Deep InfoMax discriminators: the global MLP and both local architectures of appendix A.2.

Hjelm et al., "Learning deep representations by mutual information estimation and maximization",
ICLR 2019, appendix A.2 (Tables 6-9). Every head returns a score matrix following the project's index
convention ``scores[i, j] = T(global_i, feature_j)``:

- global heads: (B, B), positives on the diagonal;
- local heads: (B, B * L) with column ``j * L + l`` = location ``l`` of image ``j``'s local map
  (L = H * W locations); the positives of row ``i`` are its own L locations, see :func:`local_pos_mask`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def local_pos_mask(batch: int, locations: int, device: torch.device | None = None) -> Tensor:
    """Boolean (B, B * L) mask: row ``i`` is True at columns ``i * L .. i * L + L - 1``.

    Example:
        >>> local_pos_mask(2, 2).int().tolist()
        [[1, 1, 0, 0], [0, 0, 1, 1]]
    """
    eye = torch.eye(batch, dtype=torch.bool, device=device)  # (B, B)
    return eye.repeat_interleave(locations, dim=1)  # (B, B*L)


def _identity_like_(weight: Tensor) -> None:
    """Initialise an (out, in) shortcut as a noisy identity (as the authors' code does)."""
    with torch.no_grad():
        weight.uniform_(-0.01, 0.01)
        n = min(weight.shape[0], weight.shape[1])
        idx = torch.arange(n)
        weight[idx, idx] = 1.0


class GlobalMLPDiscriminator(nn.Module):
    """T(y, C) = MLP([y; flatten(C)]): two ReLU hidden layers of ``hidden`` units (paper: 512, Table 6).

    :meth:`forward` scores aligned pairs; :meth:`scores` scores every (y_i, C_j) pair at once. The first
    layer is linear in the concatenation, so it is split as ``W_y y_i + W_c C_j`` and only the
    (B, B, hidden) sum is materialised: cost ~ B^2 * hidden^2 for the second layer.

    Args:
        y_dim: Width of Y.
        conv_dim: Width of the flattened last conv map (256 * s * s).
        hidden: Hidden width.

    Example:
        >>> head = GlobalMLPDiscriminator(4, 6, hidden=8)
        >>> head.scores(torch.randn(3, 4), torch.randn(3, 6)).shape
        torch.Size([3, 3])
    """

    def __init__(self, y_dim: int, conv_dim: int, hidden: int = 512) -> None:
        super().__init__()
        self.y_dim = y_dim
        self.l1 = nn.Linear(y_dim + conv_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)

    def forward(self, y: Tensor, conv: Tensor) -> Tensor:
        """Aligned scores (B,) of y (B, Dy) with conv features (B, Dc) (or (B, 256, s, s))."""
        h = torch.relu(self.l1(torch.cat([y, conv.flatten(1)], dim=1)))
        return self.l3(torch.relu(self.l2(h))).squeeze(-1)

    def scores(self, y: Tensor, conv: Tensor) -> Tensor:
        """All pairs: (B, B) with ``[i, j] = T(y_i, conv_j)``."""
        w_y, w_c = self.l1.weight[:, : self.y_dim], self.l1.weight[:, self.y_dim :]
        a = y @ w_y.t()  # (B, H)
        b = conv.flatten(1) @ w_c.t() + self.l1.bias  # (B, H)
        h = torch.relu(a[:, None, :] + b[None, :, :])  # (B, B, H)
        return self.l3(torch.relu(self.l2(h))).squeeze(-1)  # (B, B)


class ConcatConvLocalHead(nn.Module):
    """Concat-and-convolve: Y tiled over the local map, then 1x1 convs (paper Table 7; 512 units).

    ``T(y, l)`` at each location = conv1x1(ReLU(conv1x1(ReLU(conv1x1([y; l]))))). :meth:`scores` pairs
    every Y_i with every image's local map: the first 1x1 conv is split as ``W_y y_i + W_l l_j`` so the
    (B, B, L, hidden) activations are formed once; compute and memory grow as B^2 * L * hidden (and
    B^2 * L * hidden^2 flops), which is why the encode-and-dot head is the default.

    Args:
        local_channels: Channels of the local map.
        y_dim: Width of Y.
        hidden: Hidden width (paper: 512).

    Example:
        >>> head = ConcatConvLocalHead(5, 4, hidden=8)
        >>> head.scores(torch.randn(3, 4), torch.randn(3, 5, 2, 2)).shape
        torch.Size([3, 12])
    """

    def __init__(self, local_channels: int, y_dim: int, hidden: int = 512) -> None:
        super().__init__()
        self.y_dim = y_dim
        self.c1 = nn.Conv2d(y_dim + local_channels, hidden, kernel_size=1)
        self.c2 = nn.Conv2d(hidden, hidden, kernel_size=1)
        self.c3 = nn.Conv2d(hidden, 1, kernel_size=1)

    def forward(self, y: Tensor, local: Tensor) -> Tensor:
        """Aligned scores (B, L): y (B, Dy) tiled over its own local map (B, Cl, H, W)."""
        b, _, h, w = local.shape
        tiled = y[:, :, None, None].expand(-1, -1, h, w)  # (B, Dy, H, W)
        s = self.c3(torch.relu(self.c2(torch.relu(self.c1(torch.cat([tiled, local], dim=1))))))
        return s.reshape(b, h * w)

    def scores(self, y: Tensor, local: Tensor) -> Tensor:
        """All pairs: (N, M * L) with ``[i, j * L + l] = T(y_i, local_j at l)`` for y (N, Dy) and local maps
        (M, Cl, H, W) (N = M = B in one process; M = W * B against every process's maps)."""
        n = y.shape[0]
        w1 = self.c1.weight[:, :, 0, 0]  # (H, Dy + Cl)
        a = y @ w1[:, : self.y_dim].t()  # (B, Hd)
        loc = local.flatten(2).transpose(1, 2)  # (B, L, Cl)
        c = loc @ w1[:, self.y_dim :].t() + self.c1.bias  # (B, L, Hd)
        h = torch.relu(a[:, None, None, :] + c[None, :, :, :])  # (B, B, L, Hd)
        h = torch.relu(h @ self.c2.weight[:, :, 0, 0].t() + self.c2.bias)  # (B, B, L, Hd)
        s = h @ self.c3.weight[0, :, 0, 0] + self.c3.bias  # (N, M, L)
        return s.reshape(n, -1)


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the incoming gradient contiguous.

    The local embedding reads its (B, C, H, W) input as (B*L, C) rows, so the gradient it sends back has
    channels-last strides; summed with the encoder's own (contiguous) gradient of the same map, that
    layout mismatch made the addition and the ReLU backward below it ~3x slower on a CPU.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.contiguous()


class GlobalEmbedding(nn.Module):
    """Paper Table 8: Linear-BN-ReLU-Linear plus a linear shortcut, (B, D) -> (B, E)."""

    def __init__(self, in_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Linear(in_dim, embed_dim, bias=False),
            nn.BatchNorm1d(embed_dim),
            nn.ReLU(inplace=True),
            nn.Linear(embed_dim, embed_dim),
        )
        self.shortcut = nn.Linear(in_dim, embed_dim, bias=False)
        _identity_like_(self.shortcut.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x) + self.shortcut(x)  # (B, E)


class LocalEmbedding(nn.Module):
    """Paper Table 9: the Table 8 block applied at every location (a 1x1 conv), then a block layer norm.

    Maps (B, C, H, W) to location rows (B * H * W, E), image-major (row ``j * L + l``). The 1x1
    convolutions are computed as linear layers on the (B * L, C) rows (the same maths, and on a CPU
    about twice as fast as 1x1 ``Conv2d`` in the backward pass); the batch norm over rows equals
    ``BatchNorm2d``.
    """

    def __init__(self, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Linear(in_channels, embed_dim, bias=False),
            nn.BatchNorm1d(embed_dim),
            nn.ReLU(inplace=True),
            nn.Linear(embed_dim, embed_dim),
        )
        self.shortcut = nn.Linear(in_channels, embed_dim, bias=False)
        _identity_like_(self.shortcut.weight)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        rows = _ContiguousGrad.apply(x).flatten(2).transpose(1, 2).reshape(-1, x.shape[1])  # (B*L, C)
        return self.norm(self.block(rows) + self.shortcut(rows))  # (B*L, E)


class EncodeDotLocalHead(nn.Module):
    """Encode-and-dot-product: ``T(y, l) = <phi_g(y), phi_l(l)>`` (paper appendix A.2, Tables 8-9).

    One matrix product gives all B x B x L scores. The paper used ``embed_dim=2048``; a 2048-wide head
    costs about 13x the encoder on a CPU, so :mod:`infomax.methods.dim` defaults to 128.

    Args:
        local_channels: Channels of the local map.
        y_dim: Width of Y.
        embed_dim: Embedding width E.

    Example:
        >>> head = EncodeDotLocalHead(5, 4, embed_dim=8)
        >>> head.scores(torch.randn(3, 4), torch.randn(3, 5, 2, 2)).shape
        torch.Size([3, 12])
    """

    def __init__(self, local_channels: int, y_dim: int, embed_dim: int = 128) -> None:
        super().__init__()
        self.global_embed = GlobalEmbedding(y_dim, embed_dim)
        self.local_embed = LocalEmbedding(local_channels, embed_dim)

    def embed_local(self, local: Tensor) -> Tensor:
        """(B, C, H, W) -> (B * L, E), rows ordered image-major (``j * L + l``)."""
        return self.local_embed(local)  # (B*L, E)

    def scores(self, y: Tensor, local: Tensor, local_emb: Tensor | None = None) -> Tensor:
        """All pairs: (B, B * L) with ``[i, j * L + l] = <phi_g(y_i), phi_l(local_j)[l]>``.

        ``local_emb`` (from :meth:`embed_local`) may be passed to reuse it across several globals.
        """
        if local_emb is None:
            local_emb = self.embed_local(local)
        g = self.global_embed(y)  # (B, E)
        # the scores in float32 even under bf16 autocast: a bfloat16 score (8 significant bits) is off by
        # up to 0.06 at 30, noise that the bound's log-sum-exp over B * L candidates passes to the gradients
        dt = torch.promote_types(torch.promote_types(g.dtype, local_emb.dtype), torch.float32)
        with torch.autocast(device_type=g.device.type, enabled=False):
            return g.to(dt) @ local_emb.to(dt).t()  # (B, B*L)
