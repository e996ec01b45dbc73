"""MLPEncoder: shapes, agreement with a hand-written forward, standardization, bad input."""

from __future__ import annotations

import pytest
import torch

from infomax.encoders import MLPEncoder
from infomax.errors import UserError


def test_shapes_and_layers() -> None:
    enc = MLPEncoder((1, 14, 28))
    feats = enc(torch.rand(5, 1, 14, 28))
    assert enc.layers == ("h1", "h2", "y") and enc.output_layer == "y"
    assert {k: tuple(v.shape) for k, v in feats.items()} == {"h1": (5, 300), "h2": (5, 300), "y": (5, 100)}
    # the paper's MLP on a 392-pixel half: 392*300+300 + 300*300+300 + 300*100+100 parameters
    assert sum(p.numel() for p in enc.parameters()) == 392 * 300 + 300 + 300 * 300 + 300 + 300 * 100 + 100


def test_matches_hand_written_forward() -> None:
    enc = MLPEncoder((2, 3, 4), hidden=(7,), out_dim=5, mean=(0.5, 0.1), std=(2.0, 0.5))
    x = torch.rand(6, 2, 3, 4)
    z = x.clone()
    z[:, 0] = (z[:, 0] - 0.5) / 2.0
    z[:, 1] = (z[:, 1] - 0.1) / 0.5
    h = torch.relu(z.reshape(6, 24) @ enc.hidden[0].weight.T + enc.hidden[0].bias)
    y = h @ enc.out.weight.T + enc.out.bias
    out = enc(x)
    torch.testing.assert_close(out["h1"], h)
    torch.testing.assert_close(out["y"], y)
    assert bool((out["h1"] >= 0).all())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_shape": (14, 28)},
        {"in_shape": (1, 14, 28), "out_dim": 0},
        {"in_shape": (1, 14, 28), "std": (0.0,)},
        {"in_shape": (2, 14, 28), "mean": (0.1, 0.2, 0.3)},
    ],
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(UserError):
        MLPEncoder(**kwargs)


def test_wrong_input_shape() -> None:
    with pytest.raises(UserError, match="expects"):
        MLPEncoder((1, 14, 28))(torch.rand(2, 1, 28, 28))
