"""A fully connected encoder on flattened images: the multi-view MNIST study's MLP.

Tschannen et al., "On Mutual Information Maximization for Representation Learning", ICLR 2020
(arXiv 1907.13625), section 3: an MLP with layers [300, 300, 100] and ReLU activations on the 392 pixels
of one half of an MNIST digit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from infomax.errors import UserError


class MLPEncoder(nn.Module):
    """Flatten -> [Linear -> ReLU] * len(hidden) -> Linear(out_dim).

    Features: ``h1``, ``h2``, ... (B, hidden[k]) after each ReLU, and ``y`` (B, out_dim), the linear
    output (no activation, as in the authors' notebook).

    Args:
        in_shape: Input shape (C, H, W) of one image (or view), e.g. (1, 14, 28) for an MNIST half.
        hidden: Widths of the hidden layers (paper: (300, 300)).
        out_dim: Width of the output ``y`` (paper: 100).
        mean: Per-channel mean used to standardize the input (length C); (0,) keeps raw pixels.
        std: Per-channel standard deviation (length C).

    Example:
        >>> enc = MLPEncoder((1, 14, 28))
        >>> tuple(enc(torch.rand(4, 1, 14, 28))["y"].shape)
        (4, 100)
    """

    output_layer: str = "y"

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: Sequence[int] = (300, 300),
        out_dim: int = 100,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
    ) -> None:
        super().__init__()
        in_shape = tuple(int(s) for s in in_shape)
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise UserError(f"MLPEncoder needs in_shape (C, H, W) with positive sizes, got {in_shape}")
        if out_dim < 1 or any(h < 1 for h in hidden):
            raise UserError(f"MLPEncoder widths must be >= 1, got hidden={tuple(hidden)}, out_dim={out_dim}")
        c = in_shape[0]
        mean, std = _per_channel(mean, c, "mean"), _per_channel(std, c, "std")
        if any(s <= 0 for s in std):
            raise UserError(f"std must be positive, got {std}")
        self.in_shape = in_shape
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1))
        widths = [in_shape[0] * in_shape[1] * in_shape[2], *[int(h) for h in hidden]]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], int(out_dim))
        self.layers: tuple[str, ...] = (*[f"h{k + 1}" for k in range(len(self.hidden))], "y")
        self.out_dim = int(out_dim)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """(B, C, H, W) in [0, 1] -> {"h1": (B, hidden[0]), ..., "y": (B, out_dim)}."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            want = ", ".join(map(str, self.in_shape))
            raise UserError(f"MLPEncoder expects (B, {want}), got {tuple(x.shape)}")
        h = ((x - self.mean) / self.std).flatten(1)  # (B, C*H*W)
        feats: dict[str, Tensor] = {}
        for k, layer in enumerate(self.hidden):
            h = torch.relu(layer(h))  # (B, hidden[k])
            feats[f"h{k + 1}"] = h
        feats["y"] = self.out(h)  # (B, out_dim)
        return feats


def _per_channel(values: Sequence[float], channels: int, name: str) -> tuple[float, ...]:
    vals = tuple(float(v) for v in values)
    if len(vals) == 1:
        return vals * channels
    if len(vals) != channels:
        raise UserError(f"{name} needs 1 or {channels} values (one per channel), got {len(vals)}")
    return vals
