"""Features of a named layer of a frozen encoder, as a numpy matrix for the probes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from infomax.errors import UserError


def as_encoder(obj: Any) -> nn.Module:
    """The encoder inside ``obj``: an encoder itself, a method (``.encoder``) or a Run (``.method.encoder``).

    Protocols accept any of the three so that ``PROTOCOLS[name](run, ...)`` and
    ``PROTOCOLS[name](encoder, ...)`` both work.
    """
    if hasattr(obj, "layers") and hasattr(obj, "output_layer"):
        return obj
    if hasattr(obj, "method") and hasattr(obj.method, "encoder"):
        return obj.method.encoder
    if hasattr(obj, "encoder"):
        return obj.encoder
    raise UserError(f"expected an encoder, a method or a run, got {type(obj).__name__}")


def check_layer(encoder: nn.Module, layer: str | None) -> str:
    """``layer`` (default: the encoder's ``output_layer``), or a UserError naming the valid layers."""
    layer = layer or encoder.output_layer
    if layer not in encoder.layers:
        raise UserError(f"unknown layer {layer!r}; this encoder has: {', '.join(encoder.layers)}")
    return layer


def to_float_images(images: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 (B, C, H, W) in [0, 1] on ``device`` (float input is passed through)."""
    x = torch.as_tensor(images).to(device)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def extract_features(
    encoder: nn.Module,
    images_uint8: np.ndarray,
    layer: str | None = None,
    batch_size: int = 256,
    device: str = "cpu",
) -> np.ndarray:
    """Flattened features of ``layer`` for every image, computed in eval mode without gradients.

    The encoder's train/eval mode is restored afterwards.

    Args:
        encoder: an encoder returning a dict of named features (see ``infomax.types.Encoder``).
        images_uint8: uint8 images (N, C, H, W) with values 0..255.
        layer: a name in ``encoder.layers``; default ``encoder.output_layer``.
        batch_size: images per forward pass.
        device: where to run the encoder (it is moved there).

    Returns:
        float32 array (N, D) with D the flattened size of the layer (e.g. 256*4*4 for "conv").

    Example:
        >>> feats = extract_features(enc, splits.test.images, "fc")  # doctest: +SKIP
        >>> feats.shape
        (10000, 1024)
    """
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    images = np.asarray(images_uint8) if not isinstance(images_uint8, torch.Tensor) else images_uint8
    if images.ndim != 4:
        raise UserError(f"expected images of shape (N, C, H, W), got shape {tuple(images.shape)}")
    if batch_size < 1:
        raise UserError("batch_size must be >= 1")
    was_training = encoder.training
    encoder.to(device).eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x = to_float_images(images[start : start + batch_size], device)  # (B, C, H, W)
                out.append(encoder(x)[layer].flatten(1).float().cpu().numpy())  # (B, D)
            if not out:  # no images: still report the feature width
                dummy = to_float_images(np.zeros((1, *images.shape[1:]), np.uint8), device)
                out.append(encoder(dummy)[layer].flatten(1).float().cpu().numpy()[:0])
    finally:
        encoder.train(was_training)
    return np.concatenate(out).astype(np.float32, copy=False)
