from __future__ import annotations

import numpy as np
import pytest
import torch

from infomax.bounds import jsd, nwj, train_report


def _softplus(v: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(v))


def test_hand_computed_3x3(s3: torch.Tensor) -> None:
    S = s3.numpy()
    off = S[~np.eye(3, dtype=bool)]
    expect = np.mean(-_softplus(-np.diag(S))) - np.mean(_softplus(off))
    assert float(jsd(s3)) == pytest.approx(expect, abs=1e-12)


def test_include_positives_in_negative_term(s3: torch.Tensor) -> None:
    S = s3.numpy()
    expect = np.mean(-_softplus(-np.diag(S))) - np.mean(_softplus(S))
    assert float(jsd(s3, exclude_positives=False)) == pytest.approx(expect, abs=1e-12)


def test_max_over_constant_critics_is_minus_2_log_2_at_independence() -> None:
    """For a constant critic c the objective is -softplus(-c) - softplus(c), maximal (-2 log 2) at c = 0."""
    vals = [float(jsd(torch.full((4, 4), c))) for c in (-1.0, -0.1, 0.0, 0.1, 1.0)]
    assert max(vals) == pytest.approx(-2 * np.log(2), abs=1e-6)
    assert int(np.argmax(vals)) == 2


def test_train_with_jsd_report_nwj() -> None:
    s = torch.randn(5, 5, requires_grad=True)
    v = train_report(jsd(s), nwj(s))
    (g_v,) = torch.autograd.grad(v, s)
    (g_j,) = torch.autograd.grad(jsd(s), s)
    assert float(v.detach()) == pytest.approx(float(nwj(s).detach()), abs=1e-6)
    torch.testing.assert_close(g_v, g_j)
