from __future__ import annotations

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.evaluation.knn import KNNProbe


def naive_knn_votes(Xtr, ytr, Xq, k, t, n_classes):
    """Loop-by-loop weighted kNN of Wu et al. 2018 (cosine similarity, exp(s / T) votes)."""
    out = np.zeros((len(Xq), n_classes))
    for i, q in enumerate(Xq):
        sims = [float(q @ x / (np.linalg.norm(q) * np.linalg.norm(x))) for x in Xtr]
        order = sorted(range(len(Xtr)), key=lambda j: -sims[j])[:k]
        for j in order:
            out[i, ytr[j]] += np.exp(sims[j] / t)
    return out


@pytest.mark.parametrize(("k", "t"), [(1, 0.07), (3, 0.5), (7, 0.07)])
def test_equals_naive_implementation(k, t):
    rng = np.random.default_rng(0)
    Xtr, ytr, Xq = rng.normal(size=(15, 4)), rng.integers(0, 3, 15), rng.normal(size=(6, 4))
    probe = KNNProbe(k=k, temperature=t, chunk_size=4).fit(Xtr, ytr)
    np.testing.assert_allclose(probe.vote_scores(Xq), naive_knn_votes(Xtr, ytr, Xq, k, t, 3), rtol=1e-4)
    np.testing.assert_array_equal(probe.predict(Xq), naive_knn_votes(Xtr, ytr, Xq, k, t, 3).argmax(1))


def test_hand_computed_case():
    # queries along +x; bank: two class-0 points near +x, one class-1 point exactly +x. k=3, T=1.
    Xtr = np.array([[1.0, 0.0], [np.cos(0.5), np.sin(0.5)], [np.cos(0.6), -np.sin(0.6)]])
    ytr = np.array([1, 0, 0])
    votes = KNNProbe(k=3, temperature=1.0).fit(Xtr, ytr).vote_scores(np.array([[2.0, 0.0]]))
    np.testing.assert_allclose(votes, [[np.exp(np.cos(0.5)) + np.exp(np.cos(0.6)), np.e]], rtol=1e-5)
    assert KNNProbe(k=1).fit(Xtr, ytr).predict(np.array([[2.0, 0.0]]))[0] == 1


def test_separable_and_random_labels():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 5
    y, yt = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    X, Xt = centres[y] + rng.normal(size=(300, 16)), centres[yt] + rng.normal(size=(300, 16))
    assert KNNProbe().fit(X, y).score(Xt, yt) == 1.0
    yr = rng.integers(0, 4, 300)
    Xr, Xtr_ = rng.normal(size=(300, 16)), rng.normal(size=(2000, 16))
    assert abs(KNNProbe().fit(Xr, yr).score(Xtr_, rng.integers(0, 4, 2000)) - 0.25) < 0.05


def test_bad_arguments():
    with pytest.raises(UserError):
        KNNProbe(k=0)
    with pytest.raises(UserError):
        KNNProbe(temperature=0)
