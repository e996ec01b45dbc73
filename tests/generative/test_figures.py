"""Interpolations of z, y only, y_hat only; PNG grids."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from infomax.errors import UserError
from infomax.generative.figures import interpolate, save_grid


def test_interpolation_modes():
    z0, z1 = torch.randn(2, 6, 4, 4), torch.randn(2, 6, 4, 4)
    full = interpolate(z0, z1, 3, "z", n=5)
    assert full.shape == (2, 5, 6, 4, 4)
    torch.testing.assert_close(full[:, 0], z0)
    torch.testing.assert_close(full[:, -1], z1)
    torch.testing.assert_close(full[:, 2], 0.5 * z0 + 0.5 * z1)
    y = interpolate(z0, z1, 3, "y", n=5)
    torch.testing.assert_close(y[:, -1, :3], z1[:, :3])
    assert torch.equal(y[:, -1, 3:], z0[:, 3:])  # y_hat stays that of z0
    yh = interpolate(z0, z1, 3, "y_hat", n=5)
    assert torch.equal(yh[:, -1, :3], z0[:, :3])
    torch.testing.assert_close(yh[:, -1, 3:], z1[:, 3:])
    with pytest.raises(UserError, match="unknown interpolation"):
        interpolate(z0, z1, 3, "x")


@pytest.mark.parametrize("c", [1, 3])
def test_save_grid(tmp_path, c):
    imgs = torch.rand(10, c, 8, 8)
    path = save_grid(imgs, tmp_path / "g.png", nrow=4, pad=2, scale=1)
    im = Image.open(path)
    assert im.size == (4 * 10 + 2, 3 * 10 + 2)  # 4 columns, 3 rows of 8 + 2 padding
    assert im.mode == ("L" if c == 1 else "RGB")
