"""The in-memory form of every dataset: uint8 image arrays, their statistics, order and size.

- :class:`ImageArrays`: one split, uint8 images (N, C, H, W), int64 labels (N,) (-1 = unlabeled), classes.
- :class:`DataInfo`, :class:`DataSplits`: what :func:`infomax.data.load_dataset` returns.
- :class:`ImageTensorDataset`: a torch ``Dataset`` over :class:`ImageArrays`.
- :func:`channel_stats`, :func:`resize_images`, :func:`tree_order`: helpers the sources share.

Example:
    >>> a = ImageArrays(np.zeros((4, 1, 8, 8), np.uint8), np.array([0, 1, 0, 1]), ["a", "b"])
    >>> resize_images(a.images, 4).shape, channel_stats(a.images)
    ((4, 1, 4, 4), ((0.0,), (0.0,)))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

#: Seed of the fixed random order given to every split decoded from a (class-sorted) tree of files.
TREE_ORDER_SEED = 0


@dataclass
class ImageArrays:
    """One split of a dataset.

    Args:
        images: uint8 (N, C, H, W).
        labels: int64 (N,); -1 marks unlabeled items.
        classes: class names; ``labels`` index into it (empty for unlabeled data).
        mean_std: optional per-channel ``(mean, std)`` of ``images / 255``, filled in by the loaders
            (cached with the decoded arrays); ``None`` when unknown.

    Example:
        >>> a = ImageArrays(np.zeros((2, 1, 8, 8), np.uint8), np.array([0, 1]), ["a", "b"])
        >>> len(a), a.subset([1]).labels.tolist()
        (2, [1])
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    mean_std: tuple[tuple[float, ...], tuple[float, ...]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.classes = [str(c) for c in self.classes]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray | list[int]) -> ImageArrays:
        """The items at ``indices`` (a copy), same classes; ``mean_std`` is not carried over."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageArrays(self.images[idx], self.labels[idx], list(self.classes))


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about a dataset (JSON-friendly: ``DataInfo(**dataclasses.asdict(i))``).

    Args:
        name: dataset name as given to :func:`load_dataset`.
        channels, image_size: C and H (= W) of the images.
        num_classes: number of classes of the train split (0 for unlabeled data).
        mean, std: per-channel statistics of the official train split, in [0, 1] units.
    """

    name: str
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:  # lists from JSON -> tuples, so round trips compare equal
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))


@dataclass
class DataSplits:
    """``train`` / ``val`` (carved from the official train split) / ``test`` plus :class:`DataInfo`."""

    train: ImageArrays
    val: ImageArrays
    test: ImageArrays
    info: DataInfo


class ImageTensorDataset(Dataset):
    """A torch Dataset over :class:`ImageArrays` yielding ``(uint8 (C, H, W) tensor, int64 label)``.

    The images stay uint8 (4x less memory and host-to-device traffic); the engine converts batches with
    ``x.float() / 255`` on the device. No copy is made when the arrays are writable and contiguous.

    Example:
        >>> ds = ImageTensorDataset(ImageArrays(np.zeros((2, 1, 8, 8), np.uint8), [0, 1], ["a", "b"]))
        >>> x, y = ds[0]; x.shape, x.dtype, y.dtype
        (torch.Size([1, 8, 8]), torch.uint8, torch.int64)
    """

    def __init__(self, arrays: ImageArrays) -> None:
        images = arrays.images
        if not images.flags.writeable or not images.flags.c_contiguous:
            images = np.ascontiguousarray(images).copy()
        self.images = torch.from_numpy(images)  # (N, C, H, W) uint8
        self.labels = torch.from_numpy(np.ascontiguousarray(arrays.labels, dtype=np.int64))  # (N,)
        self.classes = list(arrays.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images (N, C, H, W) scaled to [0, 1].

    Computed from 256-bin histograms in float64, so it is exact and fast for 50k CIFAR images.

    Example:
        >>> channel_stats(np.array([[[[0, 255]]]], np.uint8))
        ((0.5,), (0.5,))
    """
    if len(images) == 0:
        return tuple(0.0 for _ in range(images.shape[1])), tuple(1.0 for _ in range(images.shape[1]))
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].reshape(-1), minlength=256).astype(np.float64)
        n = counts.sum()
        m = float((counts * levels).sum() / n)
        var = float((counts * levels * levels).sum() / n) - m * m
        means.append(m)
        stds.append(float(np.sqrt(max(var, 0.0))))
    return tuple(means), tuple(stds)


def resize_images(images: np.ndarray, size: int | None) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, C, size, size), antialiased bilinear; unchanged when already that size.

    Example:
        >>> resize_images(np.zeros((3, 1, 8, 8), np.uint8), 16).shape
        (3, 1, 16, 16)
    """
    if size is None or images.shape[-2:] == (size, size):
        return images
    out = np.empty((len(images), images.shape[1], size, size), np.uint8)
    for s in range(0, len(images), 4096):  # chunks bound the float32 memory
        x = torch.from_numpy(images[s : s + 4096]).float()
        y = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[s : s + 4096] = y.round_().clamp_(0, 255).to(torch.uint8).numpy()
    return out


def tree_order(arrays: ImageArrays) -> ImageArrays:
    """``arrays`` in the fixed random order of tree datasets (permutation seeded by ``TREE_ORDER_SEED``).

    Datasets decoded from a tree of files come out sorted by class; this order makes any prefix
    ``images[:n]`` a sample of every class, as the official CIFAR-10 batches and IDX files already are.

    Example:
        >>> a = ImageArrays(np.zeros((4, 1, 1, 1), np.uint8), [0, 0, 1, 1], ["a", "b"])
        >>> sorted(tree_order(a).labels.tolist())
        [0, 0, 1, 1]
    """
    return arrays.subset(np.random.default_rng(TREE_ORDER_SEED).permutation(len(arrays)))
