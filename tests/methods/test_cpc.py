"""CPC and patch-grid DIM(L): the masking property, the infoNCE against the bound, training steps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from infomax.bounds import infonce
from infomax.config import TrainConfig, apply_overrides
from infomax.errors import UserError
from infomax.methods.cpc import CPC, PRESETS, Config, PatchGlobal, build

INFO = SimpleNamespace(channels=1, image_size=16, num_classes=3, mean=(0.5,), std=(0.5,))
SMALL = {"ndf": 4, "dim": 8}  # 16px images: 4x4 crops, stride 2, a 7x7 grid


def _batch(b: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(b, 1, 16, 16), torch.arange(b) % 3


@pytest.mark.parametrize("t", [0, 2, 5])
def test_prediction_never_sees_rows_below_its_summary(t: int) -> None:
    m = build(Config(**SMALL, n_offsets=3), INFO)
    z = torch.randn(2, 8, 7, 7)
    zp = z.clone()
    zp[:, :, t + 1 :] = torch.randn_like(zp[:, :, t + 1 :])  # every row below t (hence at/below t + k)
    with torch.no_grad():
        p, pp = m.predict(z), m.predict(zp)
        for k in (1, 2, 3):
            if t < 7 - k:  # row t predicts row t + k
                assert torch.equal(p[k][:, :, t], pp[k][:, :, t]), k
        zq = z.clone()
        zq[:, :, t, 0] += 1.0  # the summary's own row, first column: seen by row t's predictions
        pq = m.predict(zq)
    assert not torch.allclose(p[1][:, :, min(t, 5)], pq[1][:, :, min(t, 5)])


@pytest.mark.parametrize("t", [0, 2, 4])
def test_training_forward_from_pixels_never_sees_rows_below(t: int) -> None:
    # end to end in training mode (per-patch norm): 16px images, 4px crops at stride 2, patch row r covers
    # pixel rows 2r .. 2r + 3; changing pixel rows >= 2t + 4 changes only patch rows >= t + 1
    torch.manual_seed(0)
    m = build(Config(**SMALL, n_offsets=2), INFO).train()
    x = torch.rand(3, 1, 16, 16)
    xp = x.clone()
    xp[:, :, 2 * t + 4 :] = torch.rand_like(xp[:, :, 2 * t + 4 :])
    with torch.no_grad():
        p, pp = m.predict(m.encoder(x)["patches"]), m.predict(m.encoder(xp)["patches"])
    for k in (1, 2):
        assert torch.equal(p[k][:, :, : t + 1], pp[k][:, :, : t + 1]), k  # summaries of rows <= t
        if t + 1 < p[k].shape[2]:  # rows t + 1 .. see changed patches
            assert not torch.allclose(p[k][:, :, t + 1 :], pp[k][:, :, t + 1 :])


def test_raster_order_within_a_row() -> None:
    m = build(Config(**SMALL), INFO)
    z = torch.randn(1, 8, 7, 7)
    zp = z.clone()
    zp[:, :, 3, 4:] += 1.0  # row 3, columns 4.. : after (3, 3) in raster order
    with torch.no_grad():
        a, b = m.predict(z)[1], m.predict(zp)[1]
    assert torch.equal(a[:, :, 3, :4], b[:, :, 3, :4])
    assert not torch.allclose(a[:, :, 3, 4:], b[:, :, 3, 4:])


def test_cpc_infonce_matches_the_bound_with_an_explicit_mask() -> None:
    m = build(Config(**SMALL, n_offsets=2), INFO)
    z = torch.randn(3, 8, 7, 7)
    with torch.no_grad():
        ours = m.cpc_infonce(z)
        preds = m.predict(z)
    cands = z.permute(0, 2, 3, 1).reshape(-1, 8)  # (147, D)
    for k, pred in preds.items():
        rows = pred.permute(0, 2, 3, 1).reshape(-1, 8)  # (3 * (7-k) * 7, D)
        mask = torch.zeros(rows.shape[0], cands.shape[0], dtype=torch.bool)
        i = 0
        for b in range(3):
            for t in range(7 - k):
                for c in range(7):
                    mask[i, b * 49 + (t + k) * 7 + c] = True
                    i += 1
        ref = infonce(rows @ cands.t(), pos_mask=mask)  # each positive vs itself + 146 negatives
        assert torch.allclose(ours[k], ref, atol=1e-5), k


def test_block_global_averages_the_block() -> None:
    g = PatchGlobal(4, 3, hidden=5)
    z = torch.randn(2, 4, 5, 5)
    mask = torch.zeros(2, 1, 5, 5)
    mask[:, :, 1:3, 2:4] = 1
    g.eval()
    with torch.no_grad():
        assert torch.allclose(g(z, mask), g.mlp(z[:, :, 1:3, 2:4].mean(dim=(2, 3))), atol=1e-6)
        assert torch.allclose(g(z), g.mlp(z.mean(dim=(2, 3))), atol=1e-6)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"objective": "dim"}, {"objective": "dim", "n_globals": 2}],
    ids=["cpc", "dim", "dim-multi"],
)
def test_training_steps_are_finite_and_reach_the_encoder(overrides: dict) -> None:
    m = build(Config(**SMALL, **overrides), INFO)
    groups = m.param_groups()
    for _ in range(2):
        out = m(_batch())
        assert all(bool(torch.isfinite(v).all()) for v in out.values())
        for p in m.parameters():
            p.grad = None
        out["loss"].backward(retain_graph=True)
        grad = m.encoder.net[0].weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0
        with torch.no_grad():  # plain SGD by hand on the main group
            for p in groups["main"]:
                if p.grad is not None:
                    p -= 1e-2 * p.grad
    assert set(m.encoder(_batch()[0])) == {"patches", "pooled"}


def test_probe_loss_trains_only_the_probes() -> None:
    m = build(Config(**SMALL), INFO)
    out = m(_batch())
    out["loss/probe"].backward()
    assert all(p.grad is None for p in m.encoder.parameters())


def test_offsets_beyond_the_grid_are_refused() -> None:
    with pytest.raises(UserError, match="offset of 7 rows"):
        CPC(1, 16, (0.5,), (0.5,), n_offsets=7, **SMALL)


def test_unknown_objective_is_a_user_error() -> None:
    with pytest.raises(UserError, match="objective"):
        build(Config(objective="pixelcnn"), INFO)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_apply(name: str) -> None:
    train, cfg = TrainConfig(), Config()
    apply_overrides(train, cfg, PRESETS[name].overrides)
    cfg.validate()
    assert PRESETS[name].method == "cpc"
