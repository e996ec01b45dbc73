"""Code visualization: top items per (dimension, symbol) selection and the image grid."""

from __future__ import annotations

import numpy as np
import pytest

from infomax.dimco.visualize import default_selections, plot_code_grid, top_items
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


def test_default_selections_rank_dimensions_by_symbol_entropy() -> None:
    # argmax codes over 4 items: dim 0 constant (entropy 0), dim 1 two symbols 3:1, dim 2 four symbols
    codes = np.array([[0, 1, 0], [0, 1, 1], [0, 1, 2], [0, 2, 3]])
    lp = np.log(np.full((4, 3, 4), 0.1) + 0.6 * np.eye(4)[codes])
    assert default_selections(lp, n_single=3, n_pairs=1) == [
        [(2, 0)],  # uniform usage: ties of the mode go to the smallest symbol
        [(1, 1)],
        [(0, 0)],
        [(2, 0), (1, 1)],
    ]
    assert default_selections(lp, n_single=5, n_pairs=5)[-1] == [(2, 0), (1, 1)]  # clipped to d and d // 2
