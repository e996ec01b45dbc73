"""AMDIMEncoder: map sizes, size checks, no padding (stationary features), mean-pool shortcuts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infomax.encoders.amdim import AMDIMEncoder, ConvResNxN, amdim_map_sizes
from infomax.errors import UserError


@pytest.mark.parametrize("size", [32, 33, 34, 35])
def test_maps_have_the_documented_sizes(size: int) -> None:
    enc = AMDIMEncoder(3, size, ndf=4, n_rkhs=8)
    out = enc(torch.rand(2, 3, size, size))
    assert tuple(out["f1"].shape) == (2, 8)
    assert tuple(out["f5"].shape) == (2, 8, 5, 5)
    assert tuple(out["f7"].shape) == (2, 8, 7, 7)
    t = enc.trunk(torch.rand(2, 3, size, size))
    assert tuple(t["h7"].shape) == (2, 16, 7, 7) and tuple(t["h5"].shape) == (2, 16, 5, 5)


def test_map_sizes_for_32() -> None:
    assert amdim_map_sizes(32) == {"stem": 30, "block1": 14, "f7": 7, "f5": 5, "block4": 3, "f1": 1}


@pytest.mark.parametrize("size", [28, 31, 36, 64])
def test_unsupported_sizes_name_the_working_ones(size: int) -> None:
    with pytest.raises(UserError, match="32-35"):
        AMDIMEncoder(3, size)


def test_wrong_input_shape_is_a_user_error() -> None:
    with pytest.raises(UserError, match="expects images"):
        AMDIMEncoder(3, 32, ndf=4, n_rkhs=8)(torch.rand(2, 1, 32, 32))


def test_no_convolution_pads() -> None:
    enc = AMDIMEncoder(3, 32, ndf=4, n_rkhs=8, depth=2)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.padding == (0, 0) for m in convs)


def test_constant_image_gives_spatially_constant_maps() -> None:
    # Without padding every location sees the same input window of a constant image, so every map is
    # constant over space (zero padding would make the border locations differ).
    enc = AMDIMEncoder(3, 32, ndf=4, n_rkhs=8, depth=2).eval()
    x = torch.full((1, 3, 32, 32), 0.3)
    with torch.no_grad():
        out = enc(x)
    for name in ("f5", "f7"):
        m = out[name][0]  # (D, h, w)
        assert torch.allclose(m, m[:, :1, :1].expand_as(m), atol=1e-5), name


def test_residual_shortcut_is_mean_pool_with_zero_channels() -> None:
    layer = ConvResNxN(2, 5, width=4, stride=2)
    nn.init.zeros_(layer.conv2.weight)  # residual branch off: the output is the shortcut alone
    x = torch.randn(3, 2, 10, 10)
    out = layer(x)
    pooled = F.avg_pool2d(x, 4, 2)  # (3, 2, 4, 4)
    assert tuple(out.shape) == (3, 5, 4, 4)
    assert torch.allclose(out[:, :2], pooled, atol=1e-6)
    assert torch.equal(out[:, 2:], torch.zeros(3, 3, 4, 4))
