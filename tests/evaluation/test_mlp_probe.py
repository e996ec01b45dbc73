from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.errors import UserError
from infomax.evaluation.mlp_probe import MLPProbe


def rings(n: int, seed: int = 0):
    """Two concentric rings in 2-D: not linearly separable, easy for one hidden layer."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    r = np.where(y == 1, 3.0, 1.0) + rng.normal(0, 0.1, n)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1).astype(np.float32), y


def test_nonlinear_problem_is_solved():
    X, y = rings(600)
    Xt, yt = rings(400, seed=1)
    probe = MLPProbe(lr=1e-2, epochs=40, batch_size=64, patience=40).fit(X, y)
    assert probe.score(Xt, yt) >= 0.98
    assert 1 <= probe.best_epoch_ <= probe.n_epochs_ <= 40


def test_random_labels_give_chance():
    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(400, 10)), rng.normal(size=(2000, 10))
    y, yt = rng.integers(0, 4, 400), rng.integers(0, 4, 2000)
    assert abs(MLPProbe(lr=1e-3, epochs=10).fit(X, y).score(Xt, yt) - 0.25) < 0.05


def test_architecture_is_the_paper_table1_probe():
    X, y = rings(50)
    model = MLPProbe(epochs=1).fit(X, y).model_
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert model[0].out_features == 200 and model[3].p == 0.1


def test_seeded_and_leaves_global_rng_alone():
    X, y = rings(200)
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    a = MLPProbe(lr=1e-2, epochs=3, seed=1).fit(X, y)
    assert torch.equal(torch.rand(1), expected)
    b = MLPProbe(lr=1e-2, epochs=3, seed=1).fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


def test_early_stopping_uses_given_validation_set():
    X, y = rings(300)
    Xv, yv = rings(100, seed=2)
    probe = MLPProbe(lr=1e-2, epochs=200, patience=3).fit(X, y, Xv, yv)
    assert probe.n_epochs_ < 200  # stopped early
    assert probe.best_val_accuracy_ == pytest.approx(probe.score(Xv, yv))


def test_bad_arguments():
    with pytest.raises(UserError):
        MLPProbe(dropout=1.0)
    with pytest.raises(UserError):
        MLPProbe(hidden=0)
