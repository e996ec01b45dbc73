from __future__ import annotations

import pytest
import torch

from infomax.errors import UserError
from infomax.methods.dim_occlusion import Occluder, fully_visible_and_occluded, receptive_boxes


def test_receptive_boxes_hand_computed() -> None:
    # 32px input, 8x8 local map: location (r, c) sees rows 4r-3 .. 4r+6 clipped to 0..31
    boxes = receptive_boxes(8, 32, 10, 4, -3)
    assert boxes.shape == (64, 4)
    assert boxes[0].tolist() == [0, 6, 0, 6]
    assert boxes[1].tolist() == [0, 6, 1, 10]
    assert boxes[8 * 3 + 5].tolist() == [9, 18, 17, 26]
    assert boxes[63].tolist() == [25, 31, 25, 31]


@pytest.mark.parametrize(("size", "side"), [(32, 8), (28, 7)])
def test_masks_keep_one_field_visible_and_one_occluded(size: int, side: int) -> None:
    occ = Occluder(size, side, 10, 4, -3, max_fraction=0.5)
    mask = occ.sample(300)
    assert mask.shape == (300, 1, size, size) and mask.dtype == torch.bool
    vis, hid = fully_visible_and_occluded(mask, occ.boxes)
    assert bool(vis.all()) and bool(hid.all())
    frac = mask.float().mean(dim=(1, 2, 3))
    assert 0.0 < float(frac.min()) and float(frac.max()) < 1.0
    assert frac.std() > 0.01  # masks vary


def test_fully_visible_and_occluded_detects_violations() -> None:
    boxes = receptive_boxes(8, 32, 10, 4, -3)
    nothing = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    everything = torch.ones(2, 1, 32, 32, dtype=torch.bool)
    assert fully_visible_and_occluded(nothing, boxes)[1].tolist() == [False, False]
    assert fully_visible_and_occluded(everything, boxes)[0].tolist() == [False, False]


def test_rejects_maps_without_disjoint_fields() -> None:
    with pytest.raises(UserError, match="2x2 local map of a 8x8 input"):
        Occluder(8, 2, 10, 4, -3)
