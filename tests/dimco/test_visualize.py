"""Code visualization: top items per (dimension, symbol) selection and the image grid."""

from __future__ import annotations

import numpy as np
import pytest

from infomax.dimco.visualize import plot_code_grid, top_items
from infomax.errors import UserError


def test_top_items_sums_selected_logprobs() -> None:
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(4), size=(30, 3)))
    got = top_items(lp, [(0, 2), (2, 1)], top=5)
    want = np.argsort(-(lp[:, 0, 2] + lp[:, 2, 1]), kind="stable")[:5]
    assert got.tolist() == want.tolist()
    tied = np.zeros((4, 1, 2))
    assert top_items(tied, [(0, 0)], top=3).tolist() == [0, 1, 2]
    with pytest.raises(UserError, match="outside"):
        top_items(lp, [(3, 0)])


def test_plot_code_grid_writes_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 1, 8, 8), dtype=np.uint8)
    lp = np.log(rng.dirichlet(np.ones(3), size=(12, 2)))
    out = plot_code_grid(images, lp, [[(0, 1)], [(0, 1), (1, 2)]], tmp_path / "grid.png", top=4)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
