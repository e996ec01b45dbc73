"""A plain MLP builder shared by the learned critics."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

from torch import nn

from infomax.errors import UserError

#: activation name -> module class.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (UserError for an unknown name)."""
    if name not in ACTIVATIONS:
        raise UserError(f"unknown activation {name!r}; choose one of: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]()


def check_dropout(p: float) -> None:
    """UserError unless 0 <= p < 1."""
    if not (isinstance(p, Real) and 0 <= p < 1):
        raise UserError(f"dropout must be in [0, 1), got {p}")


def mlp(
    in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "relu", dropout: float = 0.0
) -> nn.Sequential:
    """Linear-act-...-Linear: ``in_dim -> hidden[0] -> ... -> out_dim`` (no activation on the output).

    With ``dropout`` > 0 every hidden activation is followed by ``nn.Dropout(dropout)`` (active in training
    mode only); with 0 (the default) the layers, and the module names of the state dict, are as without it.
    """
    dims = [int(in_dim), *[int(h) for h in hidden], int(out_dim)]
    if any(d < 1 for d in dims):
        raise UserError(f"layer sizes must be positive, got {dims}")
    check_dropout(dropout)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
