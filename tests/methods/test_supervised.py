from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from infomax.errors import UserError
from infomax.methods import METHODS, method_module, supervised
from infomax.methods.base import MethodBase


def info(size: int = 8, channels: int = 1, classes: int = 3) -> SimpleNamespace:
    """A DataInfo stand-in."""
    return SimpleNamespace(
        name="tiny",
        channels=channels,
        image_size=size,
        num_classes=classes,
        mean=(0.5,) * channels,
        std=(0.5,) * channels,
    )


def batch(n: int = 16, size: int = 8, channels: int = 1):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, channels, size, size, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("head_layer", ["y", "fc"])
def test_loss_decreases_on_a_tiny_batch(head_layer):
    torch.manual_seed(0)
    m = supervised.build(supervised.Config(y_dim=16, head_layer=head_layer), info())
    assert isinstance(m, MethodBase) and m.head.in_features == {"y": 16, "fc": 1024}[head_layer]
    opt = torch.optim.Adam(m.param_groups()["main"], lr=1e-3)
    b = batch()
    first = m(b)
    assert set(first) == {"loss", "accuracy"}
    with torch.no_grad():
        ce = float(torch.nn.functional.cross_entropy(m.logits(b[0]), b[1]))
    assert float(first["loss"].detach()) == pytest.approx(ce, rel=1e-5)
    for _ in range(30):
        loss = m(b)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = m(b)
    assert (
        float(last["loss"].detach()) < 0.5 * float(first["loss"].detach()) and float(last["accuracy"]) == 1.0
    )


def test_unlabelled_items_are_ignored():
    torch.manual_seed(0)
    m = supervised.build(supervised.Config(), info()).eval()
    x, y = batch()
    y_masked = y.clone()
    y_masked[::2] = -1
    expected = torch.nn.functional.cross_entropy(m.logits(x)[1::2], y[1::2])
    assert float(m((x, y_masked))["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    out = m((x, torch.full_like(y, -1)))
    assert float(out["loss"].detach()) == 0.0 and out["loss"].requires_grad


def test_rgb_32x32_and_encoder_features():
    m = supervised.build(supervised.Config(), info(32, 3, 10))
    x = torch.rand(4, 3, 32, 32)
    assert m.logits(x).shape == (4, 10)
    assert m.encoder.output_layer == "y" and m.features(x, "conv").shape == (4, 256 * 4 * 4)


def test_bad_config_is_user_error():
    with pytest.raises(UserError, match="unknown encoder"):
        supervised.build(supervised.Config(encoder="resnet"), info())
    with pytest.raises(UserError, match="head_layer"):
        supervised.build(supervised.Config(head_layer="local"), info())
    with pytest.raises(UserError, match="classes"):
        supervised.build(supervised.Config(), info(classes=0))


def test_preset():
    assert supervised.PRESETS["supervised"].method == "supervised"


#: The smallest image side each method builds at (AMDIM's encoder needs 32-35 px, CPC's crops 32 px).
TWIN_SIZE = {"amdim": 32, "cpc": 32}


@pytest.mark.parametrize("method", [m for m in METHODS if m != "supervised"])
def test_the_baseline_twin_is_the_methods_own_encoder_architecture(method):
    """The supervised baseline of a run trains a fresh copy of that run's encoder: same class, same probe-able
    layers, same parameter names and shapes, and a head on the encoder's output layer (the bug this pins:
    the baseline was DIM's conv encoder whatever the method, so probing it at e.g. CPC's 'pooled' failed)."""
    mod = method_module(method)
    inf = info(size=TWIN_SIZE.get(method, 8))
    torch.manual_seed(0)
    own = mod.build(mod.Config(), inf).encoder
    cfg = supervised.Config(encoder_of=method, encoder_config=dataclasses.asdict(mod.Config()))
    twin = supervised.build(cfg, inf)
    assert type(twin.encoder) is type(own)
    assert tuple(twin.encoder.layers) == tuple(own.layers)
    assert twin.head_layer == own.output_layer
    assert {k: v.shape for k, v in twin.encoder.state_dict().items()} == {
        k: v.shape for k, v in own.state_dict().items()}
    x, y = batch(4, inf.image_size)
    with torch.no_grad():
        loss = twin((x, y))["loss"]
        assert loss.item() == pytest.approx(float(torch.nn.functional.cross_entropy(twin.logits(x), y)),
                                            rel=1e-6)


def test_the_twin_of_the_supervised_method_itself_is_refused():
    with pytest.raises(UserError, match="nest"):
        supervised.build(supervised.Config(encoder_of="supervised"), info())
