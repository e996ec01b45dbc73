from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.evaluation.protocols import PROTOCOLS, run_protocol


def test_protocol_names():
    expected = {"linear", "svm", "mlp", "knn", "mine", "ndm", "msssim", "finetune", "neighbours"}
    assert expected <= set(PROTOCOLS)


@pytest.mark.parametrize(
    ("name", "kw"),
    [("linear", {}), ("svm", {}), ("mlp", {"lr": 1e-2, "epochs": 15}), ("knn", {"k": 5})],
)
def test_probes_solve_separable_blobs_from_pixels(splits, pixel_encoder, name, kw):
    out = PROTOCOLS[name](pixel_encoder, splits, "pixels", **kw)
    assert out["accuracy"] >= 0.97
    assert (out["protocol"], out["layer"], out["n_train"], out["n_test"], out["feature_dim"]) == (
        name,
        "pixels",
        200,
        100,
        64,
    )


@pytest.mark.parametrize("name", ["linear", "svm", "knn"])
def test_uninformative_encoder_is_at_chance(splits, tiny, name):
    out = PROTOCOLS[name](tiny.ConstantEncoder(), splits)
    assert out["layer"] == "y"
    assert abs(out["accuracy"] - 0.25) <= 0.1  # 4 balanced classes


def test_linear_selects_C_on_val(tiny, pixel_encoder):
    from infomax.evaluation.features import extract_features
    from infomax.evaluation.linear_probe import LinearProbe

    s = tiny.make_splits(noise=150.0)  # hard enough that C matters
    Cs = (1e-4, 1e-2, 1.0)
    out = PROTOCOLS["linear"](pixel_encoder, s, "pixels", Cs=Cs)
    feats = {
        n: extract_features(pixel_encoder, getattr(s, n).images, "pixels") for n in ("train", "val", "test")
    }
    val = [LinearProbe(c).fit(feats["train"], s.train.labels).score(feats["val"], s.val.labels) for c in Cs]
    assert len(set(val)) > 1
    assert out["C"] == Cs[int(np.argmax(val))] and out["val_accuracy"] == max(val)
    best = LinearProbe(out["C"]).fit(feats["train"], s.train.labels)
    assert out["accuracy"] == best.score(feats["test"], s.test.labels)


@pytest.mark.parametrize("carved", [False, True], ids=["val-split", "carved-val"])
def test_C_path_fits_each_C_once_warm_from_the_previous(tiny, pixel_encoder, monkeypatch, carved):
    from infomax.evaluation.linear_probe import LinearProbe

    s = tiny.make_splits(noise=150.0)
    if carved:
        s.val = SimpleNamespace(images=s.val.images[:0], labels=s.val.labels[:0], classes=[])
    fits, fit = [], LinearProbe.fit

    def recording(self, X, y, init=None):
        fits.append((self.C, None if init is None else init.C, len(y)))
        return fit(self, X, y, init)

    monkeypatch.setattr(LinearProbe, "fit", recording)
    out = PROTOCOLS["linear"](pixel_encoder, s, "pixels", Cs=(1.0, 1e-4, 1e-2))
    n_fit = 180 if carved else 200  # train minus the carved 10%, or all of train
    path = [(1e-4, None, n_fit), (1e-2, 1e-4, n_fit), (1.0, 1e-2, n_fit)]  # smallest C first, each warm
    # with a val split the best C's probe is the final one; a carved val needs a refit on all of train
    assert fits == (path + [(out["C"], out["C"], 200)] if carved else path)
    monkeypatch.setattr(LinearProbe, "fit", fit)
    cold = PROTOCOLS["linear"](pixel_encoder, s, "pixels", Cs=(1.0, 1e-4, 1e-2))
    assert cold["C"] == out["C"] and cold["val_accuracies"] == out["val_accuracies"]


def test_unlabelled_items_and_empty_val(splits, pixel_encoder):
    train = SimpleNamespace(images=splits.train.images, labels=splits.train.labels.copy(), classes=[])
    train.labels[::2] = -1  # half the training set unlabelled
    empty = SimpleNamespace(images=splits.val.images[:0], labels=splits.val.labels[:0], classes=[])
    s = SimpleNamespace(train=train, val=empty, test=splits.test)
    out = run_protocol("linear", pixel_encoder, s, "pixels")
    assert out["n_train"] == 100 and out["accuracy"] >= 0.97


def test_accepts_run_objects_and_rejects_unknowns(splits, pixel_encoder):
    run = SimpleNamespace(method=SimpleNamespace(encoder=pixel_encoder))
    assert run_protocol("knn", run, splits, "pixels")["accuracy"] >= 0.97
    with pytest.raises(UserError, match="unknown protocol"):
        run_protocol("nope", pixel_encoder, splits)
    with pytest.raises(UserError, match="unknown layer"):
        run_protocol("linear", pixel_encoder, splits, "conv")


def test_result_is_json_serialisable(splits, pixel_encoder):
    import json

    out = run_protocol("linear", pixel_encoder, splits)
    assert json.loads(json.dumps(out))["accuracy"] == out["accuracy"]
    assert isinstance(out["accuracy"], float) and out["accuracy"] >= 0.97  # default layer y: measured 1.0
