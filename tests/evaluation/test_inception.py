"""InceptionV3FID: pytorch-fid's state-dict layout, its forward pass, and loading local weights files.

The reference numbers below were derived once from the reference definition: torchvision 0.29's
``inception_v3(num_classes=1008, aux_logits=False)`` with pytorch-fid's FIDInceptionA/C/E_1/E_2 blocks
swapped in exactly as pytorch-fid's ``fid_inception_v3()`` does, loaded with :func:`seeded_state` and run
through pytorch-fid's ``InceptionV3.forward`` (bilinear resize to 299, ``2x - 1``, blocks 0-3).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from infomax.errors import UserError
from infomax.evaluation.fid import inception_features
from infomax.evaluation.inception import WEIGHTS_NAME, InceptionV3FID, load_inception

# sha256 of the sorted "key:shape" lines of the reference state dict, num_batches_tracked left out
REFERENCE_TABLE_SHA256 = "954403df03f5a6d824cbccdc11f2b359003e906b126822a8a9a1afc4b6c8b849"
REFERENCE_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
    "Mixed_7c.branch_pool.bn.num_batches_tracked": (),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}
# reference pool3 features of probe_images() under seeded_state(): indices, per-image values
REFERENCE_INDICES = [0, 2, 3, 100, 777, 1500, 2047]
REFERENCE_VALUES = [
    [0.3144657314, 0.0099942349, 0.0085134655, 0.0876202658, 0.0035998155, 0.1318129152, 0.3327983022],
    [0.3215841651, 0.0122499838, 0.0083592366, 0.0756722242, 0.0042298208, 0.1338951886, 0.3249593675],
]
REFERENCE_SUMS = [232.5514330379, 234.2244427556]
REFERENCE_PROJECTIONS = [-2.2494076907, -2.0249587886]  # features @ cos(0.37 * arange(2048))


def seeded_state(sd: dict[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic, well-scaled weights for every key of an Inception state dict (sorted-key order):
    He-normal convs, BN scale ~1 and shift/mean ~0, running variance in [1, 1.5]."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(sd):
        t = sd[k]
        if k.endswith("num_batches_tracked"):
            out[k] = torch.zeros((), dtype=torch.long)
        elif k.endswith("conv.weight"):
            out[k] = torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5
        elif k.endswith("bn.weight"):
            out[k] = 1 + 0.1 * torch.randn(t.shape, generator=g)
        elif k.endswith(("bn.bias", "bn.running_mean")):
            out[k] = 0.1 * torch.randn(t.shape, generator=g)
        elif k.endswith("bn.running_var"):
            out[k] = 1 + 0.5 * torch.rand(t.shape, generator=g)
        else:
            out[k] = 0.01 * torch.randn(t.shape, generator=g)
    return out


def probe_images() -> np.ndarray:
    """Two structured uint8 RGB images (2, 3, 32, 32), defined by integer arithmetic only."""
    n, c, y, x = np.meshgrid(np.arange(2), np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return ((90 * n + 40 * c + 3 * (n + 1) * y + 5 * x + 4 * ((x * y) % 17)) % 256).astype(np.uint8)


@pytest.fixture(scope="module")
def seeded_net() -> InceptionV3FID:
    net = InceptionV3FID()
    net.load_state_dict(seeded_state(net.state_dict()), strict=True)
    return net.eval()


def test_state_dict_matches_pytorch_fid_table():
    net = InceptionV3FID()
    sd = net.state_dict()
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    assert len(sd) == 566 and len(lines) == 472  # 94 BatchNorms: 5 entries each, 2 for fc
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == REFERENCE_TABLE_SHA256
    assert {k: tuple(sd[k].shape) for k in REFERENCE_SHAPES} == REFERENCE_SHAPES
    assert sum(p.numel() for p in net.parameters()) == 23_850_960
    assert not any(k.startswith("AuxLogits") for k in sd)


def test_features_match_pytorch_fid_reference(seeded_net):
    f = inception_features(seeded_net, probe_images(), batch_size=2)  # (2, 2048)
    assert f.shape == (2, 2048)
    np.testing.assert_allclose(f[:, REFERENCE_INDICES], REFERENCE_VALUES, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(f.sum(1), REFERENCE_SUMS, rtol=1e-6)
    np.testing.assert_allclose(f @ np.cos(0.37 * np.arange(2048)), REFERENCE_PROJECTIONS, rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 28, 28)], ids=["rgb32", "grey28"])
def test_random_net_maps_uint8_images_to_pool3(shape):
    net = InceptionV3FID().eval()  # default random init
    images = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    f = inception_features(net, images, batch_size=2)
    assert f.shape == (2, 2048) and np.isfinite(f).all()
    assert (f >= 0).all() and (f > 0).any()  # a mean of ReLU outputs
    assert not np.allclose(f[0], f[1])  # depends on the image
    if shape[1] == 1:  # grey is the same image repeated on three channels
        np.testing.assert_array_equal(inception_features(net, np.repeat(images, 3, axis=1)), f)


def _save(state: dict[str, torch.Tensor], path) -> None:
    if str(path).endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)


@pytest.mark.parametrize("variant", ["safetensors", "torch", "torch-no-num-batches-tracked"])
def test_save_load_round_trip_gives_identical_features(seeded_net, tmp_path, variant):
    state = seeded_net.state_dict()
    if variant == "torch-no-num-batches-tracked":  # as files written before PyTorch 0.4.1 are
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / ("w.safetensors" if variant == "safetensors" else WEIGHTS_NAME)
    _save(state, path)
    loaded = load_inception(path, resize_input=False)
    assert not loaded.training
    x = torch.from_numpy(probe_images()).float() / 255
    x = torch.nn.functional.interpolate(x, size=(80, 80), mode="bilinear")  # small: fast without resize
    seeded_net.resize_input = False
    try:
        with torch.no_grad():
            np.testing.assert_array_equal(loaded(x).numpy(), seeded_net(x).numpy())
    finally:
        seeded_net.resize_input = True


def _full_state() -> dict[str, torch.Tensor]:
    return {k: v for k, v in InceptionV3FID().state_dict().items() if not k.endswith("num_batches_tracked")}


def _write_bad(kind: str, tmp_path):
    if kind == "missing":
        return tmp_path / WEIGHTS_NAME
    if kind == "garbage":
        (p := tmp_path / WEIGHTS_NAME).write_bytes(b"not a tensor file at all")
    elif kind == "garbage-safetensors":
        (p := tmp_path / "w.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    elif kind == "pickled-module":  # refused by weights_only=True
        torch.save(torch.nn.Linear(2, 2), p := tmp_path / WEIGHTS_NAME)
    elif kind == "nested-dict":
        torch.save({"state_dict": {"fc.bias": torch.zeros(1008)}, "epoch": 3}, p := tmp_path / WEIGHTS_NAME)
    elif kind == "missing-keys":
        torch.save({"fc.weight": torch.zeros(1008, 2048)}, p := tmp_path / WEIGHTS_NAME)
    elif kind == "unexpected-key":  # e.g. torchvision's ImageNet Inception with its auxiliary head
        _save({**_full_state(), "AuxLogits.fc.bias": torch.zeros(1008)}, p := tmp_path / "w.safetensors")
    else:  # wrong-shape: a 1000-class head
        state = {**_full_state(), "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
        _save(state, p := tmp_path / "w.safetensors")
    return p


BAD_FILES = {
    "missing": "not found",
    "garbage": "could not read",
    "garbage-safetensors": "could not read",
    "pickled-module": "could not read",
    "nested-dict": "not a state dict of tensors",
    "missing-keys": "missing 471 keys",
    "unexpected-key": "1 unexpected keys (AuxLogits.fc.bias)",
    "wrong-shape": "fc.weight (1000, 2048) (expected (1008, 2048))",
}


@pytest.mark.parametrize(("kind", "says"), list(BAD_FILES.items()), ids=list(BAD_FILES))
def test_bad_weights_files_raise_one_clear_user_error(tmp_path, kind, says):
    path = _write_bad(kind, tmp_path)
    with pytest.raises(UserError) as err:
        load_inception(path)
    msg = str(err.value)
    assert says in msg and WEIGHTS_NAME in msg and "github.com/mseitzer/pytorch-fid" in msg
    assert "\n" not in msg


def test_wrong_channel_count_is_a_user_error():
    with pytest.raises(UserError, match="1 or 3"):
        InceptionV3FID()(torch.rand(1, 2, 75, 75))
