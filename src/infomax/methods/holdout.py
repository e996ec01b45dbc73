"""Classes held out of a supervised method's training (``holdout_classes``), for evaluation on unseen classes.

DIMCO and ProtoNet share it: :func:`check_holdout` checks the option against the data when the method is
built, :func:`drop_held_out` removes the held-out items from a batch before the encoder sees them (the
balanced sampler never draws them either; the random one does). The held-out labels are kept as the
method's ``holdout`` buffer, which ``evaluation.fewshot_protocols.unseen_test_items`` reads.

Example:
    >>> import torch
    >>> x, labels = torch.arange(5.0), torch.tensor([0, 3, 1, 3, 2])
    >>> drop_held_out(x, labels, torch.tensor([3]))
    (tensor([0., 2., 4.]), tensor([0, 1, 2]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from infomax.errors import UserError


def check_holdout(holdout_classes: tuple[int, ...], num_classes: int | None, method: str) -> None:
    """UserError unless ``holdout_classes`` names existing labels (0 .. num_classes - 1) and leaves ``method``
    at least two classes to train on. ``num_classes`` None: not checked.

    Example:
        >>> check_holdout((5, 6, 7, 8, 9), 10, "DIMCO")
        >>> check_holdout((3, 10), 10, "DIMCO")
        Traceback (most recent call last):
        ...
        infomax.errors.UserError: holdout_classes names label 10, which the data does not have (labels 0-9)
    """
    if num_classes is None or not holdout_classes:
        return
    labels = f"labels 0-{num_classes - 1}" if num_classes > 0 else "no labelled classes"
    unknown = sorted({int(c) for c in holdout_classes if not 0 <= int(c) < num_classes})
    if unknown:
        names = ", ".join(str(c) for c in unknown)
        raise UserError(f"holdout_classes names label{'s' if len(unknown) > 1 else ''} {names}, which the "
                        f"data does not have ({labels})")
    held = len(set(holdout_classes))
    if num_classes - held < 2:
        raise UserError(f"holdout_classes holds out {held} of the {num_classes} classes, leaving "
                        f"{num_classes - held} to train on; {method} needs at least 2 (one class teaches "
                        "nothing about telling classes apart)")


def drop_held_out(x: Tensor, labels: Tensor, holdout: Tensor | None) -> tuple[Tensor, Tensor]:
    """The items of a batch x (B, ...), labels (B,) whose label is not in ``holdout`` (None or empty: all)."""
    if holdout is None or not holdout.numel():
        return x, labels
    keep = ~torch.isin(labels, holdout)  # (B,)
    return x[keep], labels[keep]
