"""Export trained weights as safetensors: the whole method and the encoder (with its metadata).

``encoder.safetensors`` carries string metadata describing the representation, so it can be used without
the config::

    {"format": "infomax-encoder-1", "method": "dim", "encoder_class": "DIMConvEncoder",
     "layers": "conv,fc,y", "output_layer": "y", "code_length": "64",
     "feature_shapes": '{"conv": [256, 4, 4], "fc": [1024], "y": [64]}',
     "channels": "3", "image_size": "32", "mean": "[...]", "std": "[...]"}

Example:
    >>> from safetensors import safe_open
    >>> with safe_open("RUN_DIR/encoder.safetensors", "pt") as f:  # doctest: +SKIP
    ...     f.metadata()["layers"]
    'conv,fc,y'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_model
from torch import nn

from infomax.run import ENCODER, MODEL, atomic_path


@torch.no_grad()
def feature_shapes(encoder: nn.Module, channels: int, image_size: int) -> dict[str, list[int]]:
    """Per-item shape of every probe-able layer, from one forward pass in eval mode on a blank image."""
    was = encoder.training
    encoder.eval()
    try:
        device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
        feats = encoder(torch.zeros(1, channels, image_size, image_size, device=device))
    finally:
        encoder.train(was)
    return {k: list(feats[k].shape[1:]) for k in encoder.layers}


def encoder_metadata(encoder: nn.Module, method_name: str, info: Any) -> dict[str, str]:
    """The string metadata written into ``encoder.safetensors``."""
    shapes = feature_shapes(encoder, info.channels, info.image_size)
    code = shapes[encoder.output_layer]
    return {
        "format": "infomax-encoder-1",
        "method": method_name,
        "encoder_class": type(encoder).__name__,
        "layers": ",".join(encoder.layers),
        "output_layer": encoder.output_layer,
        "code_length": str(int(torch.tensor(code).prod())) if code else "1",
        "feature_shapes": json.dumps(shapes),
        "channels": str(info.channels),
        "image_size": str(info.image_size),
        "mean": json.dumps(list(info.mean)),
        "std": json.dumps(list(info.std)),
    }


def export_weights(method: nn.Module, run_dir: str | Path, method_name: str, info: Any) -> None:
    """Write ``model.safetensors`` (whole method) and ``encoder.safetensors`` (+ metadata), atomically."""
    run_dir = Path(run_dir)
    method = method.cpu()
    meta = encoder_metadata(method.encoder, method_name, info)
    with atomic_path(run_dir / MODEL) as tmp:
        save_model(method, str(tmp), metadata={"format": "infomax-model-1", "method": method_name})
    with atomic_path(run_dir / ENCODER) as tmp:
        save_model(method.encoder, str(tmp), metadata=meta)
