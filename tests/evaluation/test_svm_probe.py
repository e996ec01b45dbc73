from __future__ import annotations

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.evaluation.features import extract_features
from infomax.evaluation.protocols import PROTOCOLS
from infomax.evaluation.svm_probe import LinearSVMProbe

BACKENDS = ["torch", "sklearn"]


def clusters(n: int, k: int = 4, d: int = 20, sep: float = 4.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(size=(k, d)) * sep
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def teacher_data(n: int, k: int, d: int = 6, seed: int = 0):
    """Overlapping classes of a noisy linear teacher, on features of unequal scales and offsets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    y = (X @ rng.normal(size=(d, k)) + rng.normal(size=(n, k))).argmax(1)
    return X, y


@pytest.mark.parametrize("backend", BACKENDS)
def test_linearly_separable_toy_set_is_solved(backend):
    X, y = clusters(400)
    Xt, yt = clusters(400, seed=1)
    probe = LinearSVMProbe(C=1.0, backend=backend).fit(X, y)
    assert probe.score(X, y) == 1.0 and probe.score(Xt, yt) == 1.0
    assert probe.coef_.shape == (4, 20) and probe.intercept_.shape == (4,)
    assert probe.decision_function(Xt).shape == (400, 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("C", [0.25, 1.0])
def test_hand_computed_two_point_problem(backend, C):
    # z = -1, +1 after standardisation; by symmetry b = 0 and 0.5 w^2 + 2 C (1 - w)^2 is minimal at
    # w = 4C / (1 + 4C), the only support-vector solution with margin 1 - w > 0.
    X, y = np.array([[3.0], [7.0]]), np.array([0, 1])
    probe = LinearSVMProbe(C=C, tol=1e-8, backend=backend).fit(X, y)
    np.testing.assert_allclose(probe.coef_, [[4 * C / (1 + 4 * C)]], atol=1e-4)
    np.testing.assert_allclose(probe.intercept_, [0.0], atol=1e-4)
    np.testing.assert_allclose(
        probe.decision_function(np.array([[5.0], [9.0]])), [0.0, 2 * probe.coef_[0, 0]], atol=1e-4
    )


def test_two_class_decision_function_matches_sklearn_linearsvc():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    X, y = teacher_data(120, 2)
    probe = LinearSVMProbe(C=0.5, tol=1e-8).fit(X, y)  # torch backend
    ref = LinearSVC(C=0.5, tol=1e-10, max_iter=100_000).fit(StandardScaler().fit_transform(X), y)
    Xt, _ = teacher_data(50, 2, seed=1)
    ours = probe.decision_function(Xt)
    assert ours.shape == (50,)
    np.testing.assert_allclose(ours, ref.decision_function(StandardScaler().fit(X).transform(Xt)), atol=2e-3)
    assert 0.6 < probe.score(X, y) < 1.0  # overlapping classes: the test is not a trivially separable one


@pytest.mark.parametrize("n_classes", [2, 5])
def test_torch_and_sklearn_backends_agree(n_classes):
    X, y = teacher_data(300, n_classes)
    a = LinearSVMProbe(C=0.5, tol=1e-8, backend="torch").fit(X, y)
    b = LinearSVMProbe(C=0.5, tol=1e-8, backend="sklearn").fit(X, y)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), atol=3e-3)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_standardization_and_string_labels():
    X, y = clusters(200)
    names = np.array(["cat", "dog", "eel", "fox"])[y]
    scale = np.random.default_rng(1).uniform(0.01, 1000, X.shape[1]).astype(np.float32)
    a = LinearSVMProbe(C=0.1).fit(X, names)
    b = LinearSVMProbe(C=0.1).fit(X * scale + 5, names)  # per-feature affine rescaling changes nothing
    np.testing.assert_array_equal(a.predict(X), b.predict(X * scale + 5))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-3)
    assert list(a.classes_) == ["cat", "dog", "eel", "fox"] and a.score(X, names) == 1.0


def test_random_labels_give_chance():
    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(600, 20)), rng.normal(size=(2000, 20))
    y, yt = rng.integers(0, 4, 600), rng.integers(0, 4, 2000)
    assert abs(LinearSVMProbe(C=0.1).fit(X, y).score(Xt, yt) - 0.25) < 0.05


def test_bad_inputs():
    X = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(UserError, match="two classes"):
        LinearSVMProbe().fit(X, np.zeros(6))
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(UserError, match="NaN"):
        LinearSVMProbe().fit(bad, np.arange(6) % 2)
    probe = LinearSVMProbe().fit(X, np.arange(6) % 2)
    with pytest.raises(UserError, match="NaN"):
        probe.predict(bad)
    with pytest.raises(UserError, match="labels"):
        LinearSVMProbe().fit(X, np.zeros(5))
    with pytest.raises(UserError, match="shape"):
        LinearSVMProbe().fit(X[0], np.zeros(3))
    with pytest.raises(UserError, match="C must be"):
        LinearSVMProbe(C=0)
    with pytest.raises(UserError, match="backend"):
        LinearSVMProbe(backend="liblinear")


def test_protocol_chooses_C_on_val_only(tiny, pixel_encoder):
    s = tiny.make_splits(noise=150.0)  # hard enough that C matters
    Cs = (1e-5, 1e-3, 1.0)
    out = PROTOCOLS["svm"](pixel_encoder, s, "pixels", Cs=Cs)
    feats = {
        n: extract_features(pixel_encoder, getattr(s, n).images, "pixels") for n in ("train", "val", "test")
    }
    val = [
        LinearSVMProbe(c).fit(feats["train"], s.train.labels).score(feats["val"], s.val.labels) for c in Cs
    ]
    assert len(set(val)) > 1
    assert out["C"] == Cs[int(np.argmax(val))] and out["val_accuracy"] == max(val)
    assert out["val_accuracies"] == {str(c): v for c, v in zip(Cs, val)}
    best = LinearSVMProbe(out["C"]).fit(feats["train"], s.train.labels)
    assert out["accuracy"] == best.score(feats["test"], s.test.labels)
    assert (out["protocol"], out["layer"], out["n_train"], out["n_test"]) == ("svm", "pixels", 200, 100)

    # the test labels play no part in the choice: scrambling them changes only the reported accuracy
    s.test.labels = np.random.default_rng(5).permutation(s.test.labels)
    again = PROTOCOLS["svm"](pixel_encoder, s, "pixels", Cs=Cs)
    assert (again["C"], again["val_accuracies"]) == (out["C"], out["val_accuracies"])
    assert again["accuracy"] == best.score(feats["test"], s.test.labels) != out["accuracy"]


def test_protocol_rejects_bad_C_grid(splits, pixel_encoder):
    with pytest.raises(UserError, match="positive C"):
        PROTOCOLS["svm"](pixel_encoder, splits, "pixels", Cs=(0.1, -1.0))


def test_warm_start_reaches_the_same_optimum():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 3, 6)
    y = (X @ rng.normal(size=(6, 4)) + rng.normal(size=(300, 4))).argmax(1)
    start = LinearSVMProbe(C=0.001, tol=1e-7).fit(X, y)
    warm = LinearSVMProbe(C=0.1, tol=1e-7).fit(X, y, init=start)
    ref = LinearSVMProbe(C=0.1, tol=1e-7, backend="sklearn", max_iter=100000).fit(X, y)
    np.testing.assert_allclose(warm.decision_function(X), ref.decision_function(X), atol=2e-3)
