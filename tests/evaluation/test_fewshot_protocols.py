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


def test_fewshot_equals_the_functional_core_on_unseen_items(monkeypatch) -> None:
    run, s = dimco_run(False, seed=3), splits_of()
    seen_labels = []
    import infomax.dimco.fewshot as fs

    real = fs.sample_episodes
    monkeypatch.setattr(
        fs, "sample_episodes", lambda labels, *a, **k: seen_labels.append(labels) or real(labels, *a, **k)
    )
    out = fewshot_protocol(run, s, "noise", n_way=3, k_shot=2, n_query=4, n_episodes=600, seed=5)
    assert len(seen_labels) == 1 and set(np.unique(seen_labels[0]).tolist()) == {4, 5, 6, 7}
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


def test_non_dimco_encoder_is_a_user_error(tiny) -> None:
    with pytest.raises(UserError, match="need a DIMCO run"):
        fewshot_protocol(tiny.PixelEncoder(), splits_of(), None)


@pytest.mark.slow
def test_infomax_eval_fewshot_and_retrieval_on_a_trained_run(tmp_path, capsys) -> None:
    from infomax.cli import main
    from infomax.config import TrainConfig
    from infomax.data.datasets import load_dataset
    from infomax.engine.fit import build_method, fit
    from infomax.methods.dimco import Config

    splits = load_dataset("digits")
    cfg = Config(d=8, k=4, holdout_classes=(5, 6, 7, 8, 9))
    run_dir = tmp_path / "run"
    fit(
        build_method("dimco", cfg, splits.info, 0),
        splits,
        TrainConfig(method="dimco", max_epochs=3),
        run_dir,
        "dimco",
        cfg,
        baselines=False,
        evaluate=False,
        progress=False,
    )
    assert "dimco: code length d*log2(k) = 8*log2(4) = 16 bits (2 bytes packed)" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--protocol", "fewshot", "--layer", "fc", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["eval/fewshot-5w1s/fc"]
    assert res["n_classes"] == 5 and res["episodes"] == 600 and res["n_way"] == 5
    # trained on digits 0-4 only, the codes still beat chance (0.2) on the unseen digits 5-9
    assert res["codes_accuracy"] - 3 * res["codes_ci95"] > 0.2
    assert main(["eval", str(run_dir), "--protocol", "retrieval", "--layer", "logprobs", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["eval/retrieval/logprobs"]
    assert res["layer"] == "fc" and 0.0 < res["codes/mAP"] <= 1.0 and res["n_queries"] == res["n_items"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "eval/fewshot-5w1s/fc" in metrics and "eval/retrieval/logprobs" in metrics
