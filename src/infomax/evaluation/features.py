"""Features of a named layer of a frozen encoder, as a numpy matrix for the probes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from infomax.errors import UserError
from infomax.progress import bar


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


@dataclass
class _Cache:
    layers: tuple[str, ...]
    max_bytes: int
    # (id(encoder), layer, address, shape, strides, dtype) -> features; the images and encoder are kept
    # alive in ``keep`` so that no other array can reuse an address while the cache lives
    store: dict[tuple, np.ndarray] = field(default_factory=dict)
    keep: list[Any] = field(default_factory=list)
    hits: int = 0
    # results computed from cached arrays (see ``cached``), keyed by what they were computed from
    results: dict[tuple, Any] = field(default_factory=dict)


_CACHE: ContextVar[_Cache | None] = ContextVar("infomax_feature_cache", default=None)


@contextmanager
def feature_cache(layers: Sequence[str] = (), max_bytes: int = 2 << 30) -> Iterator[_Cache]:
    """Within the block, :func:`extract_features` computes each (encoder, images, layer) once.

    On a miss it also computes, in the same forward passes, every other layer of ``layers`` not yet cached
    for those images, as long as all of them together take at most ``max_bytes`` (else only the layer asked
    for), so ``infomax eval --layer all`` runs the encoder over each split once instead of once per layer.
    Images are recognised by their memory (address, shape, strides): the same array or the same slice
    of it. The features are dropped when the block ends.

    Example:
        >>> with feature_cache(("fc", "y")):  # doctest: +SKIP
        ...     a = extract_features(enc, images, "fc")  # one pass computes fc and y
        ...     b = extract_features(enc, images, "y")  # from the cache
    """
    cache = _Cache(tuple(layers), max_bytes)
    token = _CACHE.set(cache)
    try:
        yield cache
    finally:
        _CACHE.reset(token)


def array_key(a: Any) -> tuple | None:
    """``(address, shape, strides, dtype)`` of a numpy array (None for anything else): names the array
    inside :func:`feature_cache`, which keeps what it caches alive so no other array can take the address."""
    if not isinstance(a, np.ndarray):
        return None
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _key(encoder: nn.Module, images: Any, layer: str) -> tuple | None:
    k = array_key(images)
    return None if k is None else (id(encoder), layer, *k)


T = TypeVar("T")


def cached(key: tuple | None, compute: Callable[[], T], keep: Any = None) -> T:
    """``compute()``, once per ``key`` inside :func:`feature_cache` (each call outside one, or with key None).

    For results that several layers of one ``infomax eval --layer all`` share (the unseen-class items, the
    DIMCO codes' few-shot accuracy): the key must name everything the result depends on, arrays by
    :func:`array_key`; ``keep`` (e.g. an array named in the key) is kept alive while the cache lives.

    Example:
        >>> with feature_cache():
        ...     a = cached(("sum", 3), lambda: sum(range(3)))
        ...     b = cached(("sum", 3), lambda: 1 / 0)  # not computed again
        >>> a, b
        (3, 3)
    """
    cache = _CACHE.get()
    if cache is None or key is None:
        return compute()
    if key in cache.results:
        cache.hits += 1
    else:
        cache.results[key] = compute()
        cache.keep.append(keep)
    return cache.results[key]


def extract_features(
    encoder: nn.Module,
    images_uint8: np.ndarray,
    layer: str | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    split: str | None = None,
) -> np.ndarray:
    """Flattened features of ``layer`` for every image, computed in eval mode without gradients.

    The encoder's train/eval mode is restored afterwards. Inside :func:`feature_cache` the result is
    reused (do not modify it in place). With ``split`` given, a progress bar labelled
    ``features <layer>: <split>`` is shown per :mod:`infomax.progress` (without it, none: e.g. the online
    probe inside a training epoch's bar).

    Args:
        encoder: an encoder returning a dict of named features (see ``infomax.types.Encoder``).
        images_uint8: uint8 images (N, C, H, W) with values 0..255.
        layer: a name in ``encoder.layers``; default ``encoder.output_layer``.
        batch_size: images per forward pass.
        device: where to run the encoder (it is moved there).
        split: what the images are (``"train"``, ``"test"``...): the progress bar's label (None: no bar).

    Returns:
        float32 array (N, D) with D the flattened size of the layer (e.g. 256*4*4 for "conv").

    Example:
        >>> feats = extract_features(enc, splits.test.images, "fc")  # doctest: +SKIP
        >>> feats.shape  # doctest: +SKIP
        (10000, 1024)
    """
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    images = np.asarray(images_uint8) if not isinstance(images_uint8, torch.Tensor) else images_uint8
    if images.ndim != 4:
        raise UserError(f"expected images of shape (N, C, H, W), got shape {tuple(images.shape)}")
    if batch_size < 1:
        raise UserError("batch_size must be >= 1")
    cache = _CACHE.get()
    key = _key(encoder, images, layer) if cache is not None else None
    if key is None:
        return _extract(encoder, images, (layer,), batch_size, device, split)[layer]
    if key in cache.store:
        cache.hits += 1
        return cache.store[key]
    wanted = [layer] + [name for name in cache.layers if name != layer and name in encoder.layers
                        and _key(encoder, images, name) not in cache.store]
    if len(wanted) > 1:
        dims = _layer_dims(encoder, images, wanted, device)
        if 4 * len(images) * sum(dims.values()) > cache.max_bytes:
            wanted = [layer]
    out = _extract(encoder, images, tuple(wanted), batch_size, device, split)
    for name, feats in out.items():
        cache.store[_key(encoder, images, name)] = feats
    cache.keep.append((encoder, images))
    return out[layer]


def _layer_dims(encoder: nn.Module, images: np.ndarray, layers: Sequence[str], device: str) -> dict[str, int]:
    """Flattened width of each layer, from one forward pass on a blank image."""
    was_training = encoder.training
    encoder.to(device).eval()
    try:
        with torch.no_grad():
            feats = encoder(to_float_images(np.zeros((1, *images.shape[1:]), np.uint8), device))
    finally:
        encoder.train(was_training)
    return {name: int(feats[name][0].numel()) for name in layers}


def _extract(
    encoder: nn.Module, images: Any, layers: tuple[str, ...], batch_size: int, device: str, split: str | None
) -> dict[str, np.ndarray]:
    """{layer: float32 (N, D)} of every layer in ``layers``, from one pass over ``images``."""
    was_training = encoder.training
    encoder.to(device).eval()
    out: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    desc = f"features {','.join(layers)}" + (f": {split}" if split else "")
    try:
        shown = None if split else False
        with torch.no_grad(), bar(total=len(images), desc=desc, unit="img", enabled=shown) as progress:
            for start in range(0, len(images), batch_size):
                x = to_float_images(images[start : start + batch_size], device)  # (B, C, H, W)
                feats = encoder(x)
                for name in layers:
                    out[name].append(feats[name].flatten(1).float().cpu().numpy())  # (B, D)
                progress.update(len(x))
            if not len(images):  # no images: still report the feature width
                dummy = encoder(to_float_images(np.zeros((1, *images.shape[1:]), np.uint8), device))
                for name in layers:
                    out[name].append(dummy[name].flatten(1).float().cpu().numpy()[:0])
    finally:
        encoder.train(was_training)
    return {name: np.concatenate(parts).astype(np.float32, copy=False) for name, parts in out.items()}
