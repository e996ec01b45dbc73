from __future__ import annotations

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.evaluation.linear_probe import LinearProbe


def clusters(n: int, k: int = 4, d: int = 20, sep: float = 4.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(size=(k, d)) * sep
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_separable_clusters_are_solved(backend):
    X, y = clusters(400)
    Xt, yt = clusters(400, seed=1)
    probe = LinearProbe(C=0.05, backend=backend).fit(X, y)
    assert probe.score(Xt, yt) >= 0.99
    assert probe.coef_.shape == (4, 20) and probe.intercept_.shape == (4,)
    np.testing.assert_allclose(probe.predict_proba(Xt[:5]).sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_random_labels_give_chance(backend):
    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(600, 20)), rng.normal(size=(2000, 20))
    y, yt = rng.integers(0, 4, 600), rng.integers(0, 4, 2000)
    assert abs(LinearProbe(C=0.1, backend=backend).fit(X, y).score(Xt, yt) - 0.25) < 0.05


@pytest.mark.parametrize("n_classes", [2, 5])
def test_torch_and_sklearn_backends_agree(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 3, 6) + rng.normal(size=6)
    y = (X @ rng.normal(size=(6, n_classes)) + rng.normal(size=(300, n_classes))).argmax(1)
    a = LinearProbe(C=0.5, tol=1e-8, backend="torch").fit(X, y)
    b = LinearProbe(C=0.5, tol=1e-8, backend="sklearn").fit(X, y)
    # same objective, same optimum (softmax logits are defined up to a per-row shift: compare centred logits)
    la, lb = a.decision_function(X), b.decision_function(X)
    np.testing.assert_allclose(
        la - la.mean(1, keepdims=True), lb - lb.mean(1, keepdims=True), rtol=2e-3, atol=2e-3
    )


def test_string_labels_and_standardization():
    X, y = clusters(200)
    names = np.array(["a", "b", "c", "d"])[y]
    probe = LinearProbe().fit(X * 1000 + 5, names)
    assert set(probe.predict(X[:20] * 1000 + 5)) <= set(names)
    assert probe.score(X * 1000 + 5, names) >= 0.99
    np.testing.assert_allclose(probe.mean_, (X * 1000 + 5).mean(0), rtol=1e-4)


def test_bad_inputs():
    with pytest.raises(UserError):
        LinearProbe(C=0)
    with pytest.raises(UserError, match="backend"):
        LinearProbe(backend="svm")
    with pytest.raises(UserError, match="two classes"):
        LinearProbe().fit(np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(UserError, match="labels"):
        LinearProbe().fit(np.zeros((4, 2)), np.zeros(3))


@pytest.mark.parametrize("n_classes", [2, 5])
def test_warm_start_reaches_the_same_optimum(n_classes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 3, 6) + rng.normal(size=6)
    y = (X @ rng.normal(size=(6, n_classes)) + rng.normal(size=(300, n_classes))).argmax(1)
    start = LinearProbe(C=0.01, tol=1e-8).fit(X, y)
    warm = LinearProbe(C=0.5, tol=1e-8).fit(X, y, init=start)
    cold = LinearProbe(C=0.5, tol=1e-8).fit(X, y)
    ref = LinearProbe(C=0.5, tol=1e-10, max_iter=10000, backend="sklearn").fit(X, y)  # float64, cold

    def centred(p):  # softmax logits are defined up to a per-row shift
        logits = p.decision_function(X)
        return logits - logits.mean(1, keepdims=True)

    # as close to the float64 optimum as the cold float32 fit is (both about 5e-3 off with 5 classes)
    err_warm, err_cold = (np.abs(centred(p) - centred(ref)).max() for p in (warm, cold))
    assert err_warm < 1e-2 and err_warm <= 1.5 * err_cold + 1e-4
    assert warm.n_iter_ <= cold.n_iter_
