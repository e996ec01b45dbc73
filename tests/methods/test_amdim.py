"""AMDIM method: the loss against a direct computation, training steps, ablations, online probes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from infomax.bounds import infonce
from infomax.config import TrainConfig, apply_overrides
from infomax.critics.stabilized import StabilizedScore
from infomax.data.views import Identity, TwoViews
from infomax.errors import UserError
from infomax.methods.amdim import AMDIM, PRESETS, Config, build
from infomax.methods.dim_heads import local_pos_mask

INFO = SimpleNamespace(channels=3, image_size=32, num_classes=4, mean=(0.5,) * 3, std=(0.25,) * 3)
SMALL = {"ndf": 4, "n_rkhs": 16}


def _batch(b: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(b, 3, 32, 32), torch.arange(b) % 4


def test_single_scale_loss_is_minus_infonce_plus_penalty() -> None:
    # identical views: both directions equal, and the loss can be recomputed from the encoder directly
    m = AMDIM(3, 32, INFO.mean, INFO.std, views=TwoViews(Identity()), multiscale=False, online_probes=False,
              **SMALL)
    x, y = _batch()
    out = m((x, y))
    feats = m.encoder(torch.cat([x, x]))  # train-mode batch statistics over both views, as in forward
    f1, f7 = feats["f1"][:6], feats["f7"][:6]
    rows = f7.flatten(2).transpose(1, 2).reshape(6 * 49, 16)
    scores, pen = StabilizedScore(16, clip=20.0, l2_weight=4e-2).score_and_penalty(f1, rows)
    mi = infonce(scores, pos_mask=local_pos_mask(6, 49))
    assert torch.allclose(out["mi/infonce"], mi, atol=1e-5)
    expected = -(mi - math.log(1 + 5 * 49)) + pen
    assert torch.allclose(out["loss"], expected, atol=1e-5)
    assert torch.allclose(out["reg/score_l2"], pen, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "terms"),
    [({}, {"nce/1-7", "nce/1-5", "nce/5-5"}), ({"multiscale": False}, {"nce/1-7"})],
)
def test_multiscale_terms(overrides: dict, terms: set[str]) -> None:
    out = build(Config(**SMALL, **overrides), INFO)(_batch())
    assert {k for k in out if k.startswith("nce/")} == terms


def test_no_stabilize_has_no_penalty_and_unclipped_scores() -> None:
    m = build(Config(**SMALL, stabilize=False), INFO)
    assert m.score.clip is None and m.score.l2_weight == 0.0
    assert float(m(_batch())["reg/score_l2"]) == 0.0


@pytest.mark.parametrize("n_mix", [1, 3])
def test_training_steps_are_finite_and_reach_the_encoder(n_mix: int) -> None:
    m = build(Config(**SMALL, n_mix=n_mix), INFO)
    groups = m.param_groups()
    w0 = m.encoder.stem[0].weight.detach().clone()
    for _ in range(3):
        out = m(_batch(8))
        assert all(bool(torch.isfinite(v).all()) for v in out.values())
        for g, params in groups.items():  # plain SGD by hand (a torch optimiser's first step costs ~5 s)
            for p in params:
                p.grad = None
            out["loss" if g == "main" else f"loss/{g}"].backward(retain_graph=True)
            if g == "main":
                grad = m.encoder.stem[0].weight.grad
                assert grad is not None and float(grad.abs().sum()) > 0
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p -= 1e-2 * p.grad
    assert not torch.equal(w0, m.encoder.stem[0].weight)
    if n_mix > 1:
        assert 0 <= float(out["mix/entropy"]) <= math.log(n_mix)


def test_probe_loss_trains_only_the_probes() -> None:
    m = build(Config(**SMALL), INFO)
    groups = m.param_groups()
    main, probe = {id(p) for p in groups["main"]}, {id(p) for p in groups["probe"]}
    assert not main & probe and main | probe == {id(p) for p in m.parameters()}
    seen = []
    m.probes.linear.register_forward_hook(lambda mod, inp, logits: seen.append(logits.detach()))
    x, y = _batch()
    out = m((x, y))
    out["loss/probe"].backward()
    assert all(p.grad is None for p in m.encoder.parameters())
    assert all(p.grad is not None for p in m.probes.parameters())
    # the logged accuracy is that of the linear probe's own logits on this batch's labels
    (logits,) = seen
    assert logits.shape == (6, 4)
    assert float(out["probe/linear_acc"]) == float((logits.argmax(1) == y).float().mean())


def test_unlabelled_batch_logs_no_probe_accuracy() -> None:
    out = build(Config(**SMALL), INFO)((torch.rand(4, 3, 32, 32), torch.full((4,), -1)))
    assert "probe/linear_acc" not in out and float(out["loss/probe"].detach()) == 0.0


def test_image_sizes_without_7x7_maps_are_refused() -> None:
    info = SimpleNamespace(**{**vars(INFO), "image_size": 28})
    with pytest.raises(UserError, match="32-35"):
        build(Config(**SMALL), info)


def test_bad_option_is_a_user_error() -> None:
    with pytest.raises(UserError, match="n_mix"):
        build(Config(n_mix=0), INFO)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_apply(name: str) -> None:
    train, cfg = TrainConfig(), Config()
    apply_overrides(train, cfg, PRESETS[name].overrides)
    cfg.validate()
    assert train.data == "cifar10" and PRESETS[name].method == "amdim"


def test_mixture_entropy_lowers_the_loss_by_alpha_times_h() -> None:
    # the method minimises -(sum_k q s_nce + alpha H(q)): the entropy is a bonus (doc 004: "entropy
    # maximization term"), so raising alpha from 0 lowers the loss by alpha * H
    kw = {"views": TwoViews(Identity()), "multiscale": False, "online_probes": False, **SMALL}
    m = AMDIM(3, 32, INFO.mean, INFO.std, n_mix=3, mix_alpha=0.0, **kw)
    batch = _batch()
    out0 = m(batch)
    m.mix_alpha = 0.5
    out1 = m(batch)
    h = out0["mix/entropy"]
    assert 0 < float(h) <= math.log(3)
    assert torch.allclose(out1["loss"] - out0["loss"], -0.5 * h, atol=1e-5)


def test_l2_weight_defaults_to_doc_004_and_is_a_parameter() -> None:
    assert Config().l2_weight == 4e-2 and build(Config(**SMALL), INFO).score.l2_weight == 4e-2
    kw = {"views": TwoViews(Identity()), "multiscale": False, "online_probes": False, **SMALL}
    a = AMDIM(3, 32, INFO.mean, INFO.std, l2_weight=4e-2, **kw)
    b = AMDIM(3, 32, INFO.mean, INFO.std, l2_weight=5e-2, **kw)  # the authors' public code
    b.load_state_dict(a.state_dict())
    x = _batch()
    assert torch.allclose(b(x)["reg/score_l2"], 1.25 * a(x)["reg/score_l2"], rtol=1e-5)
    assert build(Config(**SMALL), INFO).score.clip == 20.0


@pytest.mark.parametrize(
    ("name", "switch"),
    [
        ("amdim-no-jitter", {"color_jitter": False}),
        ("amdim-no-gray", {"random_gray": False}),
        ("amdim-no-crop", {"random_crop": False}),
        ("amdim-translate", {"translate": True}),
        ("amdim-single-scale", {"multiscale": False}),
        ("amdim-no-stabilize", {"stabilize": False}),
        ("amdim-strong-aug", {"strong_augment": True}),
    ],
)
def test_ablation_presets_switch_one_thing_each(name: str, switch: dict) -> None:
    base, cfg = Config(), Config()
    apply_overrides(TrainConfig(), cfg, PRESETS[name].overrides)
    changed = {k: v for k, v in vars(cfg).items() if v != getattr(base, k)}
    assert changed == switch


@pytest.mark.parametrize(
    ("switch", "kinds"),
    [
        ({}, ["RandomHorizontalFlip", "RandomResizedCrop", "ColorJitter", "RandomGrayscale"]),
        ({"translate": True}, ["RandomHorizontalFlip", "RandomApply", "ColorJitter", "RandomGrayscale"]),
    ],
)
def test_translate_puts_the_cifar_translation_in_the_crops_place(switch: dict, kinds: list) -> None:
    views = build(Config(**SMALL, **switch), INFO).views.transform
    assert [type(t).__name__ for t in views.transforms] == kinds
