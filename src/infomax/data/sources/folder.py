"""``folder:PATH``: any ImageFolder tree of image files (PATH as given, else relative to the data root).

Class sub-folders give labels in sorted order; a flat folder of images is unlabeled (label -1). With
``train/`` (and optionally ``test/``) sub-folders those are the splits; otherwise the whole folder is
``"train"`` and :data:`FOLDER_TEST_FRACTION` of it (at least one image) is carved out as ``"test"`` with a
fixed seed. Images are resized (bilinear, not cropped) to ``size`` x ``size``; by default the side of the
most common image size (its shorter side if that size is not square). They are grayscale (1 channel) when
every image is grayscale, else RGB. Unreadable images are skipped and counted in a warning; no readable
image at all is a :class:`UserError`. Images (N, C, size, size) in the fixed tree order.

Example:
    >>> SOURCE.load_split("train", Path("/data"), path="my_photos").images.shape  # doctest: +SKIP
    (900, 3, 64, 64)
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from infomax.data.arrays import ImageArrays, tree_order
from infomax.data.cache import cached_split
from infomax.data.root import looked
from infomax.data.safe_read import IMAGE_EXTS, image_files, open_image, pil_limits
from infomax.data.sources.base import Source
from infomax.errors import UserError

FOLDER_TEST_FRACTION = 0.1
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _scan_folder(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """ImageFolder rules: sub-folders with images are classes (sorted); else a flat, unlabeled folder."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, sorted(image_files(d))) for d in subdirs]
    per_class = [(c, fs) for c, fs in per_class if fs]
    loose = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
    )
    if per_class:
        if loose:
            warnings.warn(
                f"folder dataset {folder}: ignoring {len(loose)} image(s) outside the class sub-folders",
                stacklevel=4,
            )
        classes = [c for c, _ in per_class]
        return classes, [(f, i) for i, (_, fs) in enumerate(per_class) for f in fs]
    return [], [(f, -1) for f in loose]


def _decode_folder(base: Path, size: int | None) -> dict[str, ImageArrays]:
    """All splits of a folder dataset (see module docstring)."""
    from PIL import Image

    has_splits = (base / "train").is_dir()
    train_dir = base / "train" if has_splits else base
    classes, train_items = _scan_folder(train_dir)
    split_items = {"train": train_items}
    if has_splits and (base / "test").is_dir():
        test_classes, test_items = _scan_folder(base / "test")
        index = {c: i for i, c in enumerate(classes)}
        unknown = [c for c in test_classes if c not in index]
        if unknown or (test_classes and not classes) or (classes and test_items and not test_classes):
            raise UserError(
                f"folder dataset {base}: test classes {unknown or test_classes} do not match the "
                f"train classes"
            )
        split_items["test"] = [(f, index[test_classes[y]] if y >= 0 else -1) for f, y in test_items]

    bad: list[str] = []
    with pil_limits():
        heads: dict[str, list[tuple[Path, int, tuple[int, int], str]]] = {}
        for s, items in split_items.items():
            heads[s] = []
            for f, y in items:
                try:
                    with open_image(f) as img:
                        heads[s].append((f, y, img.size, img.mode))
                except Exception as e:  # noqa: BLE001 - any failure means "unreadable image", counted below
                    bad.append(f"{f.name} ({type(e).__name__})")
        readable = [h for hs in heads.values() for h in hs]
        if not readable:
            raise UserError(
                f"folder dataset {base}: no readable images ({len(bad)} unreadable, "
                f"extensions {', '.join(sorted(IMAGE_EXTS))})"
            )
        ref = heads["train"] or readable
        if size is None:
            (w, h), _ = Counter(sz for _, _, sz, _ in ref).most_common(1)[0]
            size = w if w == h else min(w, h)
        mode = "L" if all(m in _GRAY_MODES for _, _, _, m in ref) else "RGB"
        out: dict[str, ImageArrays] = {}
        for s, hs in heads.items():
            imgs, labels = [], []
            for f, y, _, _ in hs:
                try:
                    with open_image(f) as img:
                        g = img.convert(mode)
                        if g.size != (size, size):
                            g = g.resize((size, size), Image.Resampling.BILINEAR)
                        a = np.asarray(g)
                except Exception as e:  # noqa: BLE001
                    bad.append(f"{f.name} ({type(e).__name__})")
                    continue
                imgs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))  # -> (C, H, W)
                labels.append(y)
            c = 1 if mode == "L" else 3
            stacked = np.stack(imgs) if imgs else np.zeros((0, c, size, size), np.uint8)
            out[s] = tree_order(ImageArrays(stacked, np.array(labels, np.int64), classes))
    if bad:
        warnings.warn(
            f"folder dataset {base}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]}", stacklevel=4
        )
    if len(out["train"]) == 0:
        raise UserError(f"folder dataset {base}: no readable images in the train split")
    if "test" not in out:
        full = out["train"]
        n_test = max(1, round(FOLDER_TEST_FRACTION * len(full))) if len(full) >= 2 else 0
        perm = np.random.default_rng(0).permutation(len(full))
        out["test"] = full.subset(np.sort(perm[:n_test]))  # prefixes of a tree-ordered split stay random
        out["train"] = full.subset(np.sort(perm[n_test:]))
    return out


def _load(split: str, root: Path, size: int | None = None, path: str = "") -> ImageArrays:
    """``folder:PATH``: PATH as given (relative to the working directory), else relative to the data root."""
    given = Path(path).expanduser()
    places = [given] if given.is_absolute() else [given, root / given]
    base = next((p for p in places if p.is_dir()), None)
    if not path or base is None:
        raise UserError(f"folder dataset: {path!r} is not a folder; looked at: {looked(places)}")
    files = sorted(image_files(base))
    if not files:
        raise UserError(f"folder dataset {base}: no image files ({', '.join(sorted(IMAGE_EXTS))})")
    return cached_split(
        "folder",
        {"size": size, "base": str(base.resolve())},
        files,
        split,
        lambda: _decode_folder(base, size),
    )


SOURCE = Source("folder", _load, param="PATH")
