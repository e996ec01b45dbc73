"""``mnist``, ``fashion-mnist``: the official IDX files (LeCun et al., 1998; Xiao et al., 2017).

The four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each ``.gz`` or uncompressed) are looked for in ``<root>/mnist/``
(``<root>/fashion-mnist/``), directly in ``<root>``, then in torchvision's ``<root>/MNIST/raw/``
(``<root>/FashionMNIST/raw/``). Images (N, 1, 28, 28) in the files' order, labels 0..9.

Example:
    >>> MNIST.load_split("test", Path("/data")).images.shape  # doctest: +SKIP
    (10000, 1, 28, 28)
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from infomax.data.arrays import ImageArrays, resize_images
from infomax.data.cache import cached_split
from infomax.data.root import files_not_found
from infomax.data.sources.base import Source
from infomax.errors import UserError

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]  # fmt: skip


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a uint8 IDX file (``.gz`` or raw) with ``ndim`` dimensions (3 for images, 1 for labels).

    Raises:
        UserError: naming ``path`` if the gzip stream is broken, the magic number is wrong or the data is
            shorter/longer than its header says.

    Example:
        >>> read_idx(Path("mnist/t10k-labels-idx1-ubyte.gz"), 1)[:3]  # doctest: +SKIP
        array([7, 2, 1], dtype=uint8)
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"corrupt file {path}: {e}") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise UserError(f"corrupt file {path}: bad IDX magic number {magic} (expected {0x800 + ndim})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    n = int(np.prod(dims))
    if len(data) != header + n:
        raise UserError(f"corrupt file {path}: {len(data) - header} data bytes but the header says {n}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def _find_idx_dir(name: str, root: Path, subdir: str, tv_name: str) -> tuple[Path, list[Path]]:
    """The first folder holding all four IDX files (each ``.gz`` or uncompressed) and those four paths."""
    places = [root / subdir, root, root / tv_name / "raw"]
    bases = [b for pair in _IDX_FILES.values() for b in pair]
    for d in places:
        found = []
        for b in bases:
            cands = [d / (b + ".gz"), d / b]
            hit = next((p for p in cands if p.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return d, found
    raise files_not_found(name, ", ".join(b + "[.gz]" for b in bases), places)


def _decode(files: list[Path], classes: list[str], size: int | None) -> dict[str, ImageArrays]:
    """Both splits from the four IDX ``files`` (train images, train labels, test images, test labels)."""
    out = {}
    for i, s in enumerate(("train", "test")):
        images = read_idx(files[2 * i], 3)
        labels = read_idx(files[2 * i + 1], 1)
        if len(images) != len(labels):
            raise UserError(
                f"corrupt files {files[2 * i]}, {files[2 * i + 1]}: "
                f"{len(images)} images but {len(labels)} labels"
            )
        if labels.size and labels.max() >= len(classes):
            raise UserError(f"corrupt file {files[2 * i + 1]}: label {labels.max()} out of range")
        out[s] = ImageArrays(resize_images(images[:, None], size), labels, classes)
    return out


def idx_source(name: str, subdir: str, tv_name: str, classes: list[str]) -> Source:
    """A :class:`Source` for an MNIST-style IDX dataset in ``<root>/<subdir>``, ``<root>`` or torchvision's
    ``<root>/<tv_name>/raw``."""

    def load(split: str, root: Path, size: int | None = None) -> ImageArrays:
        _, files = _find_idx_dir(name, root, subdir, tv_name)
        return cached_split(name, {"size": size}, files, split, lambda: _decode(files, classes, size))

    load.__doc__ = f"{name}: the official IDX train/test files (see the module docstring for where)."
    return Source(name, load)


MNIST = idx_source("mnist", "mnist", "MNIST", [str(i) for i in range(10)])
FASHION_MNIST = idx_source("fashion-mnist", "fashion-mnist", "FashionMNIST", FASHION_CLASSES)
