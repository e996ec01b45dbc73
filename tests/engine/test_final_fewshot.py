"""The final evaluation of data whose test classes are unseen in training (Omniglot): few-shot episodes."""

from __future__ import annotations

import os
from types import SimpleNamespace as NS

import numpy as np
import pytest
import torch
from torch import nn

from infomax.cli.train import verdict
from infomax.engine.evaluate import disjoint_classes, final_fewshot


@pytest.mark.parametrize(("train", "test", "expected"), [
    pytest.param(["a", "b"], ["c", "d"], True, id="other-names-same-numbers"),
    pytest.param(["a", "b"], ["b", "c"], False, id="one-shared-class"),
    pytest.param(None, None, False, id="no-names-same-numbers"),
])
def test_disjoint_classes_compares_class_names(train, test, expected):
    splits = NS(train=NS(labels=np.array([0, 1, -1]), classes=train),
                test=NS(labels=np.array([0, 1]), classes=test))
    assert disjoint_classes(splits) is expected


class ClassReader(nn.Module):
    """Layer ``y``: the one-hot class written into pixel 0 (perfectly separable); ``flat``: a constant."""

    layers = ("flat", "y")
    output_layer = "y"

    def forward(self, x):
        cls = (x[:, 0, 0, 0] * 255).round().long()
        return {"y": nn.functional.one_hot(cls, 8).float(), "flat": torch.zeros(len(x), 3)}


def test_final_fewshot_hand_computed():
    labels = np.repeat(np.arange(8), 17)  # 8 classes x 17 items: 1 support + 15 queries + 1 spare
    images = np.zeros((len(labels), 1, 2, 2), dtype=np.uint8)
    images[:, 0, 0, 0] = labels
    splits = NS(test=NS(images=images, labels=labels))
    out = final_fewshot({"trained": ClassReader()}, splits, ("flat", "y"), n_episodes=20)
    assert out["protocol"] == "fewshot" and out["episodes"] == 20 and out["n_classes"] == 8
    assert out["accuracy"]["y"]["trained"] == 1.0  # every query nearest its own class mean
    # a constant feature: every distance ties, argmin gives episode class 0 -> exactly 1 query in 5 right
    assert out["accuracy"]["flat"]["trained"] == pytest.approx(0.2)
    assert out["ci95"]["y"]["trained"] == 0.0
    cut = NS(test=NS(images=images[::4], labels=labels[::4]))  # 4-5 items per class: 3 queries fit
    assert final_fewshot({"trained": ClassReader()}, cut, ("y",), n_episodes=2)["n_query"] == 3
    few = NS(test=NS(images=images[::17], labels=labels[::17]))  # one item per class: no query fits
    assert final_fewshot({"trained": ClassReader()}, few, ("y",)) is None


@pytest.mark.parametrize(("ci", "word"), [(0.02, "trained better"), (0.03, "within noise")])
def test_fewshot_verdict_uses_the_episode_intervals(ci, word):
    # diff 4 points; limit = 2 * sqrt(se1^2 + se2^2) * 100 with se = ci / 1.96: 2.89 (ci 0.02), 4.33 (ci 0.03)
    final = {"protocol": "fewshot", "episodes": 600, "accuracy": {"y": {"trained": 0.60, "random": 0.56}},
             "ci95": {"y": {"trained": ci, "random": ci}}}
    lines = verdict({"final": final})
    assert "600 episodes" in lines[0] and lines[1].split() == ["y", "few-shot", "+4.00", *f"({word})".split()]


@pytest.mark.slow  # ~20 s: Omniglot, the baselines and 600 episodes per encoder
@pytest.mark.skipif(not os.environ.get("INFOMAX_DATA"), reason="needs $INFOMAX_DATA (Omniglot)")
def test_train_on_omniglot_ends_with_fewshot_episodes(tmp_path, capsys):
    from infomax.cli import main

    # about 3 test items per class: the episodes keep 1 support and the queries that fit
    code = main(["train", "dimco-omniglot", "--max-epochs", "1", "--set", "limit_train_batches=2",
                 "--set", "max_items=2000", "--set", "batch_size=8", "--set", "batch_classes=4",
                 "--threads", "1", "--out", str(tmp_path / "run"), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    import json

    final = json.loads(out[out.index("{"):])["final"]
    assert final["protocol"] == "fewshot" and final["episodes"] == 600 and 1 <= final["n_query"] < 15
    assert set(final["accuracy"]["logprobs"]) == {"trained", "random", "supervised"}
    assert "Few-shot, 5-way 1-shot" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize("final_knn", [True, False], ids=["knn-asked", "knn-not-asked"])
def test_final_knn_on_unseen_classes_is_reported(tmp_path, monkeypatch, capsys, final_knn):
    import infomax.report
    from infomax.config import TrainConfig
    from infomax.experiment import FEWSHOT_NO_KNN, evaluate_run
    from infomax.run import read_metrics, update_metrics

    monkeypatch.setattr(infomax.report, "write_report", lambda run_dir: None)  # needs a whole run directory
    labels = np.repeat(np.arange(8), 17)
    images = np.zeros((len(labels), 1, 2, 2), dtype=np.uint8)
    images[:, 0, 0, 0] = labels
    splits = NS(train=NS(labels=np.array([0, 1]), classes=["a", "b"]),
                test=NS(images=images, labels=labels, classes=[str(c) for c in range(8)]))
    update_metrics(tmp_path, {"train": {"epochs_completed": 1, "steps": 1}})
    cfg = TrainConfig(final_knn=final_knn, baselines=False)
    evaluate_run(NS(encoder=ClassReader()), splits, cfg, tmp_path, "dimco", None, progress=False)
    metrics = read_metrics(tmp_path)
    assert metrics["final"]["protocol"] == "fewshot" and "final_knn" not in metrics
    notes = metrics["final_evaluation"].get("notes", [])
    assert (FEWSHOT_NO_KNN in notes) is final_knn
    assert (FEWSHOT_NO_KNN in capsys.readouterr().err) is final_knn
