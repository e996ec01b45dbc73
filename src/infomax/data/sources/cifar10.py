"""``cifar10``: CIFAR-10 (Krizhevsky, 2009), 50000 train / 10000 test RGB 32x32 images, 10 classes.

Looked for, in order (each in ``<root>`` or ``<root>/cifar10/``):

1. the official ``cifar-10-batches-py/`` folder (``data_batch_1`` .. ``data_batch_5``, ``test_batch``),
   read with :func:`~infomax.data.safe_read.safe_unpickle` (a restricted unpickler that can only rebuild
   dicts, lists, str/bytes/ints and numpy arrays: a tampered file cannot run code), in the batches' order;
2. the ``cifar10-jpeg.tar.gz`` ImageFolder archive (``cifar10-jpeg/{train,test}/<class>/<image>``), read in
   place (no extraction);
3. an extracted ``cifar10-jpeg/`` folder.

The JPEG layouts are decoded by (class, file name) and then put in the fixed tree order
(:func:`~infomax.data.arrays.tree_order`). Images (N, 3, 32, 32), classes :data:`CIFAR10_CLASSES`.

Example:
    >>> SOURCE.load_split("test", Path("/data")).images.shape  # doctest: +SKIP
    (10000, 3, 32, 32)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infomax.data.arrays import ImageArrays, resize_images, tree_order
from infomax.data.cache import cached_split
from infomax.data.root import files_not_found
from infomax.data.safe_read import IMAGE_EXTS, image_files, iter_tar, open_image, pil_limits, safe_unpickle
from infomax.data.sources.base import Source
from infomax.errors import UserError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> uint8 images (N, 3, 32, 32) and int64 labels (N,), validated."""
    d = safe_unpickle(path)
    data = d.get("data") if isinstance(d, dict) else None
    labels = d.get("labels") if isinstance(d, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError(f"corrupt file {path}: expected a dict with uint8 'data' of shape (N, 3072)")
    try:
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"corrupt file {path}: 'labels' is not a list of integers") from None
    if len(lab) != len(data) or (lab.size and (lab.min() < 0 or lab.max() > 9)):
        raise UserError(f"corrupt file {path}: labels do not match the images")
    return data.reshape(-1, 3, 32, 32), lab  # row-major R, G, B planes -> (N, 3, 32, 32)


def _decode_cifar_pickles(folder: Path, size: int | None) -> dict[str, ImageArrays]:
    out = {}
    for split, names in _CIFAR_BATCHES.items():
        parts = [_read_cifar_batch(folder / n) for n in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        out[split] = ImageArrays(resize_images(images, size), labels, CIFAR10_CLASSES)
    return out


def _decode_labeled_tree(
    entries: Iterator[tuple[str, str, str, bytes | Path]], classes: list[str], where: Path, size: int | None
) -> dict[str, ImageArrays]:
    """Decode (split, class, file name, bytes-or-path) entries of a known RGB dataset; errors are fatal."""
    from PIL import Image

    index = {c: i for i, c in enumerate(classes)}
    items: dict[str, list[tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    with pil_limits():
        for split, cls, fname, src in entries:
            if cls not in index:
                raise UserError(
                    f"{where}: unknown class folder {split}/{cls} (expected one of {', '.join(classes)})"
                )
            try:
                with open_image(src if isinstance(src, bytes) else Path(src)) as img:
                    a = np.asarray(img.convert("RGB"))  # (H, W, 3)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                raise UserError(f"corrupt image {split}/{cls}/{fname} in {where}: {e}") from None
            items[split].append((index[cls], fname, a))
    out = {}
    for split, lst in items.items():
        if not lst:
            raise UserError(f"{where}: no images for the {split} split (expected {split}/<class>/<image>)")
        lst.sort(key=lambda t: (t[0], t[1]))
        shapes = {a.shape for _, _, a in lst}
        if len(shapes) != 1:
            raise UserError(f"{where}: images of different sizes {sorted(shapes)[:3]} in the {split} split")
        images = np.stack([a for _, _, a in lst]).transpose(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
        images = resize_images(np.ascontiguousarray(images), size)
        out[split] = tree_order(ImageArrays(images, np.array([c for c, _, _ in lst]), classes))
    return out


def _cifar_tar_entries(path: Path) -> Iterator[tuple[str, str, str, bytes]]:
    for name, data in iter_tar(path):
        parts = name.parts
        if len(parts) >= 3 and parts[-3] in ("train", "test") and name.suffix.lower() in IMAGE_EXTS:
            yield parts[-3], parts[-2], parts[-1], data


def _cifar_dir_entries(folder: Path) -> Iterator[tuple[str, str, str, Path]]:
    for split in ("train", "test"):
        for cdir in sorted(p for p in (folder / split).iterdir() if p.is_dir()):
            for f in sorted(cdir.iterdir()):
                if f.suffix.lower() in IMAGE_EXTS and f.is_file():
                    yield split, cdir.name, f.name, f


def _load(split: str, root: Path, size: int | None = None) -> ImageArrays:
    """CIFAR-10 (Krizhevsky, 2009): pickled batches, else the JPEG tar.gz, else the extracted JPEG folder."""
    batch_dirs = [root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py"]
    tars = [root / "cifar10-jpeg.tar.gz", root / "cifar10" / "cifar10-jpeg.tar.gz"]
    dirs = [root / "cifar10-jpeg", root / "cifar10" / "cifar10-jpeg"]
    opts = {"size": size}
    for d in batch_dirs:
        files = [d / n for names in _CIFAR_BATCHES.values() for n in names]
        if all(f.is_file() for f in files):
            return cached_split("cifar10-py", opts, files, split, lambda d=d: _decode_cifar_pickles(d, size))
    for t in tars:
        if t.is_file():
            return cached_split(
                "cifar10-jpeg",
                opts,
                [t],
                split,
                lambda t=t: _decode_labeled_tree(_cifar_tar_entries(t), CIFAR10_CLASSES, t, size),
            )
    for d in dirs:
        if (d / "train").is_dir() and (d / "test").is_dir():
            files = sorted(image_files(d))
            return cached_split(
                "cifar10-jpegdir",
                opts,
                files,
                split,
                lambda d=d: _decode_labeled_tree(_cifar_dir_entries(d), CIFAR10_CLASSES, d, size),
            )
    expected = (
        "cifar-10-batches-py/{data_batch_1..5,test_batch} or cifar10-jpeg.tar.gz"
        " or cifar10-jpeg/{train,test}/"
    )
    raise files_not_found("cifar10", expected, batch_dirs + tars + dirs)


SOURCE = Source("cifar10", _load)
