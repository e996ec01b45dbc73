"""A tqdm progress bar on stderr (stdout stays clean for ``--json``), one bar per epoch, rank 0 only.

Shared helpers for other long phases (labelled bars, notes, the on/off rules): :mod:`infomax.progress`.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
from tqdm.auto import tqdm

from infomax.progress import format_seconds


class ProgressBar(L.Callback):
    """Shows ``epoch e/E`` with the steps done, the latest loss and the elapsed training time; after each
    epoch a line with the loss and the time left for the remaining epochs (from this session's mean epoch).

    Args:
        max_epochs: the run's total number of epochs (for the ``e/E`` label).
        enabled: set False to show nothing.
        label: what is being trained, put before ``epoch e/E`` (e.g. "supervised baseline"), so a second
            training after the run's own does not read as a restart.
    """

    def __init__(self, max_epochs: int, enabled: bool = True, label: str = "") -> None:
        self.max_epochs, self.enabled = max_epochs, enabled
        self.prefix = f"{label}: " if label else ""
        self.bar: Any = None
        self._start: float | None = None  # wall time of this session's first epoch start
        self._epochs = 0.0  # epochs (fractions for a resumed partial one) done in this session

    def on_train_epoch_start(self, trainer: L.Trainer, module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        total = len(module.sampler)
        if self._start is None:
            self._start = time.perf_counter()
        self._first_batch = module.batch
        desc = f"{self.prefix}epoch {module.epoch + 1}/{self.max_epochs}"
        self.bar = tqdm(total=total, initial=module.batch, desc=desc, file=sys.stderr, leave=False,
                        dynamic_ncols=True, mininterval=0.5)

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, outputs: Any, batch: Any, idx: int) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if module.last_losses:
                loss = module.last_losses.get("loss", float("nan"))
                self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_train_epoch_end(self, trainer: L.Trainer, module: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            if module.batch >= len(module.sampler):  # a completed epoch (runs before the module's hook)
                loss = module.last_losses.get("loss", float("nan"))
                self._epochs += 1 - self._first_batch / max(len(module.sampler), 1)
                left = self.max_epochs - (module.epoch + 1)
                eta = ""
                if left > 0 and self._start is not None and self._epochs > 0:
                    per_epoch = (time.perf_counter() - self._start) / self._epochs
                    eta = f"  about {format_seconds(left * per_epoch)} left for {left} more"
                tqdm.write(f"{self.prefix}epoch {module.epoch + 1}/{self.max_epochs}  loss {loss:.4f}  "
                           f"{module.elapsed():.0f}s{eta}", file=sys.stderr)

    def on_train_end(self, trainer: L.Trainer, module: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_exception(self, trainer: L.Trainer, module: Any, exception: BaseException) -> None:
        """Close the bar (an interruption, an error), so the CLI's message starts on a line of its own."""
        self.on_train_end(trainer, module)
