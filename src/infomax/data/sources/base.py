"""The interface every dataset source implements: a :class:`Source` (one per dataset name).

A source module (``sources/<name>.py``) decodes its files into :class:`~infomax.data.arrays.ImageArrays`
and exposes one ``Source`` object, which ``sources/__init__.py`` lists in ``SOURCES``.

Example:
    >>> import numpy as np
    >>> def load(split, root, size=None):  # split already checked; root: the data root (Path)
    ...     return ImageArrays(np.zeros((3, 1, 8, 8), np.uint8), [0, 1, 1], ["a", "b"])
    >>> toy = Source("toy", load)
    >>> toy.load_split("test", Path(".")).images.shape
    (3, 1, 8, 8)
    >>> toy.load_split("val", Path("."))
    Traceback (most recent call last):
    infomax.errors.UserError: unknown split 'val' for dataset 'toy'; choose one of: train, test
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infomax.data.arrays import ImageArrays
from infomax.errors import UserError


@dataclass(frozen=True)
class Source:
    """One dataset name and how to load its official splits.

    Args:
        name: the registry key, as given on the command line (``"mnist"``); for a parametrized source the
            part before ``:`` (``"folder"`` of ``folder:PATH``).
        load: ``load(split, root: Path, size: int | None = None, **options) -> ImageArrays`` for one of
            ``splits`` (aliases already resolved): uint8 images (N, C, H, W), int64 labels (N,) (-1 =
            unlabeled), class names, and ``mean_std`` filled in (:func:`~infomax.data.cache.cached_split`
            does it). ``size`` resizes to ``size`` x ``size`` (``None``: the source's default size). Missing
            files raise :func:`~infomax.data.root.files_not_found`; corrupt ones a one-line ``UserError``.
        splits: the official (train, test) split names; train first.
        aliases: other accepted split names -> official ones (Omniglot: ``{"train": "background"}``).
        param: for a parametrized source (``folder:PATH``) the metavar after ``:`` (``"PATH"``); the text
            after ``:`` is passed to ``load`` as the keyword ``param.lower()`` (``path=...``).
    """

    name: str
    load: Callable[..., ImageArrays]
    splits: tuple[str, str] = ("train", "test")
    aliases: Mapping[str, str] = field(default_factory=dict)
    param: str = ""

    def check_split(self, split: str) -> str:
        """The official name of ``split`` (aliases resolved); a ``UserError`` naming the choices else."""
        split = self.aliases.get(split, split)
        if split not in self.splits:
            raise UserError(
                f"unknown split {split!r} for dataset {self.name!r}; choose one of: {', '.join(self.splits)}"
            )
        return split

    def load_split(self, split: str, root: Path, size: int | None = None, **options: str) -> ImageArrays:
        """``split`` (or an alias) of this source under the data root ``root``; see ``load``."""
        return self.load(self.check_split(split), root, size=size, **options)
