from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.encoders import DIMConvEncoder
from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, extract_features


@pytest.mark.parametrize(("layer", "dim"), [("conv", 256), ("fc", 1024), ("y", 64)])
def test_shapes_per_layer_for_8x8(layer, dim):
    enc = DIMConvEncoder(1, 8)
    images = np.random.default_rng(0).integers(0, 256, (10, 1, 8, 8), dtype=np.uint8)
    feats = extract_features(enc, images, layer, batch_size=4)
    assert feats.shape == (10, dim) and feats.dtype == np.float32


def test_matches_eval_forward_and_restores_mode(tiny):
    torch.manual_seed(0)
    enc = DIMConvEncoder(1, 8)
    enc.train()
    images, _ = tiny.blob_images(7)
    bn_before = enc.fc[1].running_mean.clone()
    feats = extract_features(enc, images, "fc", batch_size=3)  # batches of 3, 3, 1
    assert enc.training  # mode restored
    assert torch.equal(enc.fc[1].running_mean, bn_before)  # eval mode: BN statistics untouched
    enc.eval()
    with torch.no_grad():
        ref = enc(torch.from_numpy(images).float() / 255)["fc"].numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-6)


def test_flattens_maps_and_default_layer(tiny):
    enc = tiny.PixelEncoder()
    images, _ = tiny.blob_images(5)
    np.testing.assert_allclose(
        extract_features(enc, images, "pixels"), images.reshape(5, -1) / 255.0, rtol=1e-6
    )
    assert extract_features(enc, images).shape == (5, 8)  # output_layer "y"
    assert extract_features(enc, images[:0], "pixels").shape == (0, 64)


def test_bad_layer_and_shape_are_user_errors(tiny):
    enc = tiny.PixelEncoder()
    with pytest.raises(UserError, match="unknown layer 'fc'"):
        extract_features(enc, np.zeros((2, 1, 8, 8), np.uint8), "fc")
    with pytest.raises(UserError, match=r"\(N, C, H, W\)"):
        extract_features(enc, np.zeros((2, 8, 8), np.uint8), "y")


def test_as_encoder_unwraps_methods_and_runs(tiny):
    from types import SimpleNamespace

    enc = tiny.PixelEncoder()
    assert as_encoder(enc) is enc
    assert as_encoder(SimpleNamespace(encoder=enc)) is enc
    assert as_encoder(SimpleNamespace(method=SimpleNamespace(encoder=enc))) is enc
    with pytest.raises(UserError):
        as_encoder(object())


class _Counting(torch.nn.Module):
    """Records the images of every forward pass; "pixels" (64) and "y" (8) features."""

    layers = ("pixels", "y")
    output_layer = "y"

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(64, 8)
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return {"pixels": x.flatten(1), "y": self.proj(x.flatten(1))}


def test_feature_cache_one_pass_per_split_for_every_layer(tiny):
    from infomax.evaluation.features import feature_cache

    torch.manual_seed(0)
    enc = _Counting()
    train, _ = tiny.blob_images(30)
    test, _ = tiny.blob_images(12, seed=1)
    ref = {(n, layer): extract_features(enc, imgs, layer) for n, imgs in (("train", train), ("test", test))
           for layer in enc.layers}
    enc.seen = 0
    with feature_cache(enc.layers) as cache:
        for layer in ("y", "pixels"):
            for imgs, name in ((train, "train"), (test, "test"), (train, "train")):
                feats = extract_features(enc, imgs, layer, batch_size=7)
                np.testing.assert_array_equal(feats, ref[name, layer])
        # one pass over each split computed both layers (+ one blank image each, sizing the layers)
        assert enc.seen == 30 + 12 + 2
        assert cache.hits == 4
        np.testing.assert_array_equal(extract_features(enc, train[:10], "y"), ref["train", "y"][:10])
        assert enc.seen == 44 + 10 + 1  # another slice is other images
    extract_features(enc, train, "y")
    assert enc.seen == 55 + 30  # the cache ends with its block


def test_feature_cache_within_a_memory_budget_computes_only_the_layer_asked_for(tiny):
    from infomax.evaluation.features import feature_cache

    enc = _Counting()
    images, _ = tiny.blob_images(20)
    with feature_cache(enc.layers, max_bytes=4 * 20 * 64) as cache:  # room for "pixels" or "y", not both
        extract_features(enc, images, "y")
        assert len(cache.store) == 1
        extract_features(enc, images, "pixels")
        extract_features(enc, images, "y")
        assert enc.seen == 1 + 40 and len(cache.store) == 2 and cache.hits == 1  # (1: the sizing image)
