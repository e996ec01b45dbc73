"""A RealNVP-style bijective encoder: coupling layers with fixed random permutations in between.

Dinh, Sohl-Dickstein, Bengio, "Density estimation using Real NVP", ICLR 2017 (coupling layers);
used as an invertible encoder by Tschannen et al., "On Mutual Information Maximization for
Representation Learning", ICLR 2020 (arXiv 1907.13625), section 3.1: 30 shift-only (additive) coupling
layers, each shift network an MLP with hidden layers [512, 512]. Because the map is a bijection,
I(g(X1); X2) = I(X1; X2) whatever its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from infomax.encoders.mlp import _per_channel
from infomax.errors import UserError


class CouplingLayer(nn.Module):
    """One coupling on flat vectors: permute, then ``b <- b * exp(s(a)) + t(a)`` with ``(a, b)`` the halves.

    With ``scale=False`` (shift-only, "additive", NICE-style) ``s = 0`` and the log-determinant is 0;
    with ``scale=True``, ``s = tanh(.)`` (bounded for stability) and ``log|det J| = sum(s)``.

    Args:
        dim: Input width D (>= 2); ``a`` holds the first D // 2 permuted coordinates.
        hidden: Hidden widths of the shift (and log-scale) MLP.
        perm: A permutation of ``range(dim)`` applied before the coupling.
        scale: Also learn a log-scale (affine coupling) instead of a shift only.
    """

    def __init__(self, dim: int, hidden: Sequence[int], perm: Tensor, scale: bool = False) -> None:
        super().__init__()
        self.d_a = dim // 2
        self.d_b = dim - self.d_a
        self.scale = bool(scale)
        self.register_buffer("perm", perm.clone().long())
        self.register_buffer("inv_perm", torch.argsort(perm).long())
        widths = [self.d_a, *[int(h) for h in hidden]]
        mods: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            mods += [nn.Linear(a, b), nn.ReLU()]
        mods.append(nn.Linear(widths[-1], self.d_b * (2 if self.scale else 1)))
        self.net = nn.Sequential(*mods)
        for m in self.net:  # Keras' Dense defaults, as in the authors' TensorFlow code
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        if self.scale:  # log-scales start at 0: a deep affine flow would otherwise blow up at init
            nn.init.zeros_(self.net[-1].weight[self.d_b :])

    def _shift_logscale(self, a: Tensor) -> tuple[Tensor, Tensor | None]:
        out = self.net(a)  # (B, d_b) or (B, 2 d_b)
        if not self.scale:
            return out, None
        t, s = out.split(self.d_b, dim=1)
        return t, torch.tanh(s)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, D) -> (y (B, D), log|det dy/dx| (B,))."""
        x = x[:, self.perm]
        a, b = x[:, : self.d_a], x[:, self.d_a :]
        t, s = self._shift_logscale(a)
        if s is None:
            return torch.cat([a, b + t], dim=1), x.new_zeros(x.shape[0])
        return torch.cat([a, b * torch.exp(s) + t], dim=1), s.sum(dim=1)

    def inverse(self, y: Tensor) -> Tensor:
        """(B, D) -> x (B, D) with ``forward(x)[0] == y``."""
        a, b = y[:, : self.d_a], y[:, self.d_a :]
        t, s = self._shift_logscale(a)
        b = b - t if s is None else (b - t) * torch.exp(-s)
        return torch.cat([a, b], dim=1)[:, self.inv_perm]


class RealNVPEncoder(nn.Module):
    """A bijection R^D -> R^D (D = C*H*W): per-channel standardization, then ``n_layers`` couplings.

    Each coupling first applies its own fixed random permutation (drawn from ``seed``, stored as a buffer),
    so every coordinate gets transformed. Features: ``z`` (B, D).

    Args:
        in_shape: Input shape (C, H, W), e.g. (1, 14, 28) (D = 392).
        n_layers: Number of coupling layers (paper: 30).
        hidden: Hidden widths of each coupling's MLP (paper: (512, 512)).
        scale: Affine couplings with a tanh-bounded log-scale instead of shift-only ones (paper: False).
        mean: Per-channel mean used to standardize (part of the bijection; 0 = raw pixels).
        std: Per-channel standard deviation (> 0).
        seed: Seed of the permutations.

    Example:
        >>> enc = RealNVPEncoder((1, 2, 4), n_layers=3, hidden=(16,))
        >>> x = torch.rand(5, 1, 2, 4)
        >>> torch.allclose(enc.inverse(enc(x)["z"]), x, atol=1e-6)
        True
    """

    layers: tuple[str, ...] = ("z",)
    output_layer: str = "z"

    def __init__(
        self,
        in_shape: Sequence[int],
        n_layers: int = 30,
        hidden: Sequence[int] = (512, 512),
        scale: bool = False,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
        seed: int = 0,
    ) -> None:
        super().__init__()
        in_shape = tuple(int(s) for s in in_shape)
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise UserError(f"RealNVPEncoder needs in_shape (C, H, W) with positive sizes, got {in_shape}")
        dim = math.prod(in_shape)
        if dim < 2 or n_layers < 1 or any(h < 1 for h in hidden):
            raise UserError("RealNVPEncoder needs >= 2 input values, n_layers >= 1 and hidden widths >= 1")
        c = in_shape[0]
        mean, std = _per_channel(mean, c, "mean"), _per_channel(std, c, "std")
        if any(s <= 0 for s in std):
            raise UserError(f"std must be positive, got {std}")
        self.in_shape = in_shape
        self.dim = dim
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1))
        gen = torch.Generator().manual_seed(int(seed))
        self.couplings = nn.ModuleList(
            CouplingLayer(dim, hidden, torch.randperm(dim, generator=gen), scale) for _ in range(n_layers)
        )

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise UserError(
                f"RealNVPEncoder expects (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}"
            )

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) -> (z (B, D), log|det dz/dx| (B,)), the Jacobian taken w.r.t. the flat input."""
        self._check(x)
        z = ((x - self.mean) / self.std).flatten(1)  # (B, D)
        hw = self.in_shape[1] * self.in_shape[2]
        log_det = -hw * torch.log(self.std).sum() * x.new_ones(x.shape[0])  # (B,)
        for layer in self.couplings:
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """(B, C, H, W) -> {"z": (B, D)}."""
        return {"z": self.transform(x)[0]}

    def log_det(self, x: Tensor) -> Tensor:
        """log|det dz/dx| (B,): 0 for shift-only couplings and unit std."""
        return self.transform(x)[1]

    def inverse(self, z: Tensor) -> Tensor:
        """(B, D) -> x (B, C, H, W) with ``forward(x)["z"] == z`` (up to float rounding)."""
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise UserError(f"RealNVPEncoder.inverse expects (B, {self.dim}), got {tuple(z.shape)}")
        for layer in reversed(self.couplings):
            z = layer.inverse(z)
        return z.view(-1, *self.in_shape) * self.std + self.mean
