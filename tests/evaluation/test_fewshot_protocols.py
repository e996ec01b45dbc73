"""The `fewshot` and `retrieval` protocols: unseen classes only, known-perfect codes, agreement with the
functional core, and the full `infomax eval` path on a real (tiny) DIMCO run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from infomax.dimco.fewshot import evaluate_fewshot
from infomax.dimco.retrieval import evaluate_retrieval
from infomax.errors import UserError
from infomax.evaluation import PROTOCOLS
from infomax.evaluation.fewshot_protocols import (
    fewshot_protocol,
    retrieval_protocol,
    unseen_test_items,
)
from infomax.methods.dimco import DIMCO, DIMCOEncoder

N_CLASSES, SIDE = 8, 8  # class c lights up row c of an 8x8 image


def band_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % N_CLASSES
    x = np.full((n, 1, SIDE, SIDE), 40.0)
    x[np.arange(n), 0, labels, :] = 200.0
    return np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8), labels.astype(np.int64)


def splits_of(n_train: int = 64, n_test: int = 160, test_names: list[str] | None = None) -> SimpleNamespace:
    names = [f"c{c}" for c in range(N_CLASSES)]
    tr, te = band_images(n_train, 0), band_images(n_test, 1)
    return SimpleNamespace(
        train=SimpleNamespace(images=tr[0], labels=tr[1], classes=names),
        val=SimpleNamespace(images=tr[0][:0], labels=tr[1][:0], classes=names),
        test=SimpleNamespace(images=te[0], labels=te[1], classes=test_names or names),
    )


class RowMeans(nn.Module):
    """Backbone stand-in: "rows" = the mean of each image row (B, 8); "noise" = class-free features."""

    layers = ("rows", "noise")
    output_layer = "rows"

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(SIDE * SIDE, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rows": x.mean(3).flatten(1), "noise": torch.sin(1e3 * self.proj(x.flatten(1)))}


def dimco_run(perfect: bool, holdout: tuple[int, ...] = (4, 5, 6, 7), seed: int = 0) -> SimpleNamespace:
    """A DIMCO run stand-in, d=2, k=8. ``perfect``: dim 0's symbol is the class, dim 1's is class + 1."""
    torch.manual_seed(seed)
    enc = DIMCOEncoder(RowMeans(), "rows", SIDE, d=2, k=N_CLASSES)
    if perfect:
        with torch.no_grad():
            w = torch.zeros(2, N_CLASSES, SIDE)  # (d, k, rows)
            w[0] = 30 * torch.eye(N_CLASSES)
            w[1] = 30 * torch.roll(torch.eye(N_CLASSES), 1, dims=0)
            enc.head.weight.copy_(w.view(2 * N_CLASSES, SIDE))
            enc.head.bias.zero_()
    return SimpleNamespace(method=DIMCO(enc, holdout_classes=holdout).eval(), config={"method": "dimco"})


def test_registered_in_protocols() -> None:
    assert PROTOCOLS["fewshot"] is fewshot_protocol and PROTOCOLS["retrieval"] is retrieval_protocol


def test_unseen_items_by_holdout_by_name_and_override() -> None:
    s = splits_of()
    images, labels, unseen = unseen_test_items(dimco_run(True), s)
    assert unseen == [4, 5, 6, 7] and set(labels.tolist()) == {4, 5, 6, 7} and len(images) == 80
    assert np.array_equal(images, s.test.images[s.test.labels >= 4])
    # Omniglot-style: the test classes are other classes (other names) than the training ones
    other = splits_of(test_names=[f"eval{c}" for c in range(N_CLASSES)])
    assert unseen_test_items(dimco_run(True, holdout=()), other)[2] == list(range(N_CLASSES))
    assert unseen_test_items(dimco_run(True), s, unseen_classes=[1, 2])[2] == [1, 2]
    with pytest.raises(UserError, match="every test class was seen in training"):
        unseen_test_items(dimco_run(True, holdout=()), s)
    with pytest.raises(UserError, match="no items"):
        unseen_test_items(dimco_run(True), s, unseen_classes=[9])


def test_fewshot_with_perfect_codes_and_memory_accounting() -> None:
    out = fewshot_protocol(dimco_run(True), splits_of(), None, n_way=4, k_shot=1, n_query=5, n_episodes=600)
    assert out["codes_accuracy"] == 1.0 and out["codes_ci95"] == 0.0
    assert out["continuous_accuracy"] == 1.0 and out["layer"] == "rows"  # default: the head's input
    assert out["episodes"] == 600 and out["n_classes"] == 4 and out["n_items"] == 80
    # d=2, k=8: 2 * 3 bits -> 1 byte; 8 float32 rows -> 32 bytes
    assert (out["code_bits"], out["code_bytes"], out["continuous_bytes"], out["compression"]) == (
        6.0,
        1,
        32,
        32.0,
    )
    json.dumps(out)  # JSON-able for metrics.json


@pytest.mark.parametrize("rule", ["histogram", "codeword", "mean-score"])
def test_fewshot_equals_the_functional_core_on_unseen_items(monkeypatch, rule: str) -> None:
    run, s = dimco_run(False, seed=3), splits_of()
    seen_labels = []
    import infomax.dimco.fewshot as fs

    real = fs.sample_episodes
    monkeypatch.setattr(
        fs, "sample_episodes", lambda labels, *a, **k: seen_labels.append(labels) or real(labels, *a, **k)
    )
    out = fewshot_protocol(run, s, "noise", n_way=3, k_shot=2, n_query=4, n_episodes=600, seed=5, rule=rule)
    assert out["rule"] == rule
    # one draw per half (codes, continuous), both of the same unseen items, so the same episodes
    assert len(seen_labels) == 2 and np.array_equal(seen_labels[0], seen_labels[1])
    assert set(np.unique(seen_labels[0]).tolist()) == {4, 5, 6, 7}
    keep = s.test.labels >= 4
    x = torch.as_tensor(s.test.images[keep]).float() / 255
    with torch.no_grad():
        feats = run.method.encoder(x)
    want = evaluate_fewshot(
        feats["logprobs"].view(-1, 2, N_CLASSES).numpy(),
        s.test.labels[keep],
        feats["noise"].numpy(),
        n_way=3,
        k_shot=2,
        n_query=4,
        n_episodes=600,
        seed=5,
        rule=rule,
    )
    assert out["codes_accuracy"] == pytest.approx(want["dimco_acc"], abs=1e-12)
    assert out["continuous_accuracy"] == pytest.approx(want["proto_acc"], abs=1e-12)
    # class-free "noise" features: the baseline sits at chance (1/3) within its CI
    assert abs(out["continuous_accuracy"] - 1 / 3) < 3 * out["continuous_ci95"]


def test_retrieval_perfect_codes_and_agreement() -> None:
    s = splits_of()
    out = retrieval_protocol(dimco_run(True), s, "logprobs", ks=(1, 19), max_queries=None)
    for key in ("codes", "continuous"):  # 20 items per unseen class: 19 relevant for each query
        assert out[f"{key}/mAP"] == pytest.approx(1.0) and out[f"{key}/recall@19"] == pytest.approx(1.0)
    assert out["n_queries"] == 80 and out["layer"] == "rows"
    run = dimco_run(False, seed=1)
    got = retrieval_protocol(run, s, "noise", ks=(1, 5), max_queries=30, seed=2)
    keep = s.test.labels >= 4
    with torch.no_grad():
        feats = run.method.encoder(torch.as_tensor(s.test.images[keep]).float() / 255)
    want = evaluate_retrieval(
        feats["logprobs"].view(-1, 2, N_CLASSES).numpy(),
        s.test.labels[keep],
        feats["noise"].numpy(),
        ks=(1, 5),
        max_queries=30,
        seed=2,
    )
    assert {k: got[k] for k in want} == pytest.approx(want)


@pytest.mark.parametrize(
    "protocol, kw, match",
    [
        ("fewshot", {"n_way": 5}, "only 4 qualify"),
        ("fewshot", {"layer": "nope"}, "unknown layer"),
        ("retrieval", {"ks": (80,)}, "must be <= 79"),
    ],
    ids=["too-many-ways", "bad-layer", "cutoff"],
)
def test_bad_input(protocol: str, kw: dict, match: str) -> None:
    layer = kw.pop("layer", None)
    with pytest.raises(UserError, match=match):
        PROTOCOLS[protocol](dimco_run(True), splits_of(), layer, **kw)


@pytest.mark.parametrize("protocol", ["fewshot", "retrieval"])
def test_a_run_without_codes_gets_the_continuous_half_on_the_same_episodes(protocol) -> None:
    dimco = dimco_run(False)
    backbone = dimco.method.encoder.backbone  # the same "rows" features, no code head
    plain = SimpleNamespace(method=SimpleNamespace(encoder=backbone, holdout=dimco.method.holdout,
                                                   embedding_layer="rows"))
    kw = {"n_episodes": 50, "n_way": 3} if protocol == "fewshot" else {"ks": (1, 5)}
    both = PROTOCOLS[protocol](dimco, splits_of(), "rows", **kw)
    alone = PROTOCOLS[protocol](plain, splits_of(), None, **kw)
    assert alone["layer"] == "rows" and "code_bytes" not in alone and alone["continuous_bytes"] == 4 * SIDE
    assert not any(k.startswith("codes") for k in alone) and any(k.startswith("codes") for k in both)
    shared = {k: v for k, v in both.items() if k.startswith("continuous") or k in ("n_items", "n_classes")}
    assert shared and {k: alone[k] for k in shared} == shared


@pytest.mark.parametrize("protocol", ["fewshot", "retrieval"])
def test_every_layer_of_one_eval_shares_one_encoder_pass_and_each_half(monkeypatch, protocol) -> None:
    """``infomax eval --layer all`` runs the protocol once per layer inside ``feature_cache``: the encoder
    runs once over the unseen items, the codes are scored once, each distinct embedding once ("logprobs"
    resolves to "rows", the layer the code head reads), and every layer reads what it reads without the
    cache."""
    import infomax.dimco.fewshot as fs
    import infomax.dimco.retrieval as rt
    import infomax.evaluation.features as features
    from infomax.dimco.index import CodeIndex

    run, s = dimco_run(False, seed=3), splits_of()
    kw = {"n_way": 3, "k_shot": 2, "n_episodes": 40} if protocol == "fewshot" else {"ks": (1, 5)}
    layers = ("rows", "noise", "logprobs")
    alone = {name: PROTOCOLS[protocol](run, s, name, **kw) for name in layers}
    assert alone["logprobs"]["layer"] == "rows"
    passes, codes, continuous = [], [], []
    real_extract = features._extract
    monkeypatch.setattr(features, "_extract", lambda enc, imgs, *a: passes.append(len(imgs)) or
                        real_extract(enc, imgs, *a))
    if protocol == "fewshot":
        real_codes, real_cont = fs.dimco_predict, fs.prototype_predict
        monkeypatch.setattr(fs, "dimco_predict", lambda *a: codes.append(1) or real_codes(*a))
        monkeypatch.setattr(fs, "prototype_predict", lambda *a: continuous.append(1) or real_cont(*a))
    else:
        real_codes, real_cont = CodeIndex.search, rt.rank_continuous
        monkeypatch.setattr(CodeIndex, "search", lambda *a, **k: codes.append(1) or real_codes(*a, **k))
        monkeypatch.setattr(rt, "rank_continuous", lambda *a, **k: continuous.append(1) or real_cont(*a, **k))
    with features.feature_cache(run.method.encoder.layers):
        shared = {name: PROTOCOLS[protocol](run, s, name, **kw) for name in layers}
    assert shared == alone
    assert passes == [80]  # one pass over the 80 unseen items computed every layer
    per_layer = 40 if protocol == "fewshot" else 1  # episodes, or blocks of queries
    assert len(codes) == per_layer  # the codes scored for the first layer only
    assert len(continuous) == 2 * per_layer  # "rows" and "noise"; "logprobs" reads the half of "rows"


def chance_map(labels: np.ndarray) -> float:
    """Expected leave-one-out mAP of a uniformly random ranking: for a query with R relevant items among
    the N others, E[AP] = H_N / N + (R - 1) (N - H_N) / (N (N - 1)) (H_N the N-th harmonic number;
    from E[rel_j rel_k] = R / N if j = k, else R (R - 1) / (N (N - 1)))."""
    n = len(labels) - 1
    h = float(np.sum(1.0 / np.arange(1, n + 1)))
    r = np.bincount(labels)[labels] - 1.0  # (items,) relevant items per query
    return float(np.mean(h / n + (r - 1) * (n - h) / (n * (n - 1))))


def test_chance_map_matches_random_rankings() -> None:
    labels = np.repeat(np.arange(4), [5, 6, 7, 12])
    rng = np.random.default_rng(0)
    aps = []
    for _ in range(4000):
        q = rng.integers(len(labels))
        others = np.delete(np.arange(len(labels)), q)
        rel = labels[rng.permutation(others)] == labels[q]
        aps.append(float((rel * np.cumsum(rel) / np.arange(1, len(rel) + 1)).sum() / rel.sum()))
    assert chance_map(labels) == pytest.approx(np.mean(aps), abs=0.01)  # SE of 4000 draws: 0.003


def test_dimco_preset_trains_then_infomax_eval_fewshot_and_retrieval(tmp_path, capsys) -> None:
    # The DIMCO path end to end, fast: the dimco-fashion preset (train on classes 0-4, few-shot/retrieval on
    # the unseen 5-9) on digits for 6 epochs (30 steps), then `infomax eval`; about 10 s of CPU.
    from infomax.cli import main
    from infomax.config import TrainConfig, apply_overrides
    from infomax.data.datasets import load_dataset
    from infomax.engine.fit import build_method, fit
    from infomax.methods.dimco import PRESETS, Config
    from infomax.run import load_run

    train, cfg = TrainConfig(method="dimco"), Config()
    apply_overrides(train, cfg, PRESETS["dimco-fashion"].overrides)
    assert (cfg.d, cfg.k, cfg.holdout_classes, train.batch_size) == (64, 16, (5, 6, 7, 8, 9), 255)
    assert (train.sampler, train.batch_classes, cfg.shift, cfg.neighbour_weight) == ("balanced", 5, 2, 30.0)
    # digits are 8 x 8: the preset's 2-pixel shift (chosen for 28 x 28) moves a quarter of the image, and 30
    # steps with it leave the codes at 0.52 on the training classes below (0.8 without the neighbour term)
    apply_overrides(train, cfg, {"data": "digits", "max_epochs": 6, "shift": 0})
    splits = load_dataset(train.data)
    run_dir = tmp_path / "run"
    metrics = fit(build_method("dimco", cfg, splits.info, 0), splits, train, run_dir, "dimco", cfg,
                  progress=False)  # fmt: skip
    assert metrics["train"]["epochs_completed"] == 6
    err = capsys.readouterr().err
    assert "dimco: code length d*log2(k) = 64*log2(16) = 256 bits (32 bytes packed)" in err

    assert main(["eval", str(run_dir), "--protocol", "fewshot", "--layer", "fc", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["eval/fewshot-5w1s/fc"]
    unseen = splits.test.labels[splits.test.labels >= 5]
    assert (res["n_classes"], res["n_items"], res["episodes"], res["n_way"]) == (5, len(unseen), 600, 5)
    assert (res["code_bits"], res["code_bytes"]) == (256.0, 32)
    # Chance is 1/5. An episode's accuracy is a mean of Bernoulli(1/5) under chance, so its variance is at
    # most 0.2 * 0.8 (queries of an episode share supports: no smaller bound): the mean over E episodes
    # lies within 4 sd = 4 * 0.4 / sqrt(E) of 0.2 (0.065 at E = 600). Measured: codes 0.361, continuous
    # 0.390 (an untrained encoder's codes: 0.47; 30 steps on 5 classes specialise the codes to them).
    margin = 4 * np.sqrt(0.2 * 0.8 / res["episodes"])
    assert res["codes_accuracy"] > 0.2 + margin and res["continuous_accuracy"] > 0.2 + margin
    # the CI half-width 1.96 sd / sqrt(E), with sd > 0 and at most 0.5 (accuracies lie in [0, 1])
    assert 0 < res["codes_ci95"] < 1.96 * 0.5 / np.sqrt(res["episodes"])

    assert main(["eval", str(run_dir), "--protocol", "retrieval", "--layer", "logprobs", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["eval/retrieval/logprobs"]
    assert res["layer"] == "fc" and res["n_queries"] == res["n_items"] == len(unseen)
    chance = chance_map(unseen - 5)  # 0.22 here; measured codes 0.41, continuous 0.42
    assert res["codes/mAP"] > chance + 0.1 and res["continuous/mAP"] > chance + 0.1
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert "eval/fewshot-5w1s/fc" in saved and "eval/retrieval/logprobs" in saved
    assert saved["eval/fewshot-5w1s/fc"]["rule"] == "histogram"  # the default

    # another rule is another measurement, kept beside the default's; an unknown one is a user error
    argv = ["eval", str(run_dir), "--protocol", "fewshot", "--layer", "fc", "--k-shot", "3", "--json"]
    assert main([*argv, "--rule", "codeword"]) == 0
    res = json.loads(capsys.readouterr().out)["eval/fewshot-5w3s-codeword/fc"]
    assert res["rule"] == "codeword" and res["k_shot"] == 3
    assert main([*argv, "--rule", "vote"]) == 2
    err = capsys.readouterr().err
    assert "unknown few-shot rule 'vote'; choose one of histogram, codeword, mean-score" in err

    # What training did: on new test items of the 5 TRAINING classes the codes separate the classes
    # (measured 1.0; an untrained encoder's codes: 0.50), over 100 episodes.
    seen = PROTOCOLS["fewshot"](load_run(run_dir), splits, "fc", unseen_classes=range(5), n_episodes=100)
    assert seen["codes_accuracy"] > 0.9
