from __future__ import annotations

import pytest
import torch

from infomax.bounds import train_report
from infomax.errors import UserError


def test_value_of_report_gradient_of_train() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    train, report = (w**2).sum(), (3 * w).sum()  # grad 2w = (2, 4); value 9
    v = train_report(train, report)
    v.backward()
    assert float(v.detach()) == pytest.approx(9.0)
    torch.testing.assert_close(w.grad, torch.tensor([2.0, 4.0]))


def test_shape_mismatch() -> None:
    with pytest.raises(UserError, match="shape"):
        train_report(torch.zeros(2), torch.zeros(()))
