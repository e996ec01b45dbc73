"""Views: shapes, ranges, per-sample randomness, seeding, and exact identities of each transform."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from infomax.data import views as V

RANDOM_VIEWS = {
    "flip": lambda: V.RandomHorizontalFlip(0.5),
    "resized_crop": lambda: V.RandomResizedCrop(32),
    "crop": lambda: V.RandomCrop(32, padding=4),
    "jitter": lambda: V.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0),
    "gray": lambda: V.RandomGrayscale(0.5),
    "noise": lambda: V.GaussianNoise(0.05, clamp=True),
    "blur": lambda: V.GaussianBlur(5, (0.1, 2.0), p=1.0),
    "simclr": lambda: V.simclr_augment(32),
    "mocov2": lambda: V.mocov2_augment(32),
    "amdim": lambda: V.amdim_augment(32),
    "amdim-cifar": lambda: V.amdim_cifar_augment(32),
    "random-apply": lambda: V.RandomApply(V.RandomCrop(32, 4, "reflect"), p=0.5),
}


def _images(b: int = 8, c: int = 3, h: int = 32, w: int = 32) -> torch.Tensor:
    """Smooth random images in [0, 1] with structure (so crops/flips/blur change them)."""
    x = torch.rand(b, c, h // 4, w // 4)
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


@pytest.mark.parametrize("name", list(RANDOM_VIEWS))
def test_shape_dtype_and_range(name: str) -> None:
    x = _images(16)
    y = RANDOM_VIEWS[name]()(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", list(RANDOM_VIEWS))
def test_per_sample_randomness(name: str) -> None:
    """The same image repeated over the batch comes out differently for different samples."""
    x = _images(1).expand(32, -1, -1, -1).contiguous()
    y = RANDOM_VIEWS[name]()(x)
    distinct = {tuple(y[i].flatten()[::7].tolist()) for i in range(len(y))}
    assert len(distinct) > 1


@pytest.mark.parametrize("name", list(RANDOM_VIEWS))
def test_deterministic_under_seed(name: str) -> None:
    x = _images(8)
    view = RANDOM_VIEWS[name]()
    torch.manual_seed(123)
    a = view(x)
    torch.manual_seed(123)
    b = view(x)
    c = view(x)  # RNG moved on
    assert torch.equal(a, b)
    assert not torch.equal(b, c)


def test_identity_and_compose_order() -> None:
    x = _images(4)
    assert V.Identity()(x) is x
    comp = V.Compose([lambda t: t * 0.5, lambda t: t + 0.25])
    assert torch.allclose(comp(x), x * 0.5 + 0.25)


def test_flip_is_exact_mirror() -> None:
    x = _images(64)
    assert torch.equal(V.RandomHorizontalFlip(1.0)(x), x.flip(-1))
    assert torch.equal(V.RandomHorizontalFlip(0.0)(x), x)
    y = V.RandomHorizontalFlip(0.5)(x)
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 10 < int(mirrored.sum()) < 54  # ~Binomial(64, 0.5)


def test_resized_crop_with_integer_box_is_a_slice() -> None:
    x = _images(2, h=16, w=20)
    boxes = torch.tensor([[2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 16.0, 20.0]])
    y = V.resized_crop(x, boxes, (4, 5))
    assert torch.allclose(y[0], x[0, :, 2:6, 3:8], atol=1e-5)
    full = V.resized_crop(x, boxes[1:].expand(2, 4), (16, 20))
    assert torch.allclose(full, x, atol=1e-5)


def test_resized_crop_full_scale_is_identity() -> None:
    x = _images(8)
    y = V.RandomResizedCrop(32, scale=(1.0, 1.0), ratio=(1.0, 1.0))(x)
    assert torch.allclose(y, x, atol=1e-5)


def test_resized_crop_boxes_follow_scale_and_ratio() -> None:
    rrc = V.RandomResizedCrop(32, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    boxes = rrc.sample_boxes(4000, 32, 32)
    top, left, h, w = boxes.unbind(1)
    assert bool((top >= 0).all() and (left >= 0).all())
    assert bool((top + h <= 32).all() and (left + w <= 32).all())
    assert bool((top == top.round()).all() and (w == w.round()).all())
    area = h * w / 1024
    # integer rounding of w and h moves the area/aspect a little off the drawn values
    assert area.min() >= 0.2 - 0.05 and area.max() <= 0.6 + 0.05
    aspect = w / h
    assert aspect.min() >= 0.5 * 0.8 and aspect.max() <= 2.0 * 1.25
    assert len({tuple(b) for b in boxes[:50].tolist()}) > 40  # per-sample boxes


def test_resized_crop_fallback_is_centre_crop() -> None:
    """Nothing fits a 1x32 strip with ratio ~1: torchvision's fallback, a centred ratio-clipped crop."""
    rrc = V.RandomResizedCrop(8, scale=(0.9, 1.0), ratio=(0.9, 1.1))
    boxes = rrc.sample_boxes(5, 2, 40)
    assert boxes[0].tolist() == [0.0, 19.0, 2.0, 2.0]  # w = round(2 * 1.1) = 2, centred at (40 - 2) // 2


def test_random_crop_outputs_are_exact_crops() -> None:
    x = _images(6, h=12, w=12)
    torch.manual_seed(5)
    y = V.RandomCrop(10, padding=2)(x)
    xp = F.pad(x, (2, 2, 2, 2))
    offsets = []
    for i in range(len(x)):
        hits = [
            (a, b) for a in range(7) for b in range(7) if torch.equal(y[i], xp[i, :, a : a + 10, b : b + 10])
        ]
        assert hits, f"sample {i} is not a crop of the padded image"
        offsets.append(hits[0])
    assert len(set(offsets)) > 1
    assert torch.equal(V.RandomCrop(12)(x), x)


def test_random_crop_reflect_padding_stays_in_image_values() -> None:
    x = _images(4, h=8, w=8) * 0.5 + 0.5  # values in [0.5, 1]: zero padding would show up
    y = V.RandomCrop(8, padding=3, padding_mode="reflect")(x)
    assert y.min() >= 0.5


def test_grayscale_channels_equal_luma() -> None:
    x = _images(16)
    y = V.RandomGrayscale(1.0)(x)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        assert torch.allclose(y[:, c], luma, atol=1e-6)
    assert torch.equal(V.RandomGrayscale(0.0)(x), x)
    g = _images(4, c=1)
    assert torch.equal(V.RandomGrayscale(1.0)(g), g)


def test_brightness_only_scales_each_image_by_one_factor() -> None:
    x = _images(8) * 0.5  # no clamping for factors <= 2
    y = V.ColorJitter(brightness=0.5, contrast=0, saturation=0, hue=0, p=1.0)(x)
    ratio = y / x
    per_image = ratio.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-4)
    f = per_image[:, 0]
    assert bool(((f >= 0.5) & (f <= 1.5)).all()) and f.std() > 0.01


def test_contrast_keeps_mean_luma_and_saturation_keeps_luma() -> None:
    x = _images(8) * 0.2 + 0.4  # mid-range: no clamping for factors in [0.6, 1.4]
    y = V.ColorJitter(brightness=0, contrast=0.4, saturation=0, hue=0, p=1.0)(x)
    assert torch.allclose(V.grayscale(y).mean((1, 2, 3)), V.grayscale(x).mean((1, 2, 3)), atol=1e-5)
    z = V.ColorJitter(brightness=0, contrast=0, saturation=0.4, hue=0, p=1.0)(x)
    assert torch.allclose(V.grayscale(z), V.grayscale(x), atol=1e-5)
    assert not torch.allclose(z, x, atol=1e-3)


def test_hue_rotation_keeps_luma_and_grays() -> None:
    x = _images(8) * 0.2 + 0.4
    y = V.ColorJitter(brightness=0, contrast=0, saturation=0, hue=0.1, p=1.0)(x)
    assert torch.allclose(V.grayscale(y), V.grayscale(x), atol=1e-4)  # YIQ rotation keeps Y
    assert not torch.allclose(y, x, atol=1e-3)
    gray = V.grayscale(x).expand(-1, 3, -1, -1)
    assert torch.allclose(V.ColorJitter(0, 0, 0.4, 0.5, p=1.0)(gray), gray, atol=1e-5)  # no chroma to move
    assert torch.allclose(V._rotate_hue(x, torch.zeros(8)), x, atol=1e-5)


def test_jitter_probability_zero_is_identity_and_gray_input_ok() -> None:
    x = _images(8)
    assert torch.equal(V.ColorJitter(p=0.0)(x), x)
    g = _images(8, c=1)
    assert V.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)(g).shape == g.shape


def test_gaussian_noise_matches_explicit_draw() -> None:
    x = _images(8)
    torch.manual_seed(3)
    y = V.GaussianNoise(0.05)(x)
    torch.manual_seed(3)
    assert torch.equal(y, x + 0.05 * torch.randn_like(x))
    assert abs(float((y - x).std()) - 0.05) < 0.002


def test_blur_matches_explicit_gaussian_conv() -> None:
    x = _images(3, c=3, h=16, w=16)
    y = V.GaussianBlur(5, sigma=(1.3, 1.3), p=1.0)(x)
    t = torch.arange(-2, 3, dtype=torch.float32)
    k1 = torch.exp(-(t**2) / (2 * 1.3**2))
    k1 = k1 / k1.sum()
    k2 = (k1[:, None] * k1[None, :]).expand(3, 1, 5, 5)
    ref = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k2, groups=3)
    assert torch.allclose(y, ref, atol=1e-5)
    const = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(V.GaussianBlur(5, p=1.0)(const), const, atol=1e-6)
    assert torch.equal(V.GaussianBlur(5, p=0.0)(x), x)


def test_top_bottom_halves_split_exactly() -> None:
    x = _images(4, c=1, h=28, w=28)
    top, bottom = V.TopBottomHalves()(x)
    assert top.shape == (4, 1, 14, 28) and bottom.shape == (4, 1, 14, 28)
    assert torch.equal(torch.cat([top, bottom], 2), x)
    assert torch.equal(top, x[:, :, :14])


def test_two_views_are_independent() -> None:
    x = _images(8)
    v1, v2 = V.TwoViews(V.simclr_augment(32))(x)
    assert v1.shape == v2.shape == x.shape
    assert not torch.allclose(v1, v2)
    a, b = V.TwoViews(V.Identity(), lambda t: 1 - t)(x)
    assert torch.equal(a, x) and torch.equal(b, 1 - x)


def test_random_apply_keeps_or_transforms_each_sample() -> None:
    x = _images(64)
    y = V.RandomApply(lambda t: 1 - t, p=0.5)(x)
    changed = (y == 1 - x).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert bool((changed ^ kept).all())  # each sample is one or the other, whole
    assert 10 < int(changed.sum()) < 54  # ~Binomial(64, 0.5)
    assert torch.equal(V.RandomApply(lambda t: 1 - t, p=1.0)(x), 1 - x)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_random_apply_rejects_a_bad_probability(p: float) -> None:
    with pytest.raises(ValueError, match="p must be in"):
        V.RandomApply(V.Identity(), p)


def test_amdim_cifar_policy_translates_instead_of_resizing() -> None:
    kinds = [type(t).__name__ for t in V.amdim_cifar_augment(32).transforms]
    assert kinds == ["RandomHorizontalFlip", "RandomApply", "ColorJitter", "RandomGrayscale"]
    shift = V.amdim_cifar_augment(32).transforms[1]
    assert shift.p == 0.8 and shift.transform.padding == 4 and shift.transform.padding_mode == "reflect"
    # a translation keeps the scale: every pixel of a translated view is one of the padded image's pixels
    x = _images(4)
    y = shift.transform(x)
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    for i in range(4):
        windows = padded[i].unfold(1, 32, 1).unfold(2, 32, 1)  # (C, 9, 9, 32, 32)
        assert bool((windows == y[i][:, None, None]).flatten(3).all(3).all(0).any())


@pytest.mark.parametrize("scale", [-0.1, 2.6])
def test_amdim_jitter_scale_out_of_range_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="jitter_scale must be in"):
        V.amdim_augment(32, jitter_scale=scale)


def test_amdim_ablation_flags_drop_steps() -> None:
    full = V.amdim_augment(32)
    kinds = [type(t).__name__ for t in full.transforms]
    assert kinds == ["RandomHorizontalFlip", "RandomResizedCrop", "ColorJitter", "RandomGrayscale"]
    bare = V.amdim_augment(32, random_crop=False, color_jitter=False, random_gray=False)
    x = _images(8)
    y = bare(x)
    mirrored = (y - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    assert bool((mirrored | same).all())  # only the flip is left


def test_heavy_ops_are_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    """One grid_sample / one pair of grouped convs per batch: no Python loop over samples."""
    calls = {"grid_sample": 0, "conv2d": 0}
    real_gs, real_conv = F.grid_sample, F.conv2d

    def gs(*a, **k):
        calls["grid_sample"] += 1
        return real_gs(*a, **k)

    def conv(*a, **k):
        calls["conv2d"] += 1
        return real_conv(*a, **k)

    monkeypatch.setattr(V.F, "grid_sample", gs)
    monkeypatch.setattr(V.F, "conv2d", conv)
    x = _images(256)
    V.mocov2_augment(32)(x)
    assert calls == {"grid_sample": 1, "conv2d": 2}


def test_speed_sanity_on_cpu() -> None:
    x = _images(256)
    aug = V.TwoViews(V.simclr_augment(32))
    aug(x)  # warm-up
    t = time.perf_counter()
    aug(x)
    elapsed = time.perf_counter() - t
    assert elapsed < 1.0, f"two SimCLR views of 256 CIFAR-size images took {elapsed:.2f}s"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_same_parameters_on_gpu() -> None:
    x = _images(16)
    aug = V.Compose([V.RandomResizedCrop(32), V.RandomHorizontalFlip(), V.RandomGrayscale(0.5)])
    torch.manual_seed(0)
    cpu = aug(x)
    torch.manual_seed(0)
    gpu = aug(x.cuda()).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)
