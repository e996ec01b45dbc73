"""The CRITICS table: every entry builds and maps (N, Dx), (M, Dy) to (N, M)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from infomax.critics import CRITICS

ARGS: dict[str, dict[str, Any]] = {
    "inner": {},
    "bilinear": {"x_dim": 4, "y_dim": 4},
    "separable": {"x_dim": 4, "y_dim": 4, "hidden": (8,), "embed_dim": 3},
    "concat": {"x_dim": 4, "y_dim": 4, "hidden": (8,)},
    "stabilized": {"dim": 4},
}


def test_table_covers_all() -> None:
    assert set(CRITICS) == set(ARGS)


@pytest.mark.parametrize("name", sorted(ARGS))
def test_output_shape_and_gradient(name: str) -> None:
    crit = CRITICS[name](**ARGS[name])
    x = torch.randn(3, 4, requires_grad=True)
    s = crit(x, torch.randn(5, 4))
    assert s.shape == (3, 5)
    s.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
