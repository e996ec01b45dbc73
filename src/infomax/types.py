"""Interfaces shared across infomax. Imports nothing from the package.

Index convention, fixed once for the whole project: a critic returns ``scores`` of shape (N, M) with
``scores[i, j] = T(x_i, y_j)``; when N == M the positive pairs are on the diagonal. Otherwise (or for
several positives per row) a boolean ``pos_mask`` of the same shape marks the positives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from torch import Tensor

#: A method's output: must hold "loss" (scalar to minimise for the "main" parameter group),
#: optionally "loss/<group>" for extra optimiser groups, and any scalars to log ("mi/infonce", ...).
LossDict = dict[str, Tensor]

#: A batch as the engine hands it to a method: images float32 (B, C, H, W) in [0, 1], labels int64 (B,)
#: with -1 for unlabeled items.
Batch = tuple[Tensor, Tensor]


@runtime_checkable
class Encoder(Protocol):
    """An image encoder exposing named features.

    ``forward(x)`` takes (B, C, H, W) images in [0, 1] and returns a dict of named features, e.g.
    ``{"local": (B,128,8,8), "conv": (B,256,4,4), "fc": (B,1024), "y": (B,64)}``.
    ``layers`` lists the names usable for probes; ``output_layer`` names the representation.
    """

    layers: tuple[str, ...]
    output_layer: str

    def __call__(self, x: Tensor) -> Mapping[str, Tensor]: ...

