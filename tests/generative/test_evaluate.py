"""Reconstruction MSE units (per pixel, per image) and interpolation change, on a hand-checkable stub."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from infomax.generative.evaluate import interpolation_figures, reconstruction_mse


class _Identity(nn.Module):
    y_channels = 1

    def forward(self, x):
        return {"z": x}


class _Stub(nn.Module):
    """z = x (as a 'latent' of 2 channels: y = channel 0); decode(z) = z / 2 (so x_hat = x / 2)."""

    def __init__(self, mix=False):
        super().__init__()
        self.encoder, self.mix = _Identity(), mix

    def decode(self, z):  # mix: a one-channel image (z_0 + z_1) / 2 from the 2-channel latent
        return (z[:, :1] + z[:, 1:]) / 2 if self.mix else z / 2


def test_reconstruction_mse_units():
    imgs = np.full((3, 2, 4, 4), 200, dtype=np.uint8)
    out = reconstruction_mse(_Stub(), imgs, batch_size=2)
    per_pixel = (200 / 255 / 2) ** 2
    assert out["mse_per_pixel"] == pytest.approx(per_pixel)
    assert out["mse_per_image"] == pytest.approx(per_pixel * 32)
    assert out["n_images"] == 3


def test_interpolation_change_per_mode(tmp_path):
    imgs = np.zeros((4, 2, 4, 4), dtype=np.uint8)
    imgs[2:, 0] = 255  # the second images differ from the first in channel 0 (y) only
    change = interpolation_figures(_Stub(mix=True), imgs, tmp_path, n_steps=3, pairs=2)
    assert change["z"] == pytest.approx(0.25) and change["y"] == pytest.approx(0.25)  # (1/2)^2
    assert change["y_hat"] == 0.0
    assert all((tmp_path / "plots" / f"interp_{m}.png").is_file() for m in ("z", "y", "y_hat"))
