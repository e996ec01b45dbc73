"""The neighbour grid is written atomically: a failed write keeps the old file, leaves no temporary file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from infomax.errors import UserError
from infomax.evaluation.neighbours import save_grid


def test_save_grid_writes_upscaled_png(tmp_path):
    grid = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    path = save_grid(tmp_path / "n.png", grid, scale=2)
    back = np.asarray(Image.open(path))
    assert back.shape == (4, 6, 3)
    np.testing.assert_array_equal(back[::2, ::2], grid)


def test_failed_grid_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "n.png"
    path.write_bytes(b"old")

    def full_disk(self, fp, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(UserError, match="No space left"):
        save_grid(path, np.zeros((2, 2, 3), np.uint8))
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["n.png"]  # no temporary file left
