"""``digits``: scikit-learn's bundled 8x8 handwritten digits (no files, nothing cached).

Values 0..16 are scaled to uint8 0..255 (``round(v * 255 / 16)``). There is no official split: a fixed
permutation (``numpy`` generator seed 0) of the 1797 images gives 1500 train and 297 test images, each
kept in the original order. Images (N, 1, 8, 8), labels 0..9, classes ``"0"`` .. ``"9"``.

Example:
    >>> SOURCE.load_split("test", Path(".")).images.shape
    (297, 1, 8, 8)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infomax.data.arrays import ImageArrays, channel_stats, resize_images
from infomax.data.sources.base import Source

DIGITS_TRAIN_SIZE = 1500


def _load(split: str, root: Path, size: int | None = None) -> ImageArrays:
    """scikit-learn's 8x8 digits; fixed split (seed 0): 1500 train / 297 test (see module docstring)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    perm = np.random.default_rng(0).permutation(len(images))
    idx = np.sort(perm[:DIGITS_TRAIN_SIZE] if split == "train" else perm[DIGITS_TRAIN_SIZE:])
    arr = ImageArrays(resize_images(images[idx], size), d.target[idx], [str(i) for i in range(10)])
    arr.mean_std = channel_stats(arr.images)
    return arr


SOURCE = Source("digits", _load)
