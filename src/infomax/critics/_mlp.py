"""A plain MLP builder shared by the learned critics."""

from __future__ import annotations

from collections.abc import Sequence

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


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "relu") -> nn.Sequential:
    """Linear-act-...-Linear: ``in_dim -> hidden[0] -> ... -> out_dim`` (no activation on the output)."""
    dims = [int(in_dim), *[int(h) for h in hidden], int(out_dim)]
    if any(d < 1 for d in dims):
        raise UserError(f"layer sizes must be positive, got {dims}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(activation(act))
    return nn.Sequential(*layers)
