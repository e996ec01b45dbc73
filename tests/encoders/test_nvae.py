"""NVAE-style autoencoder: latent shapes per input size, the y / y_hat split, bad sizes."""

from __future__ import annotations

import pytest
import torch

from infomax.encoders.nvae import NVAEDecoder, NVAEEncoder
from infomax.errors import UserError


@pytest.mark.parametrize("c, size, z_shape, y_ch", [
    (3, 32, (6, 16, 16), 3),  # the paper's CIFAR-10 latent 16x16x6, y 16x16x3
    (1, 28, (2, 14, 14), 1),  # Fashion-MNIST
    (1, 8, (2, 4, 4), 1),  # digits
])
def test_latent_shapes_and_split(c, size, z_shape, y_ch):
    enc, dec = NVAEEncoder(c, size, hidden=8), NVAEDecoder(c, size, hidden=8)
    x = torch.rand(3, c, size, size)
    f = enc(x)
    assert tuple(f["z"].shape) == (3, *z_shape)
    assert torch.equal(f["y"], f["z"][:, :y_ch]) and torch.equal(f["y_hat"], f["z"][:, y_ch:])
    out = dec(f["z"]).detach()
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1


def test_explicit_uneven_split():
    f = NVAEEncoder(3, 8, latent_channels=5, y_channels=2, hidden=4)(torch.rand(2, 3, 8, 8))
    assert f["y"].shape[1] == 2 and f["y_hat"].shape[1] == 3


@pytest.mark.parametrize("kw, match", [
    ({"latent_channels": 5}, "split must divide"),
    ({"latent_channels": 6, "y_channels": 6}, "y_channels"),
    ({"image_size": 7}, "even"),
])
def test_bad_sizes(kw, match):
    args = {"in_channels": 1, "image_size": 8, **kw}
    with pytest.raises(UserError, match=match):
        NVAEEncoder(**args)


def test_wrong_input_shape():
    with pytest.raises(UserError, match="expects images"):
        NVAEEncoder(1, 8)(torch.rand(2, 3, 8, 8))
