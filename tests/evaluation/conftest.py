"""Tiny in-test stand-ins for the evaluation tests: image splits and encoders (no real data needed)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn


def blob_images(n: int, n_classes: int = 4, side: int = 8, noise: float = 30.0, seed: int = 0):
    """uint8 (n, 1, side, side) images: class c lights up the c-th horizontal band; labels (n,) int64."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    x = np.full((n, 1, side, side), 40.0)
    band = side // n_classes
    for c in range(n_classes):
        x[labels == c, :, c * band : (c + 1) * band, :] = 200.0
    x = np.clip(x + rng.normal(0, noise, x.shape), 0, 255).astype(np.uint8)
    return x, labels.astype(np.int64)


def make_splits(n_train: int = 200, n_val: int = 60, n_test: int = 100, **kw) -> SimpleNamespace:
    """A DataSplits stand-in: train / val / test ImageArrays-like namespaces plus info."""
    out = {}
    for i, (name, n) in enumerate([("train", n_train), ("val", n_val), ("test", n_test)]):
        images, labels = blob_images(n, seed=i, **kw)
        out[name] = SimpleNamespace(images=images, labels=labels, classes=[str(c) for c in range(4)])
    side = out["train"].images.shape[-1]
    info = SimpleNamespace(name="blobs", channels=1, image_size=side, num_classes=4, mean=(0.5,), std=(0.5,))
    return SimpleNamespace(**out, info=info)


class PixelEncoder(nn.Module):
    """An encoder stand-in: "pixels" = the image itself, "y" = a fixed linear map of it (8 dims)."""

    layers = ("pixels", "y")
    output_layer = "y"

    def __init__(self, side: int = 8, y_dim: int = 8) -> None:
        super().__init__()
        self.proj = nn.Linear(side * side, y_dim)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixels": x, "y": self.proj(x.flatten(1))}


class ConstantEncoder(nn.Module):
    """Carries no information: "y" is the same vector for every image."""

    layers = ("y",)
    output_layer = "y"

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": torch.ones(len(x), 4) + 0 * self.dummy}


@pytest.fixture
def splits() -> SimpleNamespace:
    return make_splits()


@pytest.fixture
def pixel_encoder() -> PixelEncoder:
    torch.manual_seed(0)
    return PixelEncoder()


@pytest.fixture
def tiny() -> SimpleNamespace:
    """The stand-in factories, for tests that need more than the default fixtures."""
    return SimpleNamespace(
        blob_images=blob_images,
        make_splits=make_splits,
        PixelEncoder=PixelEncoder,
        ConstantEncoder=ConstantEncoder,
    )
