from __future__ import annotations

import pytest
import torch

from infomax.encoders.dim_conv import DIMConvEncoder, dim_conv_map_sizes
from infomax.errors import UserError


@pytest.mark.parametrize(
    ("size", "channels", "local_side", "conv_side"),
    [(32, 3, 8, 4), (28, 1, 7, 3), (8, 1, 2, 1)],
)
def test_feature_shapes(size: int, channels: int, local_side: int, conv_side: int) -> None:
    enc = DIMConvEncoder(channels, size, y_dim=64, mean=(0.5,) * channels, std=(0.25,) * channels)
    feats = enc(torch.rand(3, channels, size, size))
    assert feats["local"].shape == (3, 128, local_side, local_side)
    assert feats["conv"].shape == (3, 256, conv_side, conv_side)
    assert feats["fc"].shape == (3, 1024)
    assert feats["y"].shape == (3, 64)
    assert enc.layers == ("conv", "fc", "y") and enc.output_layer == "y"
    assert dim_conv_map_sizes(size)[1:] == (local_side, conv_side)
    # local and conv maps come after BN + ReLU
    assert feats["local"].min() >= 0 and feats["conv"].min() >= 0


def test_rejects_bad_sizes() -> None:
    with pytest.raises(UserError, match="side >= 8"):
        DIMConvEncoder(1, 7)
    enc = DIMConvEncoder(1, 28)
    with pytest.raises(UserError, match=r"\(B, 1, 28, 28\)"):
        enc(torch.rand(2, 3, 28, 28))
    with pytest.raises(UserError, match="mean/std"):
        DIMConvEncoder(3, 32, mean=(0.5,), std=(0.5,))


def test_standardizes_with_mean_std() -> None:
    # Two encoders with the same weights: one sees x with (mean, std), the other the pre-standardized
    # input with (0, 1); their features must agree.
    a = DIMConvEncoder(3, 8, mean=(0.2, 0.4, 0.6), std=(0.1, 0.2, 0.3)).eval()
    b = DIMConvEncoder(3, 8, mean=(0.0,) * 3, std=(1.0,) * 3).eval()
    b.load_state_dict({k: v for k, v in a.state_dict().items() if k not in ("mean", "std")}, strict=False)
    x = torch.rand(2, 3, 8, 8)
    z = (x - torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)) / torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    torch.testing.assert_close(a(x)["y"], b(z)["y"])


@pytest.mark.parametrize(("r", "c"), [(0, 0), (3, 5), (7, 7)])
def test_local_receptive_field_matches_documented_geometry(r: int, c: int) -> None:
    # In eval mode each sample is independent: the input pixels with a nonzero gradient on one local
    # location are exactly its receptive field, rows/cols 4r-3 .. 4r+6 clipped to the image.
    enc = DIMConvEncoder(1, 32, mean=(0.0,), std=(1.0,)).eval()
    with torch.no_grad():  # strictly positive pre-activations so no ReLU hides a pixel
        for m in enc.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.uniform_(0.01, 0.1)
    x = (torch.rand(1, 1, 32, 32) + 0.1).requires_grad_()
    enc.forward_local(x)[0, :, r, c].sum().backward()
    hit = x.grad[0, 0] != 0
    lo = lambda p: max(0, enc.local_rf_start + p * enc.local_rf_stride)  # noqa: E731
    hi = lambda p: min(31, enc.local_rf_start + p * enc.local_rf_stride + enc.local_rf_size - 1)  # noqa: E731
    want = torch.zeros(32, 32, dtype=torch.bool)
    want[lo(r) : hi(r) + 1, lo(c) : hi(c) + 1] = True
    assert torch.equal(hit, want)
