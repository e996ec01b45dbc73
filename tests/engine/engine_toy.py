"""Tiny stand-ins for the engine and CLI tests: toy method, supervised baseline, data and probe.

Not a test module (no ``test_`` prefix). Tests put this folder on ``sys.path`` and import it by name
(``engine_toy``), so that processes spawned for DDP can import it too, then call :func:`register` to make
the toy methods visible to ``infomax.methods.method_module`` for the duration of a test::

    @pytest.fixture
    def toy(monkeypatch):
        monkeypatch.syspath_prepend(str(TOY_DIR))
        return importlib.import_module("engine_toy").register(monkeypatch)
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from infomax.config import Preset
from infomax.methods.base import MethodBase

MODULE = "engine_toy"
SUPERVISED = "engine_toy_supervised"


@dataclass
class Info:
    """Same fields as ``infomax.data.datasets.DataInfo``."""

    name: str = "toy"
    channels: int = 1
    image_size: int = 8
    num_classes: int = 4
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)


@dataclass
class Arrays:
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]


@dataclass
class Splits:
    train: Arrays
    val: Arrays
    test: Arrays
    info: Info


def toy_splits(n_train: int = 96, n_test: int = 40, seed: int = 0) -> Splits:
    """4 classes of 8x8 grey images: a bright quadrant per class plus noise (uint8)."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> Arrays:
        labels = rng.integers(0, 4, n).astype(np.int64)
        img = rng.normal(60, 25, (n, 1, 8, 8))
        for i, c in enumerate(labels):
            r, q = divmod(int(c), 2)
            img[i, 0, 4 * r : 4 * r + 4, 4 * q : 4 * q + 4] += 120
        return Arrays(np.clip(img, 0, 255).astype(np.uint8), labels, [str(c) for c in range(4)])

    return Splits(make(n_train), make(n_test // 2), make(n_test), Info())


class ToyEncoder(nn.Module):
    """conv 3x3 (4 ch) - BN - ReLU -> linear y_dim; features ``conv`` (4, 8, 8) and ``y``."""

    layers = ("conv", "y")
    output_layer = "y"

    def __init__(self, channels: int, image_size: int, y_dim: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.fc = nn.Linear(4 * image_size * image_size, y_dim)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.conv(x)
        return {"conv": c, "y": self.fc(c.flatten(1))}


@dataclass
class Config:
    y_dim: int = 8
    noise: float = 0.1
    adversary: bool = False
    nan_at_call: int = -1  # return a NaN loss at this forward call (divergence test)
    blowup_from_call: int = -1  # from this forward call on, the loss is 1e6 (finite blow-up test)


class Toy(MethodBase):
    """Two noisy views (torch RNG), a bilinear InfoNCE, dropout (RNG); optionally an "adv" group."""

    def __init__(self, cfg: Config, info: Info) -> None:
        super().__init__()
        self.encoder = ToyEncoder(info.channels, info.image_size, cfg.y_dim)
        self.w = nn.Linear(cfg.y_dim, cfg.y_dim, bias=False)
        self.drop = nn.Dropout(0.2)
        self.cfg, self.calls = cfg, 0
        if cfg.adversary:
            self.adv = nn.Linear(cfg.y_dim, 1)
            self.group_lr = {"adv": 0.5e-3}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        if not self.cfg.adversary:
            return super().param_groups()
        adv = list(self.adv.parameters())
        ids = {id(p) for p in adv}
        return {"main": [p for p in self.parameters() if id(p) not in ids], "adv": adv}

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, _ = batch
        self.calls += 1
        v1 = x + self.cfg.noise * torch.randn_like(x)
        v2 = x + self.cfg.noise * torch.randn_like(x)
        y1, y2 = self.encoder(v1)["y"], self.drop(self.encoder(v2)["y"])  # (B, D)
        scores = self.w(y1) @ y2.T  # (B, B)
        ce = F.cross_entropy(scores, torch.arange(len(x)))
        out = {"loss": ce, "mi/infonce": np.log(len(x)) - ce.detach()}
        if self.cfg.adversary:
            d_fake = self.adv(y1).squeeze(1)  # the encoder tries to make D say "real"
            out["loss"] = ce + 0.1 * F.softplus(-d_fake).mean()
            d_real, d_det = self.adv(torch.rand_like(y1)).squeeze(1), self.adv(y1.detach()).squeeze(1)
            out["loss/adv"] = F.softplus(-d_real).mean() + F.softplus(d_det).mean()
        if self.calls == self.cfg.nan_at_call:
            out["loss"] = out["loss"] * float("nan")
        if 0 <= self.cfg.blowup_from_call <= self.calls:
            out["loss"] = out["loss"] * 0 + 1e6
        return out


def build(cfg: Config, info: Info) -> Toy:
    return Toy(cfg, info)


PRESETS = {"toy-fast": Preset(description="toy method, tiny", method="toy", overrides={"y_dim": 4})}


@dataclass
class SupConfig:
    """The supervised stand-in's settings; ``encoder_of``/``encoder_config`` as in the real one."""

    y_dim: int = 8
    encoder_of: str = ""
    encoder_config: dict | None = None


class ToySupervised(MethodBase):
    def __init__(self, cfg: SupConfig, info: Info) -> None:
        super().__init__()
        if cfg.encoder_of:  # the supervised twin of a run's encoder, as the engine asks for it
            from infomax.methods.supervised import twin_encoder

            self.encoder = twin_encoder(cfg.encoder_of, cfg.encoder_config, info)
        else:
            self.encoder = ToyEncoder(info.channels, info.image_size, cfg.y_dim)
        self.head = nn.Linear(self.encoder.fc.out_features, info.num_classes)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": F.cross_entropy(self.head(self.encoder(x)["y"]), y)}


def build_supervised(cfg: SupConfig, info: Info) -> ToySupervised:
    return ToySupervised(cfg, info)


def _supervised_module() -> types.ModuleType:
    if SUPERVISED not in sys.modules:
        mod = types.ModuleType(SUPERVISED)
        mod.__spec__ = importlib.machinery.ModuleSpec(SUPERVISED, None)
        mod.Config, mod.build, mod.PRESETS = SupConfig, build_supervised, {}
        sys.modules[SUPERVISED] = mod
    return sys.modules[SUPERVISED]


class CentroidProbe:
    """Stand-in linear probe: nearest class mean of standardized features."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> CentroidProbe:
        self.mu_, self.sd_ = X.mean(0), X.std(0) + 1e-6
        Z = (X - self.mu_) / self.sd_
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([Z[y == c].mean(0) for c in self.classes_])
        return self

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        Z = (X - self.mu_) / self.sd_
        d = ((Z[:, None, :] - self.centroids_[None]) ** 2).sum(-1)
        return float((self.classes_[d.argmin(1)] == y).mean())


@torch.no_grad()
def extract(encoder: nn.Module, images: np.ndarray, layer: str) -> np.ndarray:
    was = encoder.training
    encoder.eval()
    out = encoder(torch.as_tensor(images).float() / 255)[layer].flatten(1).numpy()
    encoder.train(was)
    return out


def centroid_protocol(encoder: nn.Module, splits: Splits, layer: str, **_: object) -> dict:
    """Stand-in for ``PROTOCOLS["linear"]``: fit on train, test accuracy."""
    enc = encoder.method.encoder if hasattr(encoder, "method") else getattr(encoder, "encoder", encoder)
    probe = CentroidProbe().fit(extract(enc, splits.train.images, layer), splits.train.labels)
    return {"accuracy": probe.score(extract(enc, splits.test.images, layer), splits.test.labels)}


def register(monkeypatch) -> types.ModuleType:  # noqa: ANN001 - pytest's MonkeyPatch
    """Make "toy" (and "supervised" -> the toy baseline) resolvable, and use the stand-in probe."""
    from infomax import methods
    from infomax.engine import evaluate

    mod = sys.modules[__name__]
    monkeypatch.setitem(methods.METHODS, "toy", MODULE)
    monkeypatch.setitem(methods.METHODS, "supervised", _supervised_module().__name__)
    monkeypatch.setattr(evaluate, "linear_protocol", lambda: centroid_protocol)
    return mod
