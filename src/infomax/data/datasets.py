"""Image datasets as uint8 arrays: :func:`load_split`, :func:`load_dataset` and the dataset names.

Every dataset is loaded as :class:`ImageArrays` (uint8 images (N, C, H, W), int64 labels (N,) with -1 for
unlabeled items, class names). The names are the keys of :data:`~infomax.data.sources.SOURCES`, each
documented in its own module:

- ``digits`` (:mod:`.sources.digits`): scikit-learn's bundled 8x8 digits, no files; 1500 train / 297 test.
- ``mnist``, ``fashion-mnist`` (:mod:`.sources.idx`): the official IDX files.
- ``cifar10`` (:mod:`.sources.cifar10`): ``cifar-10-batches-py`` (restricted unpickler), else the
  ``cifar10-jpeg.tar.gz`` archive (read in place), else an extracted ``cifar10-jpeg/`` folder.
- ``omniglot`` (:mod:`.sources.omniglot`): splits ``"background"`` / ``"evaluation"`` (aliases ``"train"``
  / ``"test"``), 28x28 by default.
- ``folder:PATH`` (:mod:`.sources.folder`): any ImageFolder tree; a ``test`` split is carved if missing.

``size`` (keyword of :func:`load_split` / :func:`load_dataset`) resizes any dataset (antialiased bilinear
for ``digits``/``mnist``/``fashion-mnist``/``cifar10``).

The rest of the package: :mod:`.arrays` (containers, statistics, resizing, tree order), :mod:`.root` (the
data root: ``--data-root``, ``$INFOMAX_DATA``, the user cache dir), :mod:`.cache` (decoded arrays cached
once as ``.npz`` keyed by the source files' path, size and mtime), :mod:`.safe_read` (decompression-bomb
limits, in-place tar reading, the restricted unpickler). This module re-exports their public names.

Order: datasets decoded from a tree of files (the CIFAR-10 JPEG archive or folder, Omniglot, ``folder:PATH``)
would come out sorted by class; each of their splits is put in one fixed random order (numpy generator seed
``TREE_ORDER_SEED``), as the official CIFAR-10 batches and the IDX files already are, so that any prefix
``images[:n]`` (a capped probe, the first test images of a metric) is a sample of every class, not the
first classes only.

Example:
    >>> splits = load_dataset("digits")
    >>> splits.train.images.shape, splits.info.num_classes
    ((1350, 1, 8, 8), 10)
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from infomax.data.arrays import (
    TREE_ORDER_SEED,
    DataInfo,
    DataSplits,
    ImageArrays,
    ImageTensorDataset,
    channel_stats,
)
from infomax.data.cache import decoded_cache_dir
from infomax.data.root import resolve_data_root, user_cache_dir
from infomax.data.safe_read import MAX_IMAGE_PIXELS
from infomax.data.sources import SOURCES, Source
from infomax.data.sources.cifar10 import CIFAR10_CLASSES
from infomax.data.sources.digits import DIGITS_TRAIN_SIZE
from infomax.data.sources.folder import FOLDER_TEST_FRACTION
from infomax.data.sources.idx import FASHION_CLASSES, read_idx
from infomax.data.sources.omniglot import OMNIGLOT_DEFAULT_SIZE
from infomax.errors import UserError

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "DIGITS_TRAIN_SIZE",
    "FASHION_CLASSES",
    "FOLDER_TEST_FRACTION",
    "MAX_IMAGE_PIXELS",
    "OMNIGLOT_DEFAULT_SIZE",
    "SOURCES",
    "TREE_ORDER_SEED",
    "DataInfo",
    "DataSplits",
    "ImageArrays",
    "ImageTensorDataset",
    "Source",
    "cap_items",
    "channel_stats",
    "decoded_cache_dir",
    "load_dataset",
    "load_split",
    "official_splits",
    "read_idx",
    "resolve_data_root",
    "user_cache_dir",
]

#: Dataset name -> loader ``fn(split, root: Path, size=None[, path=...]) -> ImageArrays`` (each source's
#: ``load_split``). ``folder`` is used as ``folder:PATH`` (its loader takes ``path``).
DATASETS: dict[str, Callable[..., ImageArrays]] = {name: s.load_split for name, s in SOURCES.items()}


def _check_size(size: int | None) -> None:
    if size is not None and (not isinstance(size, int) or size < 1):
        raise UserError(f"image size must be a positive integer, got {size!r}")


def _parse_name(name: str) -> tuple[Source, dict[str, str]]:
    """The source of a dataset name and the options its name carries (``folder:PATH`` -> ``path``)."""
    key, colon, arg = name.partition(":")
    source = SOURCES.get(key)
    if source is not None and source.param and colon:
        return source, {source.param.lower(): arg}
    if source is None or source.param or colon:
        choices = (f"{n}:{s.param}" if s.param else n for n, s in SOURCES.items())
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(choices)}")
    return source, {}


def official_splits(name: str) -> tuple[str, str]:
    """The (train, test) split names of a dataset: ``("background", "evaluation")`` for Omniglot.

    Example:
        >>> official_splits("omniglot"), official_splits("folder:my_photos")
        (('background', 'evaluation'), ('train', 'test'))
    """
    source = SOURCES.get(name.partition(":")[0])
    return source.splits if source is not None else ("train", "test")


def load_split(
    name: str, split: str, root: str | os.PathLike[str] | None = None, *, size: int | None = None
) -> ImageArrays:
    """One official split of a dataset, decoded once and cached.

    Args:
        name: ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``, ``omniglot`` or ``folder:PATH``.
        split: ``"train"`` or ``"test"``; Omniglot: ``"background"`` / ``"evaluation"`` (or the aliases).
        root: the data root (see :func:`resolve_data_root`).
        size: resize images to ``size`` x ``size`` (default: native; Omniglot 28; folders the most common).

    Returns:
        :class:`ImageArrays` with uint8 images (N, C, H, W) and int64 labels (N,), ``mean_std`` filled in.

    Raises:
        UserError: unknown name/split, missing files (naming every place looked) or corrupt files.

    Example:
        >>> load_split("digits", "test").images.shape
        (297, 1, 8, 8)
    """
    _check_size(size)
    source, options = _parse_name(name)
    return source.load_split(split, resolve_data_root(root), size=size, **options)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    *,
    size: int | None = None,
    max_items: int | None = None,
) -> DataSplits:
    """Train / validation / test splits and :class:`DataInfo` of a dataset.

    The validation split is a fixed-seed random ``val_fraction`` of the official train split (both kept in
    their original order); ``info.mean/std`` are the statistics of the whole official train split. For
    Omniglot, train = ``background`` and test = ``evaluation`` (disjoint classes, as for few-shot use).
    ``max_items`` keeps at most that many items of each split (after val is carved), a stratified sample
    with a fixed seed (see :func:`cap_items`); the statistics stay those of the whole train split.

    Example:
        >>> s = load_dataset("digits", val_fraction=0.1, seed=0)
        >>> len(s.train), len(s.val), len(s.test), s.info.image_size
        (1350, 150, 297, 8)
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
    source, _ = _parse_name(name)
    train_name, test_name = source.splits
    full = load_split(name, train_name, root, size=size)
    test = load_split(name, test_name, root, size=size)
    mean, std = full.mean_std or channel_stats(full.images)
    if all(s == 0 for s in std):
        raise UserError(
            f"dataset {name!r}: every pixel of every train image has the same value per channel "
            f"(mean {tuple(round(m * 255) for m in mean)} of 255): there is nothing to learn from"
        )
    # A channel that never varies (e.g. an unused colour plane) is only centred, not scaled.
    std = tuple(s if s > 0 else 1.0 for s in std)
    n_val = int(round(val_fraction * len(full)))
    if len(full) - n_val < 1:
        raise UserError(
            f"dataset {name!r}: train split of {len(full)} images is too small for val_fraction "
            f"{val_fraction}"
        )
    perm = np.random.default_rng(seed).permutation(len(full))
    val, train = full.subset(np.sort(perm[:n_val])), full.subset(np.sort(perm[n_val:]))
    _, c, h, _ = full.images.shape
    info = DataInfo(name=name, channels=c, image_size=h, num_classes=len(full.classes), mean=mean, std=std)
    if max_items is not None:
        train, val, test = (cap_items(a, max_items, seed) for a in (train, val, test))
    return DataSplits(train=train, val=val, test=test, info=info)


def cap_items(arrays: ImageArrays, n: int, seed: int = 0) -> ImageArrays:
    """At most ``n`` items of ``arrays``: a stratified sample with a fixed seed, in the original order.

    Each label (unlabelled items, -1, count as one more group) keeps ``floor(n * count / N)`` items; the
    leftover ones go to the groups with the largest fractional parts (then the smaller label). Within a group
    the items kept are the first of a ``numpy.random.default_rng(seed)`` permutation.

    Example:
        >>> a = ImageArrays(np.zeros((6, 1, 2, 2), np.uint8), np.array([0, 0, 0, 0, 1, 1]), ["a", "b"])
        >>> cap_items(a, 3).labels.tolist()
        [0, 0, 1]
    """
    if n < 1:
        raise UserError(f"max_items must be >= 1, got {n}")
    labels = np.asarray(arrays.labels)
    if n >= len(labels):
        return arrays
    groups, counts = np.unique(labels, return_counts=True)
    quota = counts * (n / len(labels))
    take = np.floor(quota).astype(np.int64)
    order = sorted(range(len(groups)), key=lambda i: (-(quota[i] - take[i]), groups[i]))
    take[order[: n - int(take.sum())]] += 1
    perm = np.random.default_rng(seed).permutation(len(labels))
    keep = np.concatenate([perm[labels[perm] == g][:t] for g, t in zip(groups, take)])
    return arrays.subset(np.sort(keep))
