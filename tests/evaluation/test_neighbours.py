from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from infomax.errors import UserError
from infomax.evaluation.neighbours import image_grid, nearest_neighbours, precision_at_k
from infomax.evaluation.protocols import PROTOCOLS


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_neighbours_match_brute_force(metric):
    rng = np.random.default_rng(0)
    q, bank = rng.normal(size=(7, 5)), rng.normal(size=(30, 5))
    got = nearest_neighbours(q, bank, 4, metric, chunk_size=3)
    for i in range(7):
        if metric == "euclidean":
            d = [np.linalg.norm(q[i] - b) for b in bank]
        else:
            d = [-(q[i] @ b) / (np.linalg.norm(q[i]) * np.linalg.norm(b)) for b in bank]
        assert got[i].tolist() == list(np.argsort(d)[:4])


def test_exclude_self_and_precision_hand_computed():
    f = np.array([[0.0], [0.1], [0.3], [5.0], [5.2]])
    y = np.array([0, 0, 1, 1, 1])
    nn = nearest_neighbours(f, f, 1, exclude=np.arange(5))
    assert nn.ravel().tolist() == [1, 0, 1, 4, 3]
    # item 2's nearest is item 1 (class 0): precision@1 = 4/5; @2: [1,1],[1,0],[0,0]... -> see below
    p = precision_at_k(f, y, ks=(1, 2))
    assert p["precision@1"] == pytest.approx(4 / 5)
    # 2-NN: 0->{1,2} 1 hit; 1->{0,2} 1; 2->{1,0} 0; 3->{4,2} 2; 4->{3,2} 2  => 6/10
    assert p["precision@2"] == pytest.approx(6 / 10)


def test_k_too_large_is_user_error():
    with pytest.raises(UserError):
        nearest_neighbours(np.zeros((1, 2)), np.zeros((3, 2)), 3, exclude=np.array([0]))


def test_image_grid_layout():
    images = np.stack([np.full((1, 2, 2), v, np.uint8) for v in (10, 20, 30)])
    grid = image_grid(images, [[0, 1], [2]], pad=1)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1, 3)
    assert (grid[1:3, 1:3] == 10).all() and (grid[1:3, 4:6] == 20).all() and (grid[4:6, 1:3] == 30).all()
    assert (grid[4:6, 4:6] == 255).all()  # empty cell stays white


def test_neighbours_protocol_writes_grid(splits, pixel_encoder, tmp_path):
    out = PROTOCOLS["neighbours"](pixel_encoder, splits, "pixels", out_path=str(tmp_path / "nn.png"))
    assert out["precision@1"] >= 0.97 and out["neighbour_label_agreement"] >= 0.9
    assert len(out["queries"]) == 4 and np.array(out["neighbours"]).shape == (4, 4)
    q = np.array(out["queries"])
    assert (splits.test.labels[q] == np.arange(4)).all()  # one query per class
    img = Image.open(out["grid_path"])
    assert img.size == (4 * (5 * (8 + 2) + 2), 4 * (4 * (8 + 2) + 2))  # 5 columns, 4 rows, upscaled 4x


def test_grid_goes_to_the_run_directory(splits, pixel_encoder, tmp_path):
    from types import SimpleNamespace

    run = SimpleNamespace(method=SimpleNamespace(encoder=pixel_encoder), run_dir=tmp_path)
    out = PROTOCOLS["neighbours"](run, splits, "y")
    assert (
        out["grid_path"] == str(tmp_path / "plots" / "neighbours-y.png") and Image.open(out["grid_path"]).size
    )
