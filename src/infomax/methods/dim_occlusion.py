"""Random input occlusion for Deep InfoMax (paper sec. 4.3, appendix A.7).

Hjelm et al., ICLR 2019: the global feature is computed from a randomly occluded input while the local
features see the full input, under the constraint that at least one local feature's receptive field
stays fully visible and at least one is fully occluded. Here each mask is built so that this holds by
construction: pick a location ``o`` to hide and a location ``v`` whose receptive field is disjoint from
``o``'s, occlude ``RF(o)`` plus a random rectangle, and finally uncover ``RF(v)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from infomax.errors import UserError


def receptive_boxes(map_size: int, image_size: int, rf_size: int, rf_stride: int, rf_start: int) -> Tensor:
    """Clipped receptive fields (L, 4) as inclusive ``(row0, row1, col0, col1)`` per local location.

    Location ``(r, c)`` (index ``r * map_size + c``) sees rows ``rf_start + r * rf_stride`` to
    ``rf_start + r * rf_stride + rf_size - 1``, clipped to the image (zero padding is not "input").

    Example:
        >>> receptive_boxes(2, 8, 10, 4, -3)[0].tolist()
        [0, 6, 0, 6]
    """
    pos = torch.arange(map_size)
    lo = (rf_start + pos * rf_stride).clamp(0, image_size - 1)
    hi = (rf_start + pos * rf_stride + rf_size - 1).clamp(0, image_size - 1)
    r = torch.arange(map_size).repeat_interleave(map_size)
    c = torch.arange(map_size).repeat(map_size)
    return torch.stack([lo[r], hi[r], lo[c], hi[c]], dim=1)  # (L, 4)


def _disjoint(boxes: Tensor) -> Tensor:
    """(L, L) bool: the boxes of locations a and b share no pixel."""
    r0, r1, c0, c1 = boxes.unbind(1)
    rows_apart = (r1[:, None] < r0[None, :]) | (r1[None, :] < r0[:, None])
    cols_apart = (c1[:, None] < c0[None, :]) | (c1[None, :] < c0[:, None])
    return rows_apart | cols_apart


def _box_mask(boxes: Tensor, image_size: int) -> Tensor:
    """(B, 4) inclusive boxes -> (B, H, W) bool masks."""
    idx = torch.arange(image_size, device=boxes.device)
    rows = (idx[None, :] >= boxes[:, 0:1]) & (idx[None, :] <= boxes[:, 1:2])  # (B, H)
    cols = (idx[None, :] >= boxes[:, 2:3]) & (idx[None, :] <= boxes[:, 3:4])  # (B, W)
    return rows[:, :, None] & cols[:, None, :]


class Occluder:
    """Samples occlusion masks with a fully visible and a fully occluded local receptive field.

    Args:
        image_size: Input side H = W.
        map_size: Side of the local feature map.
        rf_size, rf_stride, rf_start: The local map's receptive field geometry (for
            :class:`~infomax.encoders.DIMConvEncoder`: 10, 4, -3).
        max_fraction: Largest side of the extra random rectangle, as a fraction of the image side.

    Raises:
        UserError: if no two local receptive fields are disjoint (e.g. 8x8 inputs with a 2x2 local map),
            so the guarantee cannot be met.

    Example:
        >>> occ = Occluder(32, 8, 10, 4, -3)
        >>> occ.sample(4).shape
        torch.Size([4, 1, 32, 32])
    """

    def __init__(
        self,
        image_size: int,
        map_size: int,
        rf_size: int,
        rf_stride: int,
        rf_start: int,
        max_fraction: float = 0.5,
    ) -> None:
        if not 0.0 <= max_fraction <= 1.0:
            raise UserError(f"occlusion max_fraction must be in [0, 1], got {max_fraction}")
        self.image_size = image_size
        self.boxes = receptive_boxes(map_size, image_size, rf_size, rf_stride, rf_start)  # (L, 4)
        self.disjoint = _disjoint(self.boxes)  # (L, L)
        if not self.disjoint.any():
            raise UserError(
                f"occlusion needs two local features with disjoint receptive fields; a {map_size}x{map_size} "
                f"local map of a {image_size}x{image_size} input (fields {rf_size}px, stride {rf_stride}) "
                "has none: use larger images (e.g. 28 or 32) or set occlude=false"
            )
        self.max_side = max(1, int(round(max_fraction * image_size)))

    def sample(self, batch: int, device: torch.device | None = None) -> Tensor:
        """Masks (B, 1, H, W), True where the input is occluded (uses the global torch RNG)."""
        has_partner = self.disjoint.any(1).float()  # (L,)
        hide = torch.multinomial(has_partner, batch, replacement=True)  # (B,)
        keep = torch.multinomial(self.disjoint[hide].float(), 1).squeeze(1)  # (B,)
        h = self.image_size
        size = torch.randint(1, self.max_side + 1, (batch, 2))  # (B, 2) rectangle height, width
        top = (torch.rand(batch) * (h - size[:, 0] + 1)).long()
        left = (torch.rand(batch) * (h - size[:, 1] + 1)).long()
        rect = torch.stack([top, top + size[:, 0] - 1, left, left + size[:, 1] - 1], dim=1)  # (B, 4)
        mask = (_box_mask(self.boxes[hide], h) | _box_mask(rect, h)) & ~_box_mask(self.boxes[keep], h)
        return mask[:, None].to(device)  # (B, 1, H, W)


def fully_visible_and_occluded(mask: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Per image: does some receptive field lie fully outside / fully inside the occluded region?

    Args:
        mask: (B, 1, H, W) bool, True = occluded.
        boxes: (L, 4) clipped receptive fields from :func:`receptive_boxes`.

    Returns:
        Two (B,) bool tensors: (some field fully visible, some field fully occluded).
    """
    m = mask[:, 0].float()  # (B, H, W)
    any_vis, any_occ = [], []
    for r0, r1, c0, c1 in boxes.tolist():
        frac = m[:, r0 : r1 + 1, c0 : c1 + 1].mean(dim=(1, 2))  # (B,)
        any_vis.append(frac == 0)
        any_occ.append(frac == 1)
    return torch.stack(any_vis, 1).any(1), torch.stack(any_occ, 1).any(1)
