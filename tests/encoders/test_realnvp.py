"""RealNVPEncoder: exact invertibility and a log-determinant that agrees with autograd's Jacobian."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

from infomax.encoders import RealNVPEncoder
from infomax.errors import UserError


def _perturb(enc: torch.nn.Module, scale: float = 0.3) -> None:
    """Move every parameter away from its initial value (the log-scales start at exactly 0)."""
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(scale * torch.randn_like(p))


def test_paper_size_round_trip() -> None:
    enc = RealNVPEncoder((1, 14, 28))  # 30 shift-only couplings, hidden (512, 512), D = 392
    assert len(enc.couplings) == 30 and enc.layers == ("z",)
    x = torch.rand(4, 1, 14, 28)
    with torch.no_grad():
        z = enc(x)["z"]
        assert tuple(z.shape) == (4, 392)
        assert (enc.inverse(z) - x).abs().max().item() < 1e-4  # float32, 30 layers
        enc64 = enc.double()
        x64 = x.double()
        assert (enc64.inverse(enc64(x64)["z"]) - x64).abs().max().item() < 1e-10
        assert (z.double() - x64.flatten(1)).abs().max().item() > 0.1  # not the identity


@pytest.mark.parametrize("scale", [False, True], ids=["shift-only", "affine"])
def test_round_trip_within_1e_5(scale: bool) -> None:
    enc = RealNVPEncoder((1, 7, 8), n_layers=8, hidden=(64, 64), scale=scale, mean=(0.13,), std=(0.31,))
    _perturb(enc, 0.05)
    x = torch.rand(16, 1, 7, 8)
    with torch.no_grad():
        z = enc(x)["z"]
        assert (enc.inverse(z) - x).abs().max().item() < 1e-5
        assert (enc(enc.inverse(z))["z"] - z).abs().max().item() < 1e-4


@pytest.mark.parametrize(
    ("scale", "std"), [(False, 1.0), (False, 0.5), (True, 1.0), (True, 0.7)],
    ids=["shift-only", "shift-only-std", "affine", "affine-std"],
)
def test_log_det_matches_jacobian(scale: bool, std: float) -> None:
    shape = (1, 2, 3)
    enc = RealNVPEncoder(shape, n_layers=4, hidden=(8,), scale=scale, mean=(0.2,), std=(std,)).double()
    _perturb(enc)
    x = torch.rand(3, *shape, dtype=torch.float64)
    log_det = enc.log_det(x)  # (3,)
    for i in range(3):
        jac = jacobian(lambda v: enc(v.view(1, *shape))["z"][0], x[i].flatten())  # (6, 6)
        sign, ref = torch.linalg.slogdet(jac)
        assert sign.item() != 0
        torch.testing.assert_close(log_det[i], ref, atol=1e-9, rtol=1e-9)
    if not scale:  # additive couplings preserve volume: only the standardization counts
        torch.testing.assert_close(log_det, torch.full((3,), -6 * torch.log(torch.tensor(std)).item(),
                                                       dtype=torch.float64))
    else:
        assert log_det.std().item() > 1e-3  # a real, input-dependent log-determinant


def test_bad_input() -> None:
    with pytest.raises(UserError):
        RealNVPEncoder((1, 1, 1))
    enc = RealNVPEncoder((1, 2, 3), n_layers=2, hidden=(4,))
    with pytest.raises(UserError, match="inverse"):
        enc.inverse(torch.zeros(2, 5))
    with pytest.raises(UserError, match="expects"):
        enc(torch.zeros(2, 6))
