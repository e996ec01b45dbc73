"""FID: the exact Frechet distance of feature sets (closed forms, agreement with the sqrtm route and
with an eigenvalue reference) and the end-to-end ``fid`` on a local weights file.

The closed form for Gaussians and ``frechet.frechet_distance`` itself are tested in test_frechet.py;
here the new nuclear-norm route is checked against them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from safetensors.torch import save_file

from infomax.errors import UserError
from infomax.evaluation.fid import fid, inception_features
from infomax.evaluation.frechet import frechet_distance, frechet_distance_features, gaussian_stats
from infomax.evaluation.inception import InceptionV3FID, load_inception


def designed_features(mu: np.ndarray, sigma: np.ndarray, cols: list[int], dim: int) -> np.ndarray:
    """(8, dim) features whose sample mean is exactly mu (padded with zeros) and whose sample covariance
    (ddof 1) is exactly diag(sigma^2, 0, ...): orthogonal +-1 Hadamard columns that sum to zero."""
    h = scipy.linalg.hadamard(8)[:, cols].astype(float)  # (8, k), h^T h = 8 I, 1^T h = 0
    f = np.zeros((8, dim))
    f[:, : len(mu)] = mu + h * sigma * np.sqrt(7 / 8)
    return f


@pytest.mark.parametrize("dim", [3, 16], ids=["n>D-eigh-factor", "n<=D-centred-features"])
def test_closed_form_for_commuting_covariances(dim):
    mu1, s1 = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 1.0])
    mu2, s2 = np.array([0.0, 1.0, 0.5]), np.array([1.0, 1.5, 3.0])
    f1, f2 = designed_features(mu1, s1, [1, 2, 3], dim), designed_features(mu2, s2, [4, 5, 6], dim)
    expected = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()  # 1 + 9 + 0 + 1 + 1 + 4 = 16
    assert expected == pytest.approx(16.0)
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, dim)))[0]  # FD is rotation invariant
    assert frechet_distance_features(f1 @ q.T, f2 @ q.T) == pytest.approx(expected, rel=1e-10)


def test_agrees_with_sqrtm_route_for_full_rank_covariances():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(size=(150, 5)) @ rng.normal(size=(5, 5)) + 0.3
    expected = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    assert frechet_distance_features(a, b) == pytest.approx(expected, rel=1e-9)


def test_exact_for_singular_covariances():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 20))  # rank 5 covariance
    b = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20)) * 0.3
    (m1, c1), (m2, c2) = gaussian_stats(a), gaussian_stats(b)
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(c1 @ c2).real, 0, None)).sum()
    expected = ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt
    # the reference takes square roots of 15 rounding-level "zero" eigenvalues: ~1e-7 noise in ~33
    assert frechet_distance_features(a, b) == pytest.approx(expected, abs=1e-5)
    assert frechet_distance_features(b, a) == pytest.approx(expected, abs=1e-5)
    assert abs(frechet_distance_features(a, a)) < 1e-12


def test_feature_errors_are_user_errors():
    with pytest.raises(UserError, match="widths differ"):
        frechet_distance_features(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(UserError, match="N >= 2"):
        frechet_distance_features(np.zeros((1, 4)), np.zeros((3, 4)))
    net = InceptionV3FID()
    with pytest.raises(UserError, match="uint8"):
        inception_features(net, np.zeros((2, 3, 32, 32), dtype=np.float32))
    with pytest.raises(UserError, match="1 or 3"):
        inception_features(net, np.zeros((2, 2, 32, 32), dtype=np.uint8))


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A weights file of a randomly initialised, well-scaled network: He-normal convolutions (PyTorch's
    default init shrinks activations layer by layer until pool3 features are ~1e-6)."""
    torch.manual_seed(0)
    net = InceptionV3FID()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("inception") / "fid_inception.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_fid_of_a_set_with_itself_is_zero(weights_file):
    x = np.random.default_rng(3).integers(0, 256, (3, 1, 28, 28), dtype=np.uint8)
    # the same set in another order and other batches (features are computed twice)
    assert abs(fid(x, x[::-1].copy(), weights_file, batch_size=2)) < 1e-6


def test_fid_is_symmetric_and_positive_for_different_sets(weights_file):
    net = load_inception(weights_file, resize_input=False)  # 80x80 inputs as is: fast
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (4, 3, 80, 80), dtype=np.uint8)
    b = (a // 2).astype(np.uint8)  # darker copies
    fa = inception_features(net, a)
    assert np.trace(gaussian_stats(fa)[1]) > 1e-2  # features vary: the zero above is not a scale artefact
    d = fid(a, b, net, batch_size=4)
    assert d > 1e-2
    assert fid(b, a, net, batch_size=4) == pytest.approx(d, rel=1e-9)
