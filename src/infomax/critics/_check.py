"""Input checks shared by the critics."""

from __future__ import annotations

from torch import Tensor

from infomax.errors import UserError


def check_pair(x: Tensor, y: Tensor, x_dim: int | None = None, y_dim: int | None = None) -> None:
    """Both inputs 2-D (N, Dx), (M, Dy), with the expected feature sizes when given."""
    if x.dim() != 2 or y.dim() != 2:
        raise UserError(f"critic inputs must be 2-D (N, D), got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x_dim is not None and x.shape[1] != x_dim:
        raise UserError(f"critic expected x with {x_dim} features, got {x.shape[1]}")
    if y_dim is not None and y.shape[1] != y_dim:
        raise UserError(f"critic expected y with {y_dim} features, got {y.shape[1]}")
