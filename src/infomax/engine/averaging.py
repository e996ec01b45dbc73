"""An exponential moving average of the weights (Polyak & Juditsky, 1992; as in Tarvainen & Valpola, 2017,
and timm's ``ModelEmaV2``), kept beside training and exported instead of the last weights.

After optimiser step t (1, 2, ...) every averaged float tensor moves towards the current one:
``avg <- avg + (1 - d_t) * (cur - avg)`` with ``d_t = ema_decay(decay, t)`` = ``min(decay, (1 + t) / (10 +
t))``: early steps use a shorter memory, so the average of a short run is not dominated by the initial
weights (TensorFlow's ``ExponentialMovingAverage(num_updates=t)`` rule). Integer buffers (BatchNorm's
``num_batches_tracked``) are not averaged: the exported value is the last one. The state is a plain
``{name: tensor}`` dict, checkpointed with the run (``checkpoint["ema"]``), so a resumed run continues the
same average.

Example:
    >>> ema_decay(0.999, 1), ema_decay(0.999, 10_000)
    (0.18181818181818182, 0.999)
    >>> net = torch.nn.Linear(2, 1)
    >>> avg = WeightAverage(net, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)
    >>> avg.update(step=100)  # d = 0.5: halfway to the new weights
    >>> torch.allclose(avg.state["weight"], net.weight - 0.5)
    True
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def ema_decay(decay: float, step: int) -> float:
    """The decay used after optimiser step ``step`` (>= 1): ``min(decay, (1 + step) / (10 + step))``."""
    return min(decay, (1.0 + step) / (10.0 + step))


class WeightAverage:
    """The moving average of ``module``'s float parameters and buffers.

    Args:
        module: the trained module; its ``state_dict()`` tensors share storage with the parameters, which
            the optimiser updates in place, so the average follows them without re-reading the dict.
        decay: the target decay (0 < decay < 1).
        state: a checkpointed average to continue (``{name: tensor}``, e.g. on the CPU); None starts from
            the module's current weights.

    Attributes:
        state: ``{name: tensor}`` of the averaged float tensors, on the module's device.
    """

    def __init__(self, module: nn.Module, decay: float, state: dict[str, Tensor] | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        current = {k: v for k, v in module.state_dict().items() if v.is_floating_point()}
        if state is not None and set(state) != set(current):
            raise ValueError("its moving average of the weights ('ema') does not hold this model's float "
                             "tensors")
        self._current = list(current.values())
        self.state = {k: (state[k] if state is not None else v).detach().to(v.device, v.dtype, copy=True)
                      for k, v in current.items()}
        self._averaged = list(self.state.values())

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the average towards the current weights, after optimiser step ``step`` (>= 1)."""
        torch._foreach_lerp_(self._averaged, self._current, 1.0 - ema_decay(self.decay, step))

    def cpu_state(self) -> dict[str, Tensor]:
        """The average as contiguous CPU tensors (for a checkpoint)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.state.items()}
