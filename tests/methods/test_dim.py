from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from infomax.config import TrainConfig, apply_overrides
from infomax.data.datasets import load_dataset
from infomax.data.views import Identity, TwoViews
from infomax.engine.fit import build_method, fit
from infomax.errors import UserError
from infomax.methods.dim import DIM, PRESETS, VIEWS, Config, build, crop_flip, frozen_bn_stats
from infomax.methods.dim_heads import local_pos_mask


def _info(size: int = 8, channels: int = 1) -> SimpleNamespace:
    # stand-in for infomax.data.DataInfo (only the fields build() reads)
    return SimpleNamespace(channels=channels, image_size=size, mean=(0.5,) * channels, std=(0.25,) * channels)


def _preset_cfg(name: str) -> Config:
    cfg, train = Config(), TrainConfig()
    apply_overrides(train, cfg, PRESETS[name].overrides)
    return cfg


def test_required_presets_exist_with_descriptions() -> None:
    for name in (
        "dim-l",
        "dim-g",
        "dim-l-noprior",
        "dim-g-noprior",
        "dim-l-jsd",
        "dim-l-dv",
        "dim-lg",
        "dim-l-occlude",
        "dim-l-coord",
    ):
        assert name in PRESETS
    for p in PRESETS.values():
        assert p.method == "dim" and p.description and "\n" not in p.description
    # the method defaults are DIM(L) with infoNCE and no prior: `infomax train dim` == `... dim-l-noprior`
    cfg = Config()
    assert (cfg.alpha, cfg.beta, cfg.gamma, cfg.bound) == (0.0, 1.0, 0.0, "infonce")
    assert _preset_cfg("dim-l-noprior") == cfg


@pytest.mark.parametrize(("name", "abg"), [
    ("dim-l", (0.0, 1.0, 0.1)),  # the paper's DIM(L): (alpha, beta, gamma) = (0, 1, 0.1)
    ("dim-g", (1.0, 0.0, 1.0)),  # the paper's DIM(G): (1, 0, 1)
    ("dim-l-noprior", (0.0, 1.0, 0.0)),
    ("dim-g-noprior", (1.0, 0.0, 0.0)),
])
def test_paper_named_presets_carry_the_papers_weights(name: str, abg: tuple) -> None:
    cfg = _preset_cfg(name)
    assert (cfg.alpha, cfg.beta, cfg.gamma, cfg.bound) == (*abg, "infonce")
    assert ("gamma=0)" if abg[2] == 0 else f"gamma={abg[2]:g})") in PRESETS[name].description


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_gives_finite_loss_and_encoder_gradients(name: str) -> None:
    cfg = _preset_cfg(name)
    size = 28 if cfg.occlude else 8  # occlusion needs separable receptive fields (>= 28px inputs)
    if cfg.embed_dim > 256:
        cfg.embed_dim = 256  # dim-l-paper's 2048 only changes a width; keep the test fast
    method = build(cfg, _info(size))
    out = method((torch.rand(6, 1, size, size), torch.zeros(6, dtype=torch.long)))
    assert torch.isfinite(out["loss"]) and out["loss"].dim() == 0
    assert f"mi/{cfg.bound}" in out and "mi/infonce" in out
    method.zero_grad()
    out["loss"].backward()
    g = method.encoder.conv1[0].weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    if cfg.gamma > 0:
        assert set(method.param_groups()) == {"main", "prior"} and torch.isfinite(out["loss/prior"])


@pytest.mark.parametrize(
    ("overrides", "ceiling"),
    [
        ({}, math.log(1 + 15 * 4)),  # local infoNCE: 1 positive vs 15 images x 4 locations
        ({"alpha": 1.0, "beta": 0.0}, math.log(16)),  # global infoNCE on a batch of 16
        ({"bound": "jsd"}, 0.0),  # JSD objective tends to 0 from below
        ({"local_arch": "concat", "hidden": 64}, math.log(1 + 15 * 4)),
    ],
)
def test_training_steps_increase_the_mi_estimate(overrides: dict, ceiling: float) -> None:
    method = build(Config(**overrides), _info(8))
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    x = torch.rand(16, 1, 8, 8)
    key = "mi/" + overrides.get("bound", "infonce")
    vals = []
    for _ in range(25):
        out = method((x, torch.zeros(16, dtype=torch.long)))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        vals.append(float(out[key]))
    assert vals[-1] > vals[0] + 0.5
    assert vals[-1] <= ceiling + 1e-4
    # most of the way to the ceiling for the bounded estimators
    assert vals[-1] > vals[0] + 0.5 * (ceiling - vals[0])


def test_n_negatives_caps_infonce_at_log_one_plus_n() -> None:
    method = build(Config(n_negatives=1), _info(8))
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    x = torch.rand(8, 1, 8, 8)
    for _ in range(15):
        out = method((x, torch.zeros(8, dtype=torch.long)))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        assert float(out["mi/infonce"]) <= math.log(2) + 1e-5


def test_loss_sign_and_weights() -> None:
    # with DIM(L+G) the loss is exactly -(alpha * global + beta * local) (no prior, no coordinates)
    torch.manual_seed(1)
    method = build(Config(alpha=0.5, beta=0.25), _info(8))
    out = method((torch.rand(5, 1, 8, 8), torch.zeros(5, dtype=torch.long)))
    want = -(0.5 * out["mi/global/infonce"] + 0.25 * out["mi/local/infonce"])
    torch.testing.assert_close(out["loss"].detach(), want)
    torch.testing.assert_close(out["mi/infonce"], out["mi/local/infonce"])


def test_prior_group_gets_gradients_only_from_its_own_loss() -> None:
    method = build(Config(gamma=1.0), _info(8))
    groups = method.param_groups()
    prior_params, main_params = groups["prior"], groups["main"]
    assert {id(p) for p in prior_params}.isdisjoint(id(p) for p in main_params)
    assert len(prior_params) + len(main_params) == len(list(method.parameters()))
    x = torch.rand(6, 1, 8, 8)
    out = method((x, torch.zeros(6, dtype=torch.long)))
    g_main = torch.autograd.grad(out["loss"], prior_params, retain_graph=True, allow_unused=True)
    assert all(g is None for g in g_main)
    enc = list(method.encoder.parameters())
    g_prior = torch.autograd.grad(out["loss/prior"], enc + prior_params, retain_graph=True, allow_unused=True)
    assert all(g is None for g in g_prior[: len(enc)])
    assert all(g is not None and g.abs().sum() > 0 for g in g_prior[len(enc) :])
    # the encoder does receive the adversarial term: its gradient changes when gamma is switched off
    g_with = torch.autograd.grad(out["loss"], method.encoder.y.weight)[0]
    method.gamma = 0.0
    out0 = method((x, torch.zeros(6, dtype=torch.long)))
    g_without = torch.autograd.grad(out0["loss"], method.encoder.y.weight)[0]
    assert not torch.allclose(g_with, g_without)


def test_prior_discriminator_learns_to_separate_prior_from_codes() -> None:
    # with the encoder frozen, the "prior" group alone drives its BCE loss well below 2 log 2
    method = build(Config(gamma=1.0, prior="gaussian"), _info(8))
    opt = torch.optim.Adam(method.param_groups()["prior"], lr=1e-3)
    x = torch.rand(32, 1, 8, 8)
    for _ in range(60):
        out = method((x, torch.zeros(32, dtype=torch.long)))
        opt.zero_grad()
        out["loss/prior"].backward()
        opt.step()
    assert float(out["loss/prior"].detach()) < 0.5 * 2 * math.log(2)


def test_occluded_pass_keeps_bn_running_stats() -> None:
    method = build(Config(occlude=True), _info(28))
    x = torch.rand(4, 1, 28, 28)
    ref = build(Config(), _info(28))
    ref.encoder.load_state_dict(method.encoder.state_dict())
    method((x, torch.zeros(4, dtype=torch.long)))  # full pass + occluded pass
    ref.encoder(x)  # full pass only
    bn_a, bn_b = method.encoder.conv1[1], ref.encoder.conv1[1]
    torch.testing.assert_close(bn_a.running_mean, bn_b.running_mean)
    torch.testing.assert_close(bn_a.running_var, bn_b.running_var)
    with frozen_bn_stats(method.encoder):
        assert bn_a.momentum == 0.0
    assert bn_a.momentum == 0.1


@pytest.mark.parametrize(
    ("overrides", "size", "match"),
    [
        ({"bound": "nope"}, 8, "unknown bound"),
        ({"local_arch": "x"}, 8, "local_arch"),
        ({"alpha": 0.0, "beta": 0.0}, 8, "no MI objective"),
        ({"beta": -1.0}, 8, "beta must be >= 0"),
        ({"occlude": True}, 8, "disjoint receptive fields"),
        ({"n_globals": 2, "block_size": 2}, 8, "smaller than"),
        ({"coord": "diagonal"}, 8, "unknown coord"),
        ({"prior": "cauchy"}, 8, "unknown prior"),
        ({"n_negatives": 0}, 8, "n_negatives"),
        ({"negative_images": 0}, 8, "negative_images"),
        ({"views": "rotate"}, 8, "unknown views"),
        ({"score_clip": 0.0}, 8, "score_clip must be > 0"),
        ({"score_scale": -0.1}, 8, "score_scale must be > 0"),
        ({"encoder_width": 0}, 8, "encoder_width must be >= 1"),
        ({"views": "cross-cifar", "view_jitter": 2.6}, 8, r"view_jitter must be in \[0, 2.5\]"),
        ({"views": "cross-cifar", "view_jitter": -0.5}, 8, r"view_jitter must be in \[0, 2.5\]"),
        ({"views": "none", "view_jitter": 2.0}, 8, "view_jitter applies to views cross and cross-cifar"),
        ({"views": "cross-simclr", "view_jitter": 0.5}, 8, "view_jitter applies to views cross and"),
    ],
)
def test_bad_options_raise_user_errors(overrides: dict, size: int, match: str) -> None:
    with pytest.raises(UserError, match=match):
        build(Config(**overrides), _info(size))


def _batch(n: int = 6, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(n, 1, size, size), torch.zeros(n, dtype=torch.long)


@pytest.mark.parametrize(("views", "scale"), [("cross", 2.0), ("cross-cifar", 0.5), ("cross-cifar", 0.0)])
def test_view_jitter_scales_the_colour_jitter_of_both_views(views: str, scale: float) -> None:
    method = build(Config(views=views, view_jitter=scale), _info(8, channels=3))
    jitters = [m for m in method.views.modules() if type(m).__name__ == "ColorJitter"]
    assert len(jitters) == 1  # one policy draws both views
    j = jitters[0]
    assert (j.brightness, j.contrast, j.saturation, j.hue) == pytest.approx(
        (0.4 * scale, 0.4 * scale, 0.4 * scale, 0.2 * scale))


@pytest.mark.parametrize("views", VIEWS)
def test_views_give_finite_loss_and_encoder_gradients(views: str) -> None:
    torch.manual_seed(0)
    method = build(Config(views=views), _info(8))
    out = method(_batch())
    out["loss"].backward()
    g = method.encoder.conv1[0].weight.grad
    assert torch.isfinite(out["loss"]) and g is not None and g.abs().sum() > 0


def test_crop_flip_view_is_the_single_view_objective_on_the_augmented_batch() -> None:
    torch.manual_seed(3)
    aug = build(Config(views="crop-flip"), _info(8))
    plain = build(Config(), _info(8))
    plain.load_state_dict(aug.state_dict())
    x, labels = _batch()
    torch.manual_seed(7)
    got = aug((x, labels))["loss"]
    torch.manual_seed(7)
    x_aug = crop_flip(8)(x)  # the same draws
    assert not torch.equal(x_aug, x)
    torch.testing.assert_close(got, plain((x_aug, labels))["loss"])


def test_cross_views_of_identical_copies_reduce_to_the_single_view_objective() -> None:
    # two identical views: each Y against the other copy's (= its own) map, and batch norm over the
    # duplicated batch has the same mean and (biased) variance as over the batch itself
    torch.manual_seed(4)
    cross = build(Config(views="cross"), _info(8))
    cross.views = TwoViews(Identity())
    plain = build(Config(), _info(8))
    plain.load_state_dict(cross.state_dict())
    batch = _batch()
    a, b = cross(batch), plain(batch)
    for key in ("loss", "mi/infonce", "mi/jsd", "mi/dv"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5)


def test_cross_views_score_each_y_against_the_other_views_local_map() -> None:
    torch.manual_seed(5)
    method = build(Config(views="cross-crop-flip"), _info(8))
    x, labels = _batch()
    torch.manual_seed(9)
    out = method((x, labels))
    torch.manual_seed(9)
    x1, x2 = method.views(x)  # the same draws
    feats = method.encoder(torch.cat([x1, x2]))
    y1, y2 = feats["y"].chunk(2)
    l1, l2 = feats["local"].chunk(2)
    mi_12, _ = method._mi(method.local_scores(y1, l2), _pos(6, l1))
    mi_21, _ = method._mi(method.local_scores(y2, l1), _pos(6, l1))
    torch.testing.assert_close(out["loss"], -(mi_12 + mi_21) / 2)
    # not the same-view objective: Y against its own view's map gives another value
    mi_11, _ = method._mi(method.local_scores(y1, l1), _pos(6, l1))
    assert abs(float((mi_11 - mi_12).detach())) > 1e-4


def _pos(b: int, local: torch.Tensor) -> torch.Tensor:
    return local_pos_mask(b, local.shape[2] * local.shape[3], device=local.device)


class _Killed(Exception):
    pass


def _fit_digits(run_dir, resume: bool = False):
    splits = load_dataset("digits")
    cfg = Config(views="cross", embed_dim=16)
    tc = TrainConfig(method="dim", max_epochs=2, batch_size=32, limit_train_batches=3, seed=2)
    m = build_method("dim", cfg, splits.info, tc.seed)
    return fit(m, splits, tc, run_dir, "dim", cfg, resume=resume, progress=False)


def test_killed_cross_view_run_resumes_to_identical_weights(tmp_path, monkeypatch) -> None:
    # the views draw from the global RNG, which the checkpoint carries: a killed run ends the same
    _fit_digits(tmp_path / "ref")
    forward, calls = DIM.forward, {"n": 0}

    def dying(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # second step of epoch 2
            raise _Killed
        return forward(self, batch)

    monkeypatch.setattr(DIM, "forward", dying)
    with pytest.raises(_Killed):
        _fit_digits(tmp_path / "run")
    monkeypatch.setattr(DIM, "forward", forward)
    _fit_digits(tmp_path / "run", resume=True)
    a = load_file(str(tmp_path / "ref/model.safetensors"))
    b = load_file(str(tmp_path / "run/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_negative_images_keeps_own_image_and_k_whole_other_images() -> None:
    # B = 4 images, L = 3 locations: score [i, j * L + l] = 10 * j + l identifies the image j of every column
    from infomax.methods.dim import restrict_negative_images

    b, n_loc, k = 4, 3, 2
    scores = torch.tensor([[10.0 * j + l for j in range(b) for l in range(n_loc)] for _ in range(b)])
    s, pos = restrict_negative_images(scores, k, torch.Generator().manual_seed(0))
    assert s.shape == pos.shape == (b, (k + 1) * n_loc)
    for i in range(b):
        assert pos[i].tolist() == [True] * n_loc + [False] * (k * n_loc)
        assert s[i, :n_loc].tolist() == [10.0 * i + l for l in range(n_loc)]  # its own image: the positives
        neg_images = [int(v) // 10 for v in s[i, n_loc:].tolist()]
        # k * L = 6 negatives per row: k whole images (every location), none of them image i
        assert len(neg_images) == k * n_loc and i not in neg_images
        assert sorted(set(neg_images)) == sorted(set(neg_images[::n_loc])) and len(set(neg_images)) == k
        assert s[i, n_loc:].tolist() == [10.0 * j + l for j in neg_images[::n_loc] for l in range(n_loc)]
    s_all, _ = restrict_negative_images(scores, 10)  # more than the batch has: every other image, once each
    assert s_all.shape == (b, b * n_loc)
    assert all(sorted(int(v) // 10 for v in s_all[i, n_loc:].tolist()) == sorted(
        [j for j in range(b) if j != i] * n_loc) for i in range(b))
    with pytest.raises(UserError, match="negative_images=0"):
        restrict_negative_images(scores, 0)


@pytest.mark.parametrize(("overrides", "key"), [
    ({}, "mi/infonce"),  # local: 1 positive vs k images x L locations
    ({"alpha": 1.0, "beta": 0.0}, "mi/infonce"),  # global: 1 positive vs k images
])
def test_negative_images_caps_infonce_at_log_one_plus_k_images(overrides: dict, key: str) -> None:
    method = build(Config(negative_images=1, **overrides), _info(8))
    n_loc = 1 if overrides else method.encoder.local_size ** 2
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    x = torch.rand(8, 1, 8, 8)
    for _ in range(10):
        out = method((x, torch.zeros(8, dtype=torch.long)))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        assert float(out[key]) <= math.log(1 + n_loc) + 1e-5
