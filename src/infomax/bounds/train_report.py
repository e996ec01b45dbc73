"""Train with one bound, report another (Poole et al. 2019 train critics with one objective and
evaluate another; Song & Ermon 2020 do the same for SMILE)."""

from __future__ import annotations

from torch import Tensor

from infomax.errors import UserError


def train_report(train_value: Tensor, report_value: Tensor) -> Tensor:
    """A tensor whose value is ``report_value`` and whose gradient is ``train_value``'s.

    ``report_value.detach() + train_value - train_value.detach()``: maximizing it follows the gradient of
    ``train_value`` (e.g. JSD, stable) while its value is the reported estimate (e.g. NWJ or DV).

    Args:
        train_value: tensor providing the gradient.
        report_value: tensor of the same shape providing the value (its gradient is dropped).

    Returns:
        Tensor of the common shape.

    Example:
        >>> import torch
        >>> s = torch.randn(4, 4)
        >>> from infomax.bounds import jsd, nwj
        >>> v = train_report(jsd(s), nwj(s))
        >>> bool(torch.isclose(v, nwj(s)))
        True
    """
    if train_value.shape != report_value.shape:
        raise UserError(
            f"train_report needs equal shapes, got {tuple(train_value.shape)} and {tuple(report_value.shape)}"
        )
    return report_value.detach() + (train_value - train_value.detach())
