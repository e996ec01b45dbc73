"""ConvNetEncoder: the paper's sizes, LayerNorm over channels, pooling, bad input."""

from __future__ import annotations

import pytest
import torch

from infomax.encoders import ConvNetEncoder
from infomax.errors import UserError


def test_shapes_match_tensorflow_same_padding() -> None:
    enc = ConvNetEncoder((1, 14, 28))
    feats = enc(torch.rand(3, 1, 14, 28))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "conv1": (3, 64, 7, 14),  # ceil(14/2), ceil(28/2) as TF "same", stride 2
        "conv2": (3, 128, 4, 7),
        "pool": (3, 128),
        "y": (3, 100),
    }
    assert enc.layers == ("conv1", "conv2", "pool", "y") and enc.output_layer == "y"
    n = (25 * 64 + 64) + (64 * 25 * 128 + 128) + 2 * 128 + (128 * 100 + 100)
    assert sum(p.numel() for p in enc.parameters()) == n


def test_layernorm_over_channels_and_pooling() -> None:
    enc = ConvNetEncoder((1, 14, 28), channels=8, out_dim=3)
    with torch.no_grad():
        enc.conv2.bias.add_(torch.randn(16))  # a non-trivial map before the norm
    feats = enc(torch.rand(4, 1, 14, 28))
    c2 = feats["conv2"]  # (4, 16, 4, 7); LN at init is the plain standardization over the 16 channels
    torch.testing.assert_close(c2.mean(1), torch.zeros(4, 4, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(c2.var(1, unbiased=False), torch.ones(4, 4, 7), atol=1e-3, rtol=0)
    torch.testing.assert_close(feats["pool"], c2.mean(dim=(2, 3)))
    torch.testing.assert_close(feats["y"], feats["pool"] @ enc.fc.weight.T + enc.fc.bias)


def test_bad_input() -> None:
    with pytest.raises(UserError):
        ConvNetEncoder((1, 14, 28), kernel_size=4)
    with pytest.raises(UserError, match="expects"):
        ConvNetEncoder((1, 14, 28))(torch.rand(2, 14, 28))
