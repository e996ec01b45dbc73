"""The one LightningModule: wraps any method, one Adam per parameter group, manual optimisation.

Per training step: uint8 images -> float [0, 1] on the device; the method's forward once; then, group by
group (``"main"`` first), zero the group's gradients, backward its loss (``"loss"`` for main,
``"loss/<group>"`` for the others), set its learning rate from the schedule (``schedule.py``; a
non-constant one is logged as ``lr``) and step its optimiser; then ``method.on_after_optimizer_step()``.
A non-finite loss stops training before any weight is touched, and so does a finite blow-up (a loss over
``diverge_factor`` times the scale of the run's first steps; that scale is checkpointed). At every epoch
end (and when the wall-clock budget runs out, or a stop signal came: ``engine.fit`` defers it to the end of
the step) the full training state is checkpointed atomically (see ``checkpoint.py``).
With ``probe_every`` > 0, an online linear probe (``online_probe.py``) is logged before training and every
``probe_every`` epochs (rank 0; it draws nothing from the global RNGs, so the weights do not depend on it).
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from infomax.config import DIVERGE_EARLY_STEPS, TrainConfig
from infomax.engine.averaging import WeightAverage
from infomax.engine.checkpoint import (
    FORMAT,
    non_finite_tensors,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from infomax.engine.online_probe import OnlineLinearProbe
from infomax.engine.sampler import EpochBatchSampler
from infomax.engine.schedule import lr_factor, run_progress
from infomax.errors import Interrupted, UserError
from infomax.interrupt import stop_requested
from infomax.methods.base import MethodBase
from infomax.run import write_json

#: File written beside the checkpoint when training diverged (read by ``fit``).
DIVERGED = "diverged.json"


def quiet_lightning_worker() -> None:
    """In a spawned DDP worker: hide Lightning's info messages and its data-loader hints."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")


def loss_key(group: str) -> str:
    """The loss-dict key a parameter group is optimised on: ``"loss"`` for main, else ``"loss/<group>"``."""
    return "loss" if group == "main" else f"loss/{group}"


class InfomaxModule(L.LightningModule):
    """Trains ``method`` on ``data`` in the order given by ``sampler``.

    Args:
        method: any :class:`~infomax.methods.base.MethodBase`.
        train_cfg: lr, lr_schedule, weight_decay, adam_beta1/2, seed, max_epochs, max_minutes and
            probe_every are read here.
        data: a dataset of ``(uint8 (C, H, W), int64)`` items.
        sampler: the epoch-order batch sampler (its ``epoch``/``resume_at`` are driven from here).
        checkpoint_path: where to write the checkpoint (rank 0 only).
        start: the checkpoint to continue from (``None``: a fresh run at epoch 0).
        log_every: steps between logged rows.
        online_probe: run and logged every ``train_cfg.probe_every`` epochs (None: never).
    """

    def __init__(
        self,
        method: MethodBase,
        train_cfg: TrainConfig,
        data: Dataset,
        sampler: EpochBatchSampler,
        checkpoint_path: Path,
        start: dict[str, Any] | None = None,
        log_every: int = 10,
        online_probe: OnlineLinearProbe | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.method, self.cfg, self.data, self.sampler = method, train_cfg, data, sampler
        self.checkpoint_path, self.start, self.log_every = Path(checkpoint_path), start, log_every
        self.online_probe = online_probe if train_cfg.probe_every > 0 else None
        self.groups = list(method.param_groups())  # "main" first
        if self.groups[0] != "main":
            raise RuntimeError(f"param_groups() must start with 'main', got {self.groups}")
        start = start or {}
        self.epoch, self.batch = start.get("epoch", 0), start.get("batch", 0)
        self.step_count = start.get("step", 0)
        self.elapsed_before = float(start.get("elapsed_s", 0.0))
        self.stopped_by: str | None = None
        self.diverged: str | None = None
        self.average: WeightAverage | None = None  # built in on_train_start (cfg.ema > 0)
        self.last_losses: dict[str, float] = {}
        self.loss_scale: float | None = start.get("loss_scale")  # median |loss| of the first steps, >= 1
        self.early_losses: list[float] = []
        if self.batch:
            sampler.resume_at = (self.epoch, self.batch)
        sampler.epoch = self.epoch

    # --- set-up -----------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        self.sampler.rank, self.sampler.world_size = self.global_rank, self.trainer.world_size
        if self.cfg.channels_last:  # NHWC weights, in place (the optimisers hold the same parameters)
            self.method.to(memory_format=torch.channels_last)
        if self.trainer.world_size > 1:  # a spawned worker: as quiet as the parent (see fit.py)
            quiet_lightning_worker()

    def train_dataloader(self) -> DataLoader:
        # its own generator: creating an iterator must not draw from the global RNG the method uses
        return DataLoader(self.data, batch_sampler=self.sampler, num_workers=self.cfg.num_workers,
                          pin_memory=self.cfg.accelerator not in ("cpu",),
                          generator=torch.Generator().manual_seed(self.cfg.seed))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        groups = self.method.param_groups()
        group_lr = getattr(self.method, "group_lr", None) or {}
        betas = (self.cfg.adam_beta1, self.cfg.adam_beta2)
        # the schedule scales these; a resumed optimiser's state holds the last scaled value, not the base
        self.base_lr = {g: self.cfg.lr if g == "main" else group_lr.get(g, self.cfg.lr) for g in self.groups}
        # fused: one kernel over all of a group's tensors; on a CPU 3-5x faster than the default per-tensor
        # loop (for dim-l-noprior, whose step the loop made ~25% of a training step: see
        # benchmarks/dim/step_time.py)
        wd = self.cfg.weight_decay
        opts = [torch.optim.Adam(groups[g], lr=self.base_lr[g], betas=betas, weight_decay=wd, fused=True)
                for g in self.groups]
        for g, opt in zip(self.groups, opts):
            if self.start and g in self.start.get("optimizers", {}):
                try:
                    opt.load_state_dict(self.start["optimizers"][g])
                except (ValueError, KeyError, TypeError, RuntimeError) as e:  # a checkpoint of another model
                    raise UserError(f"checkpoint {self.checkpoint_path}: the optimiser state of group {g!r} "
                                    f"does not fit this run's method ({str(e).strip()[:200]}); was it copied "
                                    "from another run?") from None
        return opts

    def on_train_start(self) -> None:
        self.t0 = time.monotonic()
        # after the move to the device and to channels_last: the average follows the weights trained
        try:
            self.average = (WeightAverage(self.method, self.cfg.ema, (self.start or {}).get("ema"))
                            if self.cfg.ema > 0 else None)
        except ValueError as e:  # a checkpoint whose average is of another model
            raise UserError(f"checkpoint {self.checkpoint_path}: {e}; was it copied from another "
                            "run?") from None
        if self.step_count == 0:  # the untrained encoder: the first point of the online-probe curve
            self._probe()

    # --- the step ---------------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self.sampler.epoch = self.epoch
        self.sums: dict[str, Tensor] = {}
        self.count = 0
        if self.start and self.batch and self.global_rank == 0:  # resumed mid-epoch: the saved RNG state
            set_rng_state(self.start["rng"])
        else:  # every epoch's randomness (views, dropout) is a function of (seed, epoch, rank)
            seed_everything(self.cfg.seed, self.epoch, self.global_rank, self.batch)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._stop_if_requested()  # a deferred stop (or one whose exception was dropped in a `__del__`)
        if self.sampler.served_epoch != self.epoch:  # the data order must be that of this epoch
            raise RuntimeError(f"data of epoch {self.sampler.served_epoch} served in epoch {self.epoch}")
        x, labels = batch
        x = x.float().div_(255)  # uint8 (B, C, H, W) -> float [0, 1], on the device
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        losses = self.method((x, labels))
        bad = [k for k, v in losses.items() if not bool(torch.isfinite(v.detach()).all())]
        if self.trainer.world_size > 1:
            bad = ["loss"] if self.trainer.strategy.reduce_boolean_decision(bool(bad), all=False) else []
        if bad:
            self._diverge(losses, bad)
            return
        blowup = self._blowup(float(losses["loss"].detach()))
        ddp = self.trainer.world_size > 1
        if ddp and self.trainer.strategy.reduce_boolean_decision(bool(blowup), all=False):
            blowup = blowup or "the loss blew up on another rank"
        if blowup:
            self._mark_diverged(blowup)
            return
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        factor = self.lr_factor()
        for i, (g, opt) in enumerate(zip(self.groups, opts)):
            opt.zero_grad(set_to_none=True)
            self.manual_backward(losses[loss_key(g)], retain_graph=i < len(opts) - 1)
            for pg in opt.param_groups:
                pg["lr"] = self.base_lr[g] * factor
            opt.step()
        self.method.on_after_optimizer_step()
        self.step_count += 1
        if self.average is not None:
            self.average.update(self.step_count)
        self.batch += 1
        if self.cfg.lr_schedule != "constant":  # a scheduled rate is logged (a panel of the loss plot)
            losses = {**losses, "lr": torch.tensor(self.base_lr["main"] * factor)}
        self._record(losses)
        if self._over_budget():
            self.stopped_by = "max_minutes"
            self.trainer.should_stop = True
        if self.batch < len(self.sampler):  # mid-epoch (the epoch's end checkpoints, then stops, otherwise)
            self._stop_if_requested()  # a stop signal: checkpoint here, then raise
            if self.stopped_by == "max_minutes":
                self._save()

    def on_train_epoch_end(self) -> None:
        if self.diverged or self.batch < len(self.sampler):  # diverged, or stopped mid-epoch (saved)
            return
        self.epoch, self.batch = self.epoch + 1, 0
        self.start = None
        self.sampler.resume_at = None
        if self.global_rank == 0:
            means = {f"epoch/{k}": (v / max(self.count, 1)).item() for k, v in self.sums.items()}
            self._log_metrics({**means, "epoch": self.epoch})
        if self.cfg.probe_every > 0 and self.epoch % self.cfg.probe_every == 0:
            self._probe()
        self._save()
        self._stop_if_requested()

    # --- helpers ----------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Training wall time in seconds, including the time before a resume."""
        return self.elapsed_before + (time.monotonic() - self.t0)

    def lr_factor(self) -> float:
        """The schedule's factor for the coming step (every process uses the same one)."""
        if self.cfg.lr_schedule == "constant":
            return 1.0
        total = self.cfg.max_epochs * len(self.sampler)
        elapsed = self.elapsed()
        if self.cfg.max_minutes is not None and self.trainer.world_size > 1:  # the clocks differ slightly
            clock = torch.tensor(elapsed, device=self.device)
            elapsed = float(self.trainer.strategy.reduce(clock, reduce_op="max"))
        progress = run_progress(self.step_count, total, elapsed, self.cfg.max_minutes)
        return lr_factor(self.cfg.lr_schedule, progress)

    def _over_budget(self) -> bool:
        if self.cfg.max_minutes is None:
            return False
        over = self.elapsed() >= 60.0 * self.cfg.max_minutes
        if self.trainer.world_size > 1:  # every process stops at the same step
            over = self.trainer.strategy.reduce_boolean_decision(over, all=False)
        return over

    def _record(self, losses: dict[str, Tensor]) -> None:
        scalars = {k: v.detach().float().mean() for k, v in losses.items()}
        for k, v in scalars.items():
            self.sums[k] = self.sums.get(k, torch.zeros((), device=v.device)) + v
        self.count += 1
        if self.step_count % self.log_every == 0 or self.batch == len(self.sampler):
            self.last_losses = {k: float(v) for k, v in scalars.items()}
            if self.global_rank == 0:
                self._log_metrics({**self.last_losses, "epoch": self.epoch})

    def _probe(self) -> None:
        """Rank 0: run the online linear probe (if any) and log its accuracies at the current step."""
        if self.online_probe is None or self.global_rank != 0:
            return
        self._log_metrics({**self.online_probe(self.method.encoder), "epoch": self.epoch})

    def _log_metrics(self, metrics: dict[str, float]) -> None:
        for logger in self.trainer.loggers:
            logger.log_metrics(metrics, step=self.step_count)

    def checkpoint_state(self) -> dict[str, Any]:
        """The full training state as plain tensors and dicts (see ``checkpoint.py``)."""
        return {
            "format": FORMAT,
            "method": {k: v.detach().cpu().contiguous() for k, v in self.method.state_dict().items()},
            "optimizers": {g: o.state_dict() for g, o in zip(self.groups, self.trainer.optimizers)},
            "rng": rng_state(),
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step_count,
            "elapsed_s": self.elapsed(),
            "stopped_by": self.stopped_by,
            "loss_scale": self.loss_scale,
            **({"ema": self.average.cpu_state()} if self.average is not None else {}),
        }

    def _stop_if_requested(self) -> None:
        """After a stop signal (deferred by ``engine.fit`` to here, between steps): checkpoint mid-epoch
        progress, so a resume loses no step, then raise :class:`Interrupted`."""
        signum = stop_requested()
        if signum is None:
            return
        if 0 < self.batch < len(self.sampler) and not self.diverged:  # epoch end saves the others
            self._save()
        raise Interrupted(signum)

    def _save(self) -> None:
        if self.global_rank != 0:
            return
        state = self.checkpoint_state()
        bad = non_finite_tensors(state["method"])
        if bad:  # never write NaN weights: keep the previous checkpoint and stop
            self._mark_diverged(f"non-finite weights ({', '.join(bad[:3])})")
            return
        save_checkpoint(self.checkpoint_path, state)

    def _blowup(self, loss: float) -> str:
        """What went wrong when ``loss`` is a finite blow-up (``diverge_factor`` x the early scale), else "".

        The scale is the median ``|loss|`` of the run's first ``DIVERGE_EARLY_STEPS`` steps, at least 1 (so
        a loss near zero early does not make every later value look huge); those steps are not checked.
        """
        if self.loss_scale is None:
            self.early_losses.append(abs(loss))
            if len(self.early_losses) >= DIVERGE_EARLY_STEPS:
                self.loss_scale = max(1.0, statistics.median(self.early_losses))
            return ""
        factor = self.cfg.diverge_factor
        if factor and abs(loss) > factor * self.loss_scale:
            return (f"loss = {loss:.4g}, over diverge_factor = {factor:g} times its scale in the first "
                    f"{DIVERGE_EARLY_STEPS} steps ({self.loss_scale:.3g})")
        return ""

    def _diverge(self, losses: dict[str, Tensor], bad: list[str]) -> None:
        values = ", ".join(f"{k} = {float(losses[k].detach().float().mean()):g}" for k in bad if k in losses)
        self._mark_diverged(values or "non-finite loss")

    def _mark_diverged(self, what: str) -> None:
        """Stop training; rank 0 leaves ``diverged.json`` beside the checkpoint for ``fit`` to report."""
        self.diverged = f"{what} at epoch {self.epoch + 1}, step {self.step_count + 1}"
        self.stopped_by = "diverged"
        self.trainer.should_stop = True
        if self.global_rank == 0:
            path = self.checkpoint_path.with_name(DIVERGED)
            write_json(path, {"message": self.diverged, "epoch": self.epoch, "step": self.step_count})
