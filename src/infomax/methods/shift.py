"""Random translation of training images (``--set shift=S``), shared by the supervised metric methods.

DIMCO and ProtoNet train on few images per class (Omniglot: 20 per character); with ``shift=S`` every
training image is moved by up to S pixels on each axis (independently per image, border pixels
replicated: :class:`~infomax.data.views.RandomCrop` with ``padding=S``) before the encoder sees it. Only
training batches are moved; evaluation, codes and embeddings read the images as they are. ``shift=0``
(the default) trains on the images as they are, as both papers do.

Example:
    >>> shift_view(28, 0) is None
    True
    >>> v = shift_view(28, 2)
    >>> (v.size, v.padding, v.padding_mode)
    ((28, 28), 2, 'replicate')
"""

from __future__ import annotations

from infomax.data.views import RandomCrop
from infomax.errors import UserError


def check_shift(shift: int) -> None:
    """UserError unless ``shift`` is an integer >= 0 (pixels)."""
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise UserError(f"shift must be an integer >= 0 (pixels), got {shift!r}")


def shift_view(image_size: int, shift: int) -> RandomCrop | None:
    """The training view that translates (B, C, image_size, image_size) images by up to ``shift`` pixels
    per axis, or None for ``shift`` 0 (images as they are)."""
    check_shift(shift)
    return RandomCrop(image_size, shift, "replicate") if shift else None
