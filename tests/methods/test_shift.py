"""``--set shift=S`` for DIMCO and ProtoNet: training images reach the encoder translated by at most S
pixels per axis (border replicated), evaluation images as they are."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from infomax.config import TrainConfig, apply_overrides
from infomax.errors import UserError
from infomax.methods import dimco, protonet

INFO = SimpleNamespace(channels=1, image_size=28, mean=(0.5,), std=(0.5,), num_classes=4, name="x")
# each method's module and the part of the built method that receives the (augmented) images
METHODS = {
    "dimco": (dimco, lambda m: m.encoder.backbone, {"d": 2, "k": 4}),
    "protonet": (protonet, lambda m: m.encoder, {}),
}


def _translations(x: torch.Tensor, s: int) -> list[torch.Tensor]:
    """Every translation of x (B, C, H, W) by -s..s pixels per axis, border replicated, by hand."""
    h, w = x.shape[-2:]
    out = []
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            rows = [min(max(r + dy, 0), h - 1) for r in range(h)]
            cols = [min(max(c + dx, 0), w - 1) for c in range(w)]
            out.append(x[:, :, rows][:, :, :, cols])
    return out


@pytest.mark.parametrize("name", sorted(METHODS))
def test_shift_moves_training_images_only(name: str) -> None:
    module, receiver, extra = METHODS[name]
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28)
    labels = torch.arange(4).repeat_interleave(4)
    train, cfg = TrainConfig(), module.Config(**extra)
    apply_overrides(train, cfg, {"shift": "1"})  # as `--set shift=1` writes it
    m = module.build(cfg, INFO)
    seen: list[torch.Tensor] = []
    receiver(m).register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].clone()))
    m.train()
    m((x, labels))
    match = torch.stack([(t == seen[0]).flatten(1).all(1) for t in _translations(x, 1)])  # (9, 16)
    assert match.any(0).all()  # each image is one of its nine translations
    assert not match[4].all()  # and not all of them the untranslated one
    m.eval()
    m((x, labels))
    assert torch.equal(seen[1], x)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_no_shift_by_default(name: str) -> None:
    module, receiver, extra = METHODS[name]
    m = module.build(module.Config(**extra), INFO)
    seen: list[torch.Tensor] = []
    receiver(m).register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].clone()))
    x = torch.rand(16, 1, 28, 28)
    m.train()
    m((x, torch.arange(4).repeat_interleave(4)))
    assert m.augment is None and torch.equal(seen[0], x)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("bad", [-1, 1.5])
def test_bad_shift_is_a_user_error(name: str, bad: object) -> None:
    module, _, extra = METHODS[name]
    with pytest.raises(UserError, match="shift must be an integer >= 0"):
        module.build(module.Config(shift=bad, **extra), INFO)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_omniglot_presets_shift_both_methods_alike(name: str) -> None:
    # shift 2 won on the held-out background alphabets (codes 5-way 1-shot 97.6 vs 96.6 %) and on the test
    # alphabets for both methods (3 seeds each); the codes-vs-ProtoNet tables need the same augmentation
    module = METHODS[name][0]
    train, cfg = TrainConfig(), module.Config()
    apply_overrides(train, cfg, module.PRESETS[f"{name}-omniglot"].overrides)
    assert cfg.shift == 2
    assert module.build(cfg, INFO).augment.padding == 2
