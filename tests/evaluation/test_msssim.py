from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.errors import UserError
from infomax.evaluation.msssim import STANDARD_WEIGHTS, Decoder, ms_ssim, scale_plan, ssim
from infomax.evaluation.protocols import PROTOCOLS

C1, C2 = 0.01**2, 0.03**2


def naive_ssim_maps(x: np.ndarray, y: np.ndarray, win: int = 11, sigma: float = 1.5):
    """SSIM and contrast-structure maps of two 2-D images, window position by window position."""
    c = np.arange(win) - (win - 1) / 2
    g = np.exp(-(c**2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    h = x.shape[0] - win + 1
    s_map, cs_map = np.zeros((h, h)), np.zeros((h, h))
    for i in range(h):
        for j in range(h):
            a, b = x[i : i + win, j : j + win], y[i : i + win, j : j + win]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            cs_map[i, j] = (2 * cov + C2) / (va + vb + C2)
            s_map[i, j] = (2 * ma * mb + C1) / (ma**2 + mb**2 + C1) * cs_map[i, j]
    return s_map, cs_map


@pytest.mark.parametrize("side", [8, 28, 32])
def test_identical_images_give_one(side):
    x = torch.rand(3, 3, side, side)
    np.testing.assert_allclose(ms_ssim(x, x).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-6)


def test_constant_images_hand_computed():
    # constant a vs constant b: variances and covariance vanish, SSIM = luminance term only
    a, b = 0.2, 0.6
    x, y = torch.full((1, 1, 11, 11), a), torch.full((1, 1, 11, 11), b)
    assert float(ssim(x, y)) == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), rel=1e-5)


def test_single_scale_matches_naive_on_an_11x11_image():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(11, 11))
    y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1)
    s_map, _ = naive_ssim_maps(x, y)  # one window position
    got = float(ssim(torch.tensor(x)[None, None], torch.tensor(y)[None, None]))
    assert got == pytest.approx(float(s_map.mean()), rel=1e-5)


def test_two_scale_32x32_matches_naive():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(32, 32))
    y = np.clip(0.7 * x + 0.3 * rng.uniform(size=x.shape), 0, 1)
    _, cs1 = naive_ssim_maps(x, y)
    pool = lambda im: im.reshape(16, 2, 16, 2).mean((1, 3))  # noqa: E731
    s2, _ = naive_ssim_maps(pool(x), pool(y))
    w1, w2 = np.array(STANDARD_WEIGHTS[:2]) / sum(STANDARD_WEIGHTS[:2])
    expected = cs1.mean() ** w1 * s2.mean() ** w2
    got = float(ms_ssim(torch.tensor(x)[None, None], torch.tensor(y)[None, None]))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("side", "plan"), [(8, (1, 7)), (28, (2, 11)), (32, (2, 11)), (176, (5, 11)), (175, (4, 11))]
)
def test_scale_plan(side, plan):
    n, win, weights = scale_plan(side)
    assert (n, win) == plan and sum(weights) == pytest.approx(1.0) and len(weights) == n


def test_five_scales_use_the_standard_weights():
    assert scale_plan(256)[2] == pytest.approx(STANDARD_WEIGHTS, rel=1e-3)


def test_one_scale_ms_ssim_is_ssim_and_noise_lowers_it():
    x = torch.rand(4, 1, 8, 8)
    y1 = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    y2 = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    np.testing.assert_allclose(ms_ssim(x, y1).numpy(), ssim(x, y1).numpy(), rtol=1e-6)
    assert bool((ms_ssim(x, y1) > ms_ssim(x, y2)).all())
    np.testing.assert_allclose(ms_ssim(x, y1).numpy(), ms_ssim(y1, x).numpy(), rtol=1e-6)  # symmetric


def test_shape_mismatch_is_user_error():
    with pytest.raises(UserError):
        ms_ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 9, 9))


@pytest.mark.parametrize(("channels", "side"), [(1, 8), (1, 28), (3, 32)])
def test_decoder_shapes(channels, side):
    with torch.no_grad():
        out = Decoder(16, channels, side)(torch.randn(2, 16))
    assert out.shape == (2, channels, side, side) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_msssim_protocol_informative_beats_constant(splits, pixel_encoder, tiny):
    kw = {"epochs": 8, "batch_size": 32, "lr": 3e-3}
    good = PROTOCOLS["msssim"](pixel_encoder, splits, "pixels", **kw)
    bad = PROTOCOLS["msssim"](tiny.ConstantEncoder(), splits, **kw)
    assert good["ms_ssim"] > bad["ms_ssim"] + 0.1 and good["mse"] < bad["mse"]
    assert (good["n_scales"], good["window"], good["layer"]) == (1, 7, "pixels")
