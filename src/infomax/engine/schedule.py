"""Learning-rate schedules as pure functions of training progress.

``progress`` is the fraction of the run done, in [0, 1]: the larger of steps taken / (``max_epochs`` x
steps per epoch) and, with a wall-clock budget, elapsed training time / ``max_minutes``. The schedule
therefore ends at whichever limit stops the run. The engine sets every parameter group's learning rate to
``base_lr * lr_factor(schedule, progress)`` before each optimiser step, so no scheduler state needs to be
checkpointed: a resumed run recomputes the factor from its restored step count and elapsed time.

- ``constant``: factor 1 (the default; what the paper-reproduction presets use).
- ``cosine``: ``0.5 * (1 + cos(pi * progress))``, from 1 down to 0 at the end of the run (Loshchilov &
  Hutter, 2017, "SGDR", without restarts).

With a ``max_minutes`` budget the factor depends on wall time, so two runs of the same seed are no longer
bit-identical; a schedule over ``max_epochs`` alone is.

Example:
    >>> lr_factor("cosine", 0.5)
    0.5
    >>> lr_factor("constant", 0.9)
    1.0
"""

from __future__ import annotations

import math

#: The schedules ``TrainConfig.lr_schedule`` accepts.
SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, progress: float) -> float:
    """The multiplier of the base learning rate at ``progress`` (clamped to [0, 1]) of the run."""
    p = min(max(float(progress), 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")


def run_progress(steps: int, total_steps: int, elapsed_s: float, max_minutes: float | None) -> float:
    """The fraction of the run done: the larger of the step fraction and the wall-clock fraction.

    Example:
        >>> run_progress(25, 100, 30.0, 1.0)  # a quarter of the steps, half of a 1-minute budget
        0.5
    """
    p = steps / max(total_steps, 1)
    if max_minutes is not None:
        p = max(p, elapsed_s / (60.0 * max_minutes))
    return min(p, 1.0)
