"""The multi-view method: every grid cell trains, shared vs separate encoders, the probed wrapper, the
target-MI and adversarial variants, presets, and bad configs."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from infomax.config import TrainConfig, apply_overrides
from infomax.errors import UserError
from infomax.methods import multiview as mv


def _info(size: int = 8, classes: int = 10) -> SimpleNamespace:
    return SimpleNamespace(
        name="toy", channels=1, image_size=size, num_classes=classes, mean=(0.5,), std=(0.25,)
    )


TINY = {"mlp_hidden": (16,), "out_dim": 8, "conv_channels": 4, "critic_hidden": (16,), "critic_embed_dim": 8,
        "flow_layers": 3, "flow_hidden": (16,)}


def _cfg(**kw: object) -> mv.Config:
    return mv.Config(**{**TINY, **kw})


def _batch(n: int = 16, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(n, 1, size, size), torch.randint(0, 10, (n,))


def _steps(method: mv.MultiView, batch: tuple, n: int, lr: float = 1e-3) -> list[float]:
    opt = torch.optim.Adam(method.param_groups()["main"], lr=lr)
    values = []
    for _ in range(n):
        out = method(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        values.append(out["loss"].item())
    return values


# ---------------------------------------------------------------------------------------------- the grid


@pytest.mark.parametrize("encoder", ["mlp", "convnet", "realnvp"])
@pytest.mark.parametrize("bound", ["infonce", "nwj"])
@pytest.mark.parametrize("critic", ["bilinear", "separable", "concat"])
def test_grid_cell_trains(critic: str, bound: str, encoder: str) -> None:
    method = mv.build(_cfg(encoder=encoder, critic=critic, bound=bound), _info())
    batch = _batch()
    before = [p.detach().clone() for p in method.parameters()]
    losses = _steps(method, batch, 3)
    assert all(math.isfinite(v) for v in losses)
    out = method(batch)
    mi = out[f"mi/{bound}"]
    torch.testing.assert_close(out["loss"].detach(), -mi)  # maximizing the bound
    if bound == "infonce":
        assert mi.item() <= math.log(16) + 1e-5  # InfoNCE never exceeds log N
    assert all(not torch.equal(a, b) for a, b in zip(before, method.parameters()))  # every part trained
    z = method.encoder(batch[0])["g1"]
    expected = 4 * 8 if encoder == "realnvp" else 8  # the flow keeps the 4x8 half's 32 values
    assert tuple(z.shape) == (16, expected)


def test_bound_climbs_to_log_n_when_the_halves_are_equal() -> None:
    # bottom half == top half, no noise: the views determine each other, so InfoNCE can reach log N
    top = torch.rand(32, 1, 4, 8)
    batch = (torch.cat([top, top], dim=2), torch.zeros(32, dtype=torch.long))
    method = mv.build(_cfg(noise_std=0.0, shared_encoder=True), _info())
    start = -method(batch)["loss"].item()
    _steps(method, batch, 150, lr=1e-2)
    end = method(batch)["mi/infonce"].item()
    assert start < 2.5 and end > math.log(32) - 0.3, (start, end)


# ------------------------------------------------------------------------------------- shared / separate


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "separate"])
def test_shared_and_separate_encoders(shared: bool) -> None:
    method = mv.build(_cfg(shared_encoder=shared, noise_std=0.0), _info())
    top = torch.rand(4, 1, 4, 8)
    z1, z2 = method.embed(torch.cat([top, top], dim=2))  # identical halves
    n_enc = sum(p.numel() for p in method.g1.parameters())
    n_critic = sum(p.numel() for p in method.critic.parameters())
    n_main = sum(p.numel() for p in method.param_groups()["main"])
    if shared:
        assert method.g2 is None and torch.equal(z1, z2)
        assert n_main == n_enc + n_critic
    else:
        assert method.g2 is not method.g1 and not torch.allclose(z1, z2)
        assert n_main == 2 * n_enc + n_critic
    names = [k for k, _ in method.named_parameters()]
    assert len(names) == len(set(names)) and not any(k.startswith("g1.") for k in method.state_dict())


def test_probed_encoder_is_g1_of_the_clean_top_half() -> None:
    method = mv.build(_cfg(noise_std=0.5), _info(28))
    enc = method.encoder
    assert enc.layers == ("g1",) and enc.output_layer == "g1"
    x = torch.rand(5, 1, 28, 28)
    top, bottom = method.views(x)
    assert tuple(top.shape) == (5, 1, 14, 28) and tuple(bottom.shape) == (5, 1, 14, 28)
    torch.testing.assert_close(torch.cat([top, bottom], dim=2), x)
    torch.testing.assert_close(enc(x)["g1"], method.g1(x[:, :, :14])["y"])  # no noise when probing
    torch.testing.assert_close(method.features(x), enc(x)["g1"])


def test_training_views_get_the_papers_noise() -> None:
    # the paper: N(0, 0.05^2) on each view in training, unclamped; none on the probed (clean) top half
    method = mv.build(_cfg(), _info(28))
    assert mv.Config().noise_std == 0.05 and method.noise.std == 0.05
    seen: list[torch.Tensor] = []
    method.g1.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    x = torch.rand(256, 1, 28, 28)
    method((x, torch.zeros(256, dtype=torch.long)))
    assert len(seen) == 1  # g1 sees the top half only (g2 the bottom)
    delta = seen[0] - x[:, :, :14]  # (256, 1, 14, 28): 100k noise values
    assert abs(delta.mean().item()) < 2e-3 and abs(delta.std().item() - 0.05) < 2e-3
    assert seen[0].min().item() < 0.0  # not clamped to [0, 1]
    seen.clear()
    method.encoder(x)
    torch.testing.assert_close(seen[0], x[:, :, :14], atol=0, rtol=0)


# ------------------------------------------------------------------------------------------- variants


def test_target_mi_loss() -> None:
    method = mv.build(_cfg(target_mi=2.0, shared_encoder=True), _info())
    out = method(_batch())
    torch.testing.assert_close(out["loss"].detach(), (out["mi/infonce"] - 2.0).abs())


def test_adversary_groups_and_gradients() -> None:
    method = mv.build(_cfg(encoder="realnvp", adversary_weight=0.5, noise_std=0.0), _info())
    groups = method.param_groups()
    adv_ids = {id(p) for p in groups["adversary"]}
    assert adv_ids == {id(p) for p in method.adversary.parameters()}
    assert not adv_ids & {id(p) for p in groups["main"]}
    x, y = _batch()
    y[:3] = -1  # unlabeled items are ignored
    out = method((x, y))
    z1, z2 = method.embed(x, train_noise=False)
    ce = nn.functional.cross_entropy(method.adversary(z1[3:]), y[3:])
    torch.testing.assert_close(out["loss/adversary"], ce)
    torch.testing.assert_close(out["loss"], -out["mi/infonce"] - 0.5 * ce)
    # each loss reaches only its own group's parameters
    g_main = torch.autograd.grad(out["loss"], groups["adversary"] + groups["main"], allow_unused=True)
    assert all(g is None for g in g_main[: len(groups["adversary"])])
    g_adv = torch.autograd.grad(out["loss/adversary"], groups["main"], allow_unused=True)
    assert all(g is None for g in g_adv)


def test_bijective_encoder_keeps_dimension() -> None:
    method = mv.build(_cfg(encoder="realnvp"), _info(28))
    x = torch.rand(3, 1, 28, 28)
    z = method.encoder(x)["g1"]
    assert tuple(z.shape) == (3, 392)
    torch.testing.assert_close(method.g1.inverse(z), x[:, :, :14], atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------- config, presets


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("encoder", "resnet", "unknown encoder"),
        ("critic", "mine", "unknown critic"),
        ("bound", "nope", "unknown bound"),
        ("views", "left-right", "unknown views"),
        ("target_mi", -1.0, "target_mi"),
        ("noise_std", -0.1, "noise_std"),
    ],
)
def test_bad_config(key: str, value: object, match: str) -> None:
    with pytest.raises(UserError, match=match):
        mv.build(_cfg(**{key: value}), _info())


def test_adversary_needs_labels() -> None:
    with pytest.raises(UserError, match="labelled"):
        mv.build(_cfg(adversary_weight=1.0), _info(classes=0))


def test_presets_cover_the_study_and_apply() -> None:
    names = set(mv.PRESETS)
    grid = {f"mv-{e}-{c}-{b}" for e in ("mlp", "convnet") for c in ("bilinear", "separable", "concat")
            for b in ("infonce", "nwj")}
    assert grid <= names
    assert {"mv-realnvp-bilinear-infonce", "mv-realnvp-adversarial"} <= names
    assert {"mv-target-t2-mlp", "mv-target-t4-convnet", "mv-target-t2-convnet-nwj"} <= names
    for name, preset in mv.PRESETS.items():
        assert preset.method == "multiview"
        train, cfg = TrainConfig(), mv.Config()
        apply_overrides(train, cfg, preset.overrides)
        assert (train.data, train.lr, train.batch_size) == ("mnist", 1e-4, 128), name
    train, cfg = TrainConfig(), mv.Config()
    apply_overrides(train, cfg, mv.PRESETS["mv-target-t4-convnet"].overrides)
    assert cfg.target_mi == 4.0 and cfg.shared_encoder and cfg.encoder == "convnet"
    assert dataclasses.asdict(cfg)["critic_hidden"] is None
