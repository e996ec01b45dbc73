"""``omniglot``: Omniglot (Lake et al., 2015), 1623 handwritten characters of 50 alphabets, 20 drawers each.

Read from ``omniglot.tar.gz`` (in ``<root>`` or ``<root>/omniglot/``, in place) or an extracted
``omniglot/`` (or ``omniglot-py/``) folder with ``images_background/`` and ``images_evaluation/``. Splits
``"background"`` and ``"evaluation"`` (aliases ``"train"``, ``"test"``); labels are the global character
index within the split in (alphabet, character) order, classes ``"Alphabet/characterNN"``. The 105x105
1-bit images are inverted (strokes = 255) and downscaled to ``size`` x ``size`` with Lanczos filtering,
28 by default as is standard for few-shot learning (Vinyals et al., 2016); ``size=105`` keeps the
originals. Images (N, 1, size, size) in the fixed tree order (:func:`~infomax.data.arrays.tree_order`).

Example:
    >>> SOURCE.load_split("train", Path("/data")).images.shape  # the background split  # doctest: +SKIP
    (19280, 1, 28, 28)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infomax.data.arrays import ImageArrays, tree_order
from infomax.data.cache import cached_split
from infomax.data.root import files_not_found
from infomax.data.safe_read import image_files, iter_tar, open_image, pil_limits
from infomax.data.sources.base import Source
from infomax.errors import UserError

_OMNIGLOT_SPLITS = {"background": "images_background", "evaluation": "images_evaluation"}
OMNIGLOT_DEFAULT_SIZE = 28


def _omniglot_tar_entries(path: Path) -> Iterator[tuple[str, str, str, str, bytes]]:
    folders = {v: k for k, v in _OMNIGLOT_SPLITS.items()}
    for name, data in iter_tar(path):
        parts = name.parts
        if len(parts) >= 4 and parts[-4] in folders and name.suffix.lower() == ".png":
            yield folders[parts[-4]], parts[-3], parts[-2], parts[-1], data


def _omniglot_dir_entries(folder: Path) -> Iterator[tuple[str, str, str, str, Path]]:
    for split, sub in _OMNIGLOT_SPLITS.items():
        for f in sorted((folder / sub).glob("*/*/*.png")):
            yield split, f.parent.parent.name, f.parent.name, f.name, f


def _decode_omniglot(entries: Iterator[tuple[str, str, str, str, bytes | Path]], where: Path, size: int):
    """Omniglot (Lake et al., 2015) -> uint8 (N, 1, size, size) with strokes = 255, Lanczos-downscaled."""
    from PIL import Image, ImageOps

    items: dict[str, list[tuple[str, str, str, np.ndarray]]] = {s: [] for s in _OMNIGLOT_SPLITS}
    with pil_limits():
        for split, alphabet, char, fname, src in entries:
            try:
                with open_image(src) as img:
                    g = ImageOps.invert(img.convert("L"))  # white background -> 0, black strokes -> 255
                    if g.size != (size, size):
                        g = g.resize((size, size), Image.Resampling.LANCZOS)
                    a = np.asarray(g)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                raise UserError(f"corrupt image {alphabet}/{char}/{fname} in {where}: {e}") from None
            items[split].append((alphabet, char, fname, a))
    out = {}
    for split, lst in items.items():
        if not lst:
            raise UserError(
                f"{where}: no images for the {split} split ({_OMNIGLOT_SPLITS[split]}/<alphabet>/...)"
            )
        lst.sort(key=lambda t: t[:3])
        classes = sorted({f"{a}/{c}" for a, c, _, _ in lst})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[f"{a}/{c}"] for a, c, _, _ in lst])
        out[split] = tree_order(ImageArrays(np.stack([t[3] for t in lst])[:, None], labels, classes))
    return out


def _load(split: str, root: Path, size: int | None = None) -> ImageArrays:
    """Omniglot background/evaluation splits; ``size`` defaults to 28 (``105`` = original resolution)."""
    size = OMNIGLOT_DEFAULT_SIZE if size is None else size
    tars = [root / "omniglot.tar.gz", root / "omniglot" / "omniglot.tar.gz"]
    dirs = [root / "omniglot", root / "omniglot-py"]
    opts = {"size": size}
    for t in tars:
        if t.is_file():
            return cached_split(
                "omniglot", opts, [t], split, lambda t=t: _decode_omniglot(_omniglot_tar_entries(t), t, size)
            )
    for d in dirs:
        if all((d / sub).is_dir() for sub in _OMNIGLOT_SPLITS.values()):
            files = sorted(image_files(d))
            return cached_split(
                "omniglot-dir",
                opts,
                files,
                split,
                lambda d=d: _decode_omniglot(_omniglot_dir_entries(d), d, size),
            )
    expected = "omniglot.tar.gz or omniglot/{images_background,images_evaluation}/"
    raise files_not_found("omniglot", expected, tars + dirs)


_ALIASES = {"train": "background", "test": "evaluation"}
SOURCE = Source("omniglot", _load, splits=("background", "evaluation"), aliases=_ALIASES)
