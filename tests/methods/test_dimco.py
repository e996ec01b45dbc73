"""The DIMCO method: loss reaches the MI ceiling on a tiny labelled set; frozen backbone; bad input."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from infomax.config import TrainConfig, apply_overrides
from infomax.errors import UserError
from infomax.methods import dimco as dimco_mod
from infomax.methods.dimco import DIMCO, Config, DIMCOEncoder, build


class TinyMLP(nn.Module):
    """Stand-in backbone: flatten -> Linear -> ReLU ("h") -> Linear ("y")."""

    layers = ("h", "y")
    output_layer = "y"

    def __init__(self, in_dim: int, hidden: int = 32, out: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, out)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.relu(self.bn(self.fc1(x.flatten(1))))
        return {"h": h, "y": self.fc2(h)}


def _tiny_set(n_classes: int, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, 1, 4, 4, generator=g) * 2
    y = torch.arange(n_classes).repeat_interleave(per_class)
    x = (centers[y] + 0.3 * torch.randn(len(y), 1, 4, 4, generator=g)).sigmoid()
    return x, y


def _train(method: DIMCO, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 1e-2) -> float:
    """Plain Adam written out (torch.optim's first use imports torch._dynamo: seconds)."""
    params = method.param_groups()["main"]
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        loss = method((x, y))["loss"]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g, a, b in zip(params, grads, m1, m2):
                if g is None:  # a backbone layer the head does not read
                    continue
                a.mul_(0.9).add_(g, alpha=0.1)
                b.mul_(0.999).addcmul_(g, g, value=0.001)
                p.sub_(lr * (a / (1 - 0.9**t)) / ((b / (1 - 0.999**t)).sqrt() + 1e-8))
    method.eval()
    return method((x, y))["mi/discrete"].item()


@pytest.mark.parametrize("n_classes,d,k", [(8, 1, 16), (16, 2, 2), (4, 2, 16)])
def test_loss_reaches_mi_ceiling(n_classes: int, d: int, k: int) -> None:
    # the estimate sums I(x_i; Y) <= min(log k, H(Y)) over dimensions: ceiling d * min(log k, H(Y)).
    # H(Y) = log 8 < log 16 first; log 2 < log 16 per dimension next (= min(H(Y), d log k) in both);
    # last, two dimensions each carry all of H(Y) = log 4: the sum 2 log 4 exceeds H(Y) (redundancy)
    x, y = _tiny_set(n_classes, 8)
    m = DIMCO(DIMCOEncoder(TinyMLP(16), "h", 32, d=d, k=k), n_pairs=2, reg_weight=0.0)
    mi = _train(m, x, y, 120)
    ceiling = d * min(math.log(n_classes), math.log(k))
    assert mi == pytest.approx(ceiling, abs=0.05 * ceiling)
    out = m((x, y))
    assert out["mi/ceiling"].item() == pytest.approx(ceiling, abs=1e-6)
    assert out["mi/label_entropy"].item() == pytest.approx(math.log(n_classes), abs=1e-6)


def test_loss_is_minus_mi_plus_regularizer() -> None:
    x, y = _tiny_set(4, 4)
    m = DIMCO(DIMCOEncoder(TinyMLP(16), "y", 16, d=4, k=3), n_pairs=5, reg_weight=2.5)
    torch.manual_seed(1)
    out = m((x, y))
    assert out["loss"].item() == pytest.approx(
        -out["mi/discrete"].item() + 2.5 * out["reg/independence"].item()
    )
    assert out["code_bits"].item() == pytest.approx(4 * math.log2(3))
    assert m.encoder.code_shape.tolist() == [4, 3]
    assert "encoder.code_shape" in m.state_dict()
    feats = m.encoder(x)
    assert feats["logprobs"].shape == (16, 12) and set(m.encoder.layers) == {"h", "y", "logprobs"}
    assert torch.allclose(feats["logprobs"].view(16, 4, 3).exp().sum(-1), torch.ones(16, 4))


def test_holdout_classes_never_reach_the_encoder() -> None:
    x, y = _tiny_set(4, 4)
    seen = []
    backbone = TinyMLP(16)
    backbone.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].shape[0]))
    m = DIMCO(DIMCOEncoder(backbone, "y", 16, d=2, k=4), holdout_classes=(2, 3))
    m((x, y))
    assert seen == [8]
    out = m((x[y >= 2], y[y >= 2]))  # only held-out items: zero loss, backbone untouched
    assert out["loss"].item() == 0.0 and seen == [8]
    out["loss"].backward()


def test_frozen_backbone_stays_frozen() -> None:
    x, y = _tiny_set(4, 4)
    backbone = TinyMLP(16)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    m = DIMCO(DIMCOEncoder(backbone, "h", 32, d=3, k=4, freeze_backbone=True))
    m.train()
    assert not backbone.training
    params = m.param_groups()["main"]
    assert {id(p) for p in params} == {id(p) for p in m.encoder.head.parameters()}
    _train(m, x, y, 3)
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics


def test_build_with_frozen_run(monkeypatch) -> None:
    backbone = TinyMLP(16)
    monkeypatch.setattr(dimco_mod, "_load_frozen", lambda run_dir: backbone)
    info = SimpleNamespace(channels=1, image_size=4, mean=(0.5,), std=(0.5,), num_classes=4, name="tiny")
    m = build(Config(d=8, k=4, frozen_run="runs/some-run", feature_layer="h"), info)
    assert m.encoder.backbone is backbone and m.encoder.head.in_features == 32
    assert all(not p.requires_grad for p in backbone.parameters())


def test_proto_weight_refuses_a_frozen_backbone(monkeypatch) -> None:
    monkeypatch.setattr(dimco_mod, "_load_frozen", lambda run_dir: TinyMLP(16))
    info = SimpleNamespace(channels=1, image_size=4, mean=(0.5,), std=(0.5,), num_classes=4, name="tiny")
    with pytest.raises(UserError, match="frozen_run"):
        build(Config(d=8, k=4, frozen_run="runs/some-run", feature_layer="h", proto_weight=1.0), info)


def test_proto_layer_must_be_a_backbone_feature() -> None:
    with pytest.raises(UserError, match="unknown proto_layer 'z'; choose one of: h, y"):
        DIMCO(DIMCOEncoder(TinyMLP(16), "y", 16, d=2, k=4), proto_weight=1.0, proto_layer="z")


def test_single_class_batch_warns_and_missing_labels_error() -> None:
    x, y = _tiny_set(2, 4)
    m = DIMCO(DIMCOEncoder(TinyMLP(16), "y", 16, d=2, k=4), n_pairs=1)
    with pytest.warns(UserWarning, match="single class"):
        out = m((x[:4], y[:4]))
    assert out["mi/discrete"].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(UserError, match="label"):
        m((x, torch.full_like(y, -1)))


@pytest.mark.parametrize(
    "cfg,match",
    [
        (Config(k=1), "k must be"),
        (Config(d=0), "d must be"),
        (Config(k=1 << 17), "uint16"),
        (Config(encoder="resnet"), "unknown encoder"),
        (Config(proto_weight=-0.5), "proto_weight must be"),
        (Config(proto_weight=float("nan")), "proto_weight must be"),
        (Config(instance_weight=-1.0), "instance_weight must be"),
        (Config(instance_weight=float("inf")), "instance_weight must be"),
        (Config(neighbour_weight=-0.1), "neighbour_weight must be"),
        (Config(neighbour_layer="logprobs"), "neighbour_layer"),
        (Config(neighbour_temperature=0.0), "neighbour_temperature must be"),
        (Config(neighbour_temperature=float("nan")), "neighbour_temperature must be"),
        (Config(neighbour_bank=-1), "neighbour_bank must be"),
        (Config(proto_layer="logits"), "proto_layer"),
    ],
)
def test_build_bad_config(cfg: Config, match: str) -> None:
    info = SimpleNamespace(channels=1, image_size=28, mean=(0.5,), std=(0.5,), num_classes=10, name="x")
    with pytest.raises(UserError, match=match):
        build(cfg, info)


def test_presets_apply() -> None:
    for name, preset in dimco_mod.PRESETS.items():
        assert preset.method == "dimco" and name.startswith("dimco-")
        train, cfg = TrainConfig(), Config()
        apply_overrides(train, cfg, preset.overrides)
        assert cfg.k == 16 and cfg.d >= 32


def test_omniglot_preset_uses_the_validated_regularizer_weight_and_batches() -> None:
    # chosen on held-out background alphabets (issue 22): lambda = 1 (the paper's value, on a mean over
    # pairs) left the 64 dimensions near-copies of each other (5-way 1-shot codes 80.7 % vs 92.0 % at 128,
    # 3-minute runs); at the test budget (2010 steps) 64 beat 32 and 128 (96.4 vs 94.6 / 95.5 %)
    train, cfg = TrainConfig(), Config()
    apply_overrides(train, cfg, dimco_mod.PRESETS["dimco-omniglot"].overrides)
    assert cfg.reg_weight is None and cfg.n_pairs == 32 and (cfg.d, cfg.k) == (64, 16)
    assert dimco_mod.regularizer_weight(cfg) == 64.0  # lambda = d
    assert (train.sampler, train.batch_classes, train.batch_size) == ("balanced", 64, 256)
    # the auxiliary prototypical term, chosen on the same split (W 0.1 on fc; BENCHMARKS.md, issue 22)
    assert (cfg.shift, cfg.proto_weight, cfg.proto_layer) == (2, 0.1, "fc")
    train, cfg = TrainConfig(), Config()
    apply_overrides(train, cfg, {"holdout_classes": "5,6"})
    assert cfg.holdout_classes == (5, 6)


def test_code_length_printed_once_at_training_time_only(capsys) -> None:
    info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,), num_classes=10, name="x")
    m = build(Config(d=12, k=8), info)  # building (and so load_run) is silent
    assert capsys.readouterr().err == ""
    m.on_after_optimizer_step()  # the engine calls this after every step
    m.on_after_optimizer_step()
    err = capsys.readouterr().err
    assert err == ("dimco: code length d*log2(k) = 12*log2(8) = 36 bits (5 bytes packed); "
                   "independence weight lambda = 1\n")


@pytest.mark.parametrize(
    "holdout,match",
    [
        ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), "holds out 10 of the 10 classes, leaving 0 to train on"),
        ((1, 2, 3, 4, 5, 6, 7, 8, 9), "holds out 9 of the 10 classes, leaving 1 to train on"),
        ((5, 10), "names label 10, which the data does not have (labels 0-9)"),
        ((-1,), "names label -1, which the data does not have"),
    ],
    ids=["every-class", "one-class-left", "unknown-label", "negative-label"],
)
def test_build_rejects_holdout_classes_that_leave_nothing_to_train_or_do_not_exist(holdout, match) -> None:
    info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,), num_classes=10, name="x")
    with pytest.raises(UserError, match=re.escape(match)):
        build(Config(d=4, k=4, holdout_classes=holdout), info)


def test_build_accepts_holdout_classes_leaving_two_classes() -> None:
    info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,), num_classes=10, name="x")
    m = build(Config(d=4, k=4, holdout_classes=(2, 3, 4, 5, 6, 7, 8, 9)), info)
    assert m.holdout.tolist() == [2, 3, 4, 5, 6, 7, 8, 9]


def test_build_rejects_unlabelled_data() -> None:
    info = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,), num_classes=0, name="folder:x")
    with pytest.raises(UserError, match="DIMCO is supervised, but dataset 'folder:x' has no labelled"):
        build(Config(d=4, k=4), info)


@pytest.mark.parametrize(("overrides", "expected"), [
    pytest.param({}, 64.0, id="preset-d64"),
    pytest.param({"d": "8"}, 8.0, id="d8-follows"),
    pytest.param({"d": "16", "reg_weight": "2.5"}, 2.5, id="explicit-weight-kept"),
    pytest.param({"reg_weight": "none"}, 64.0, id="none-is-d"),
])
def test_regularizer_weight_follows_the_code_length(overrides, expected, capsys) -> None:
    # `infomax train dimco-omniglot --set d=8` must not keep the 256-bit codes' lambda 64: at d = 8 a weight
    # of that size collapses the codes (issue 22: lambda 128 gave 75.1 % 5-way 1-shot, lambda 8 91.0 %)
    train, cfg = TrainConfig(), Config()
    apply_overrides(train, cfg, {**dimco_mod.PRESETS["dimco-omniglot"].overrides, **overrides})
    info = SimpleNamespace(channels=1, image_size=28, mean=(0.5,), std=(0.5,), num_classes=10, name="x")
    m = build(cfg, info)
    assert m.reg_weight == expected
    m.on_after_optimizer_step()
    assert capsys.readouterr().err.endswith(f"; independence weight lambda = {expected:g}\n")


def test_negative_regularizer_weight_is_refused() -> None:
    with pytest.raises(UserError, match="reg_weight must be >= 0 or none"):
        Config(reg_weight=-1.0).validate()
