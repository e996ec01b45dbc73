from __future__ import annotations

import pytest
import torch

from infomax.evaluation.ndm import ndm_value, shuffle_factors
from infomax.evaluation.protocols import PROTOCOLS


def test_shuffle_factors_keeps_marginals_and_breaks_rows():
    torch.manual_seed(0)
    y = torch.arange(200.0).view(100, 2)
    (ys,) = shuffle_factors((y,))
    for j in range(2):
        assert torch.equal(ys[:, j].sort().values, y[:, j])  # same per-factor marginal
    assert (ys[:, 1] - ys[:, 0] != 1).float().mean() > 0.9  # rows no longer paired


def test_ndm_near_zero_for_independent_factors():
    y = torch.randn(4000, 8, generator=torch.Generator().manual_seed(0))
    assert abs(ndm_value(y[:3000], y[3000:], steps=300, hidden=64)) < 0.05


def test_ndm_clearly_positive_for_duplicated_factors():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 4, generator=g)
    y = torch.cat([z, z + 0.1 * torch.randn(4000, 4, generator=g)], 1)  # each factor duplicated, plus noise
    assert ndm_value(y[:3000], y[3000:], steps=300, hidden=64) > 0.5


def test_ndm_protocol(splits, pixel_encoder):
    out = PROTOCOLS["ndm"](pixel_encoder, splits, "pixels", seeds=(0, 1), steps=100, batch_size=64, hidden=32)
    # neighbouring pixels of a band image are strongly dependent
    assert out["ndm"] > 0.3 and len(out["ndm_per_seed"]) == 2 and out["layer"] == "pixels"


def test_seeded():
    y = torch.randn(500, 3, generator=torch.Generator().manual_seed(1))
    a = ndm_value(y[:400], y[400:], seed=3, steps=20, hidden=8)
    assert a == pytest.approx(ndm_value(y[:400], y[400:], seed=3, steps=20, hidden=8), abs=0)
