"""CPCPatchEncoder: the patch grid, crops at the right places, per-patch encoding, pooled output."""

from __future__ import annotations

import pytest
import torch

from infomax.encoders.cpc import CPCPatchEncoder, patch_grid
from infomax.errors import UserError


@pytest.mark.parametrize(("size", "expected"), [(32, (8, 4, 7)), (28, (7, 3, 8)), (8, (2, 1, 7))])
def test_default_grid(size: int, expected: tuple[int, int, int]) -> None:
    assert patch_grid(size) == expected


def test_grid_of_one_patch_is_refused() -> None:
    with pytest.raises(UserError, match="grid"):
        patch_grid(32, patch_size=32)


def test_crops_are_the_strided_windows() -> None:
    enc = CPCPatchEncoder(3, 32, ndf=4, dim=8)
    x = torch.rand(2, 3, 32, 32)
    crops = enc.crops(x).view(2, 7, 7, 3, 8, 8)
    for b, r, c in [(0, 0, 0), (1, 3, 5), (0, 6, 6), (1, 6, 0)]:
        assert torch.equal(crops[b, r, c], x[b, :, 4 * r : 4 * r + 8, 4 * c : 4 * c + 8])


def test_shapes_and_pooling() -> None:
    enc = CPCPatchEncoder(1, 28, ndf=4, dim=8)
    out = enc(torch.rand(3, 1, 28, 28))
    assert tuple(out["patches"].shape) == (3, 8, 8, 8)
    assert torch.allclose(out["pooled"], out["patches"].mean(dim=(2, 3)))


def test_patch_vector_sees_only_its_crop() -> None:
    enc = CPCPatchEncoder(3, 32, ndf=4, dim=8).eval()  # eval: batch-norm statistics do not couple patches
    x = torch.rand(1, 3, 32, 32)
    y = x.clone()
    y[:, :, 12:, :] = torch.rand(1, 3, 20, 32)  # rows 12.. changed: patches of grid rows 0-1 end at row 11
    with torch.no_grad():
        a, b = enc(x)["patches"], enc(y)["patches"]
    assert torch.allclose(a[:, :, :2], b[:, :, :2])
    assert not torch.allclose(a[:, :, 2:], b[:, :, 2:])


@pytest.mark.parametrize(("norm", "isolated"), [("layer", True), ("batch", False)])
def test_in_training_a_patch_vector_sees_only_its_crop_with_layer_norm(norm: str, isolated: bool) -> None:
    # training mode: batch norm pools statistics over every patch of the batch (a leak), layer norm does not
    torch.manual_seed(0)
    enc = CPCPatchEncoder(3, 32, ndf=4, dim=8, norm=norm).train()
    x = torch.rand(2, 3, 32, 32)
    y = x.clone()
    y[:, :, 12:, :] = torch.rand(2, 3, 20, 32)  # only patches of grid rows >= 2 change
    with torch.no_grad():
        a, b = enc(x)["patches"], enc(y)["patches"]
    assert torch.equal(a[:, :, :2], b[:, :, :2]) is isolated


def test_unknown_patch_norm_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown patch norm 'group'"):
        CPCPatchEncoder(1, 28, norm="group")
