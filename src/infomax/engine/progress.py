"""A tqdm progress bar on stderr (stdout stays clean for ``--json``), one bar per epoch, rank 0 only."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from tqdm.auto import tqdm


class ProgressBar(L.Callback):
    """Shows ``epoch e/E`` with the steps done, the latest loss and the elapsed training time.

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

    def on_train_epoch_start(self, trainer: L.Trainer, module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        total = len(module.sampler)
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
                tqdm.write(f"{self.prefix}epoch {module.epoch + 1}/{self.max_epochs}  loss {loss:.4f}  "
                           f"{module.elapsed():.0f}s", file=sys.stderr)

    def on_train_end(self, trainer: L.Trainer, module: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_exception(self, trainer: L.Trainer, module: Any, exception: BaseException) -> None:
        """Close the bar (an interruption, an error), so the CLI's message starts on a line of its own."""
        self.on_train_end(trainer, module)
