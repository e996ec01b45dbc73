from __future__ import annotations

import pytest
import torch

from infomax.errors import UserError
from infomax.methods.dim_multi import random_block_masks


def test_block_masks_are_one_contiguous_block_each() -> None:
    m = random_block_masks(200, 5, 2)
    assert m.shape == (200, 1, 5, 5)
    assert torch.equal(m.sum(dim=(1, 2, 3)), torch.full((200,), 4.0))
    for mask in m[:, 0]:
        rows = mask.any(1).nonzero().flatten()
        cols = mask.any(0).nonzero().flatten()
        assert rows.tolist() == list(range(int(rows[0]), int(rows[0]) + 2))
        assert cols.tolist() == list(range(int(cols[0]), int(cols[0]) + 2))
    # every top-left corner of the 4x4 possible ones is drawn
    corners = {(int(mk.any(1).nonzero()[0]), int(mk.any(0).nonzero()[0])) for mk in m[:, 0]}
    assert len(corners) == 16


def test_block_size_validated() -> None:
    with pytest.raises(UserError, match="block_size"):
        random_block_masks(2, 3, 4)
