from __future__ import annotations

import pytest
import torch

from infomax.methods.dim_coords import AbsoluteCoordPredictor, RelativeCoordPredictor


def _positional_maps(b: int, s: int, c: int, codes: torch.Tensor) -> torch.Tensor:
    """Local maps whose every location carries a fixed random code of its position plus noise."""
    base = codes.view(1, s, s, c).permute(0, 3, 1, 2)  # (1, C, S, S)
    return base + 0.1 * torch.randn(b, c, s, s)


@pytest.mark.parametrize("cls", [AbsoluteCoordPredictor, RelativeCoordPredictor])
def test_coordinate_predictor_learns_positions_on_synthetic_map(cls: type) -> None:
    s, c, dy = 4, 8, 3
    codes = torch.randn(s * s, c)
    pred = cls(dy, c, map_size=s, hidden=32)
    opt = torch.optim.Adam(pred.parameters(), lr=1e-2)
    for _ in range(250):
        loss, acc = pred(torch.randn(16, dy), _positional_maps(16, s, c, codes))
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred.eval()
    with torch.no_grad():
        loss, acc = pred(torch.randn(64, dy), _positional_maps(64, s, c, codes))
    n_classes = s if cls is AbsoluteCoordPredictor else 2 * s - 1
    assert float(acc) > 0.95  # chance: 1 / n_classes
    assert float(loss) < 0.1 * 2 * torch.log(torch.tensor(float(n_classes)))


def test_absolute_predictor_cannot_beat_chance_without_position_information() -> None:
    # identical features at every location: the best possible loss is 2 log S (uniform over rows, cols)
    s, c = 3, 4
    pred = AbsoluteCoordPredictor(2, c, map_size=s, hidden=16)
    opt = torch.optim.Adam(pred.parameters(), lr=1e-2)
    for _ in range(80):
        local = torch.randn(16, c, 1, 1).expand(-1, -1, s, s)
        loss, _ = pred(torch.randn(16, 2), local)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) > 0.95 * 2 * torch.log(torch.tensor(float(s)))


def test_relative_offsets_hand_computed() -> None:
    # With source (0, 0) on a 2x2 map the targets' offsets are (0,0), (0,1), (1,0), (1,1) -> classes
    # (1,1), (1,2), (2,1), (2,2) of 3 per axis; a predictor outputting those one-hot logits scores 100%.
    pred = RelativeCoordPredictor(1, 1, map_size=2, hidden=4)
    want_rows, want_cols = torch.tensor([1, 1, 2, 2]), torch.tensor([1, 2, 1, 2])
    logits = torch.cat(
        [10 * torch.nn.functional.one_hot(want_rows, 3), 10 * torch.nn.functional.one_hot(want_cols, 3)], 1
    )

    class Fixed(torch.nn.Module):
        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            return logits.float()

    pred.net = Fixed()
    _, acc = pred(torch.zeros(1, 1), torch.zeros(1, 1, 2, 2), source=torch.tensor([0]))
    assert float(acc) == 1.0
