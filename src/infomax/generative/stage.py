"""The DDIM stage: train a DDIM on the frozen latent of a trained hybrid run, in the same run directory.

The stage is an engine run of its own in ``RUN_DIR/ddim/`` (config, atomic ``weights_only`` checkpoints,
logs, ``model.safetensors``), so it resumes after a kill exactly like any run; calling it again on the same
``RUN_DIR`` continues it (only ``max_epochs``, ``max_minutes`` and ``data_root`` may change then). Data,
seed and validation split are those of the representation run. Samples (deterministic DDIM, eta = 0 by
default) are decoded by the run's decoder into ``RUN_DIR/plots/ddim_samples.png``.

Command line (:mod:`infomax.cli.generate`)::

    infomax train hybrid --data fashion-mnist --out runs/h
    infomax generate runs/h --set max_epochs=5 --steps 50
    infomax generate runs/h --set max_epochs=8      # continue the stage

Example:
    >>> metrics = train_ddim_stage("runs/h", {"max_epochs": 2})  # doctest: +SKIP
    >>> sample_grid("runs/h", steps=50)  # doctest: +SKIP
    PosixPath('runs/h/plots/ddim_samples.png')
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infomax.config import TrainConfig, apply_overrides, coerce, field_types
from infomax.errors import UserError
from infomax.generative.figures import save_grid
from infomax.generative.method import Config, LatentDDIM
from infomax.progress import bar, format_seconds, note, progress_enabled
from infomax.run import (
    CHECKPOINT_DIR,
    LAST_CHECKPOINT,
    MODEL,
    Run,
    is_run_dir,
    load_run,
    read_config,
    read_metrics,
    train_config_from,
    update_metrics,
)

STAGE_DIR = "ddim"
#: Settings a continued stage may change.
STAGE_LIMITS = ("max_epochs", "max_minutes", "data_root")
#: The stage's engine defaults (the representation run's data, seed and split are kept).
STAGE_DEFAULTS: dict[str, Any] = {"method": "ddim", "lr": 2e-4, "max_epochs": 10, "max_minutes": None,
                                  "limit_train_batches": None, "probe_every": 0, "weight_decay": 0.0}


def representation_run(run_dir: str | Path) -> Run:
    """The trained representation of ``run_dir`` (a hybrid run); UserError if it is not trained yet."""
    path = Path(run_dir)
    if not is_run_dir(path):
        raise UserError(f"{path} is not a run directory: train the representation first "
                        f"(`infomax train hybrid --out {path}`), then the DDIM stage")
    if not (path / MODEL).is_file():
        raise UserError(f"the DDIM stage needs a trained representation, but {path} has no {MODEL} yet; "
                        f"finish it first (`infomax train --resume {path}`)")
    run = load_run(path)
    if not hasattr(run.method, "decoder") or "z" not in getattr(run.method.encoder, "layers", ()):
        raise UserError(f"the DDIM stage needs an autoencoder run with a latent z (method hybrid), "
                        f"{path} is a {run.config['method']!r} run")
    return run


def _stage_configs(run: Run, stage_dir: Path, overrides: dict[str, Any]) -> tuple[TrainConfig, Config]:
    if is_run_dir(stage_dir):  # continue: the saved settings, only the limits may change
        bad = sorted(set(overrides) - set(STAGE_LIMITS))
        if bad:
            raise UserError(f"the DDIM stage in {stage_dir} exists: only {', '.join(STAGE_LIMITS)} may "
                            f"change when continuing it, not {', '.join(bad)}")
        saved = read_config(stage_dir)
        train_cfg = train_config_from(saved)
        types_ = field_types(Config)
        cfg = Config(**{k: coerce(v, types_[k], k) for k, v in saved["method_config"].items()})
    else:
        train_cfg = train_config_from(run.config)
        for k, v in STAGE_DEFAULTS.items():
            setattr(train_cfg, k, v)
        cfg = Config()
    apply_overrides(train_cfg, cfg, overrides)
    if train_cfg.method != "ddim":
        raise UserError("--set method= cannot be changed for the DDIM stage")
    train_cfg.validate()
    cfg.validate()
    return train_cfg, cfg


@dataclass(frozen=True)
class StagePlan:
    """What training the DDIM stage will do, and a timed estimate of how long it takes.

    ``seconds_per_batch`` is measured on a few optimiser steps of a copy of the stage (None when not
    measured); the estimates are None then.
    """

    epochs_done: int  #: epochs already in the stage's checkpoint
    batches_done: int  #: batches done in the current (unfinished) epoch
    max_epochs: int
    batches_per_epoch: int
    batch_size: int
    max_minutes: float | None
    seconds_per_batch: float | None = None

    @property
    def batches_to_go(self) -> int:
        return max(0, (self.max_epochs - self.epochs_done) * self.batches_per_epoch - self.batches_done)

    @property
    def train_seconds(self) -> float | None:
        """Estimated training time (capped by ``max_minutes``), None without a timing."""
        if self.seconds_per_batch is None:
            return None
        est = self.batches_to_go * self.seconds_per_batch
        return est if self.max_minutes is None else min(est, 60.0 * self.max_minutes)

    def sample_seconds(self, n: int, steps: int) -> float | None:
        """Rough time of drawing ``n`` samples with ``steps`` DDIM steps: a U-Net forward pass per step,
        taken as a third of a timed training step (forward + backward) per ``batch_size`` latents."""
        if self.seconds_per_batch is None:
            return None
        return steps * n * self.seconds_per_batch / 3 / self.batch_size

    def describe(self) -> str:
        """One line for the user: the epochs to train and the estimate."""
        if self.batches_to_go == 0:
            return f"DDIM stage: already trained ({self.epochs_done} of {self.max_epochs} epochs)"
        first = self.epochs_done + 1
        line = (f"DDIM stage: training epochs {first}-{self.max_epochs} of {self.max_epochs} "
                f"({self.batches_to_go} batches of {self.batch_size} latents")
        if self.seconds_per_batch is not None:
            est = format_seconds(self.train_seconds or 0.0)
            line += f", {self.seconds_per_batch:.2f} s a batch as timed: about {est}"
        line += ")"
        if self.max_minutes is not None:
            line += f", at most {format_seconds(60 * self.max_minutes)} (max_minutes)"
        return line + "; it checkpoints every epoch: interrupt and rerun to continue"


def time_training_step(method: LatentDDIM, images: np.ndarray, batch_size: int, lr: float,
                       device: str = "cpu", repeats: int = 2) -> float:
    """Seconds per optimiser step (forward, backward, Adam) of a copy of ``method`` on ``batch_size`` of
    ``images`` (uint8), after one warm-up step; ``method`` and the global RNG streams are untouched."""
    model = copy.deepcopy(method).to(device).train()
    x = torch.from_numpy(np.asarray(images[:batch_size])).to(device).float() / 255
    batch = (x, torch.zeros(len(x), dtype=torch.long, device=device))
    opt = torch.optim.Adam(model.param_groups()["main"], lr=lr)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            loss = model(batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(np.mean(times[1:]))


def plan_stage(run_dir: str | Path, train_cfg: TrainConfig, splits: Any,
               method: LatentDDIM | None = None) -> StagePlan:
    """The :class:`StagePlan` of training ``run_dir``'s stage with these settings (timed on ``method``
    when given)."""
    from infomax.engine.checkpoint import load_checkpoint
    from infomax.engine.fit import make_sampler

    ckpt = Path(run_dir) / STAGE_DIR / CHECKPOINT_DIR / LAST_CHECKPOINT
    state = load_checkpoint(ckpt) if ckpt.is_file() else {}
    n = len(splits.train.images)
    per_epoch = len(make_sampler(splits.train.labels, train_cfg))  # the batches fit() will serve
    spb = None
    if method is not None and n:
        device = "cuda" if train_cfg.accelerator in ("gpu", "cuda") and torch.cuda.is_available() else "cpu"
        spb = time_training_step(method, splits.train.images, train_cfg.batch_size, train_cfg.lr, device)
    return StagePlan(int(state.get("epoch", 0)), int(state.get("batch", 0)), int(train_cfg.max_epochs),
                     per_epoch, int(train_cfg.batch_size), train_cfg.max_minutes, spb)


def estimate_stage(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> StagePlan:
    """The :class:`StagePlan` of ``train_ddim_stage(run_dir, overrides)``, timed on a few steps of a copy of
    the stage (a second or so; no file is written and no global RNG stream moves)."""
    from infomax.data.datasets import load_dataset

    run = representation_run(run_dir)
    train_cfg, cfg = _stage_configs(run, Path(run_dir) / STAGE_DIR, dict(overrides or {}))
    splits = load_dataset(train_cfg.data, train_cfg.data_root, train_cfg.val_fraction,
                          max_items=train_cfg.max_items)
    return plan_stage(run_dir, train_cfg, splits, LatentDDIM(copy.deepcopy(run.method.encoder), cfg))


def train_ddim_stage(run_dir: str | Path, overrides: dict[str, Any] | None = None,
                     progress: bool | None = None, announce: bool = True) -> dict[str, Any]:
    """Train (or continue) the DDIM stage of ``run_dir``; returns the stage's metrics.

    When progress is shown, it first says what it will train and how long that should take (timed on a few
    steps of a copy of the stage: :class:`StagePlan`; ``announce=False`` when the caller already said it, see
    :func:`estimate_stage`), then shows the engine's bar per epoch.

    Args:
        run_dir: a trained hybrid run directory.
        overrides: TrainConfig or :class:`~infomax.generative.method.Config` settings (``max_epochs``,
            ``batch_size``, ``lr``, ``base``, ``timesteps``...); when continuing, only the limits.
        progress: show the plan and the engine's progress bar (None: per :mod:`infomax.progress`).
        announce: with progress, say the plan first.
    """
    from infomax.data.datasets import load_dataset
    from infomax.engine.checkpoint import seed_everything
    from infomax.engine.fit import fit

    progress = progress_enabled(progress)
    run = representation_run(run_dir)
    stage_dir = Path(run_dir) / STAGE_DIR
    train_cfg, cfg = _stage_configs(run, stage_dir, dict(overrides or {}))
    splits = load_dataset(train_cfg.data, train_cfg.data_root, train_cfg.val_fraction,
                          max_items=train_cfg.max_items)
    if progress and announce:  # timed on a copy (RNG streams restored): the stage's own draws are unchanged
        timed = LatentDDIM(copy.deepcopy(run.method.encoder), cfg)
        note(plan_stage(run_dir, train_cfg, splits, timed).describe(), enabled=True)
    seed_everything(train_cfg.seed)
    method = LatentDDIM(copy.deepcopy(run.method.encoder), cfg)
    if not (stage_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).exists():  # fresh: latent statistics
        x = torch.from_numpy(np.asarray(splits.train.images[: cfg.stats_items])).float() / 255
        method.set_latent_stats(x)
    with warnings.catch_warnings():  # the frozen encoder is in eval mode on purpose
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
        fit(method, splits, train_cfg, stage_dir, "ddim", cfg, resume=is_run_dir(stage_dir),
            progress=progress)
    return read_metrics(stage_dir)


def load_stage(run_dir: str | Path) -> LatentDDIM:
    """The trained DDIM of ``run_dir`` (from ``RUN_DIR/ddim/model.safetensors``), in eval mode."""
    from safetensors.torch import load_model

    run = representation_run(run_dir)
    stage_dir = Path(run_dir) / STAGE_DIR
    if not (stage_dir / MODEL).is_file():
        raise UserError(f"no trained DDIM in {stage_dir}; run the DDIM stage first")
    saved = read_config(stage_dir)
    types_ = field_types(Config)
    cfg = Config(**{k: coerce(v, types_[k], k) for k, v in saved["method_config"].items()})
    method = LatentDDIM(copy.deepcopy(run.method.encoder), cfg)
    load_model(method, str(stage_dir / MODEL), strict=True)
    return method.eval()


@torch.no_grad()
def generate(run_dir: str | Path, n: int, steps: int = 50, eta: float = 0.0, seed: int = 0,
             batch_size: int = 256) -> torch.Tensor:
    """n decoded DDIM samples (n, C, H, W) in [0, 1]; z_T drawn from a generator seeded with ``seed``.

    A progress bar ``DDIM sampling`` counts the U-Net steps (``steps`` per batch of ``batch_size``)."""
    run, ddim = representation_run(run_dir), load_stage(run_dir)
    g = torch.Generator().manual_seed(seed)
    out = []
    total = math.ceil(n / batch_size) * steps
    with bar(total=total, desc=f"DDIM sampling: {n} images, {steps} steps", unit="step") as progress:
        for i in range(0, n, batch_size):
            z = ddim.sample(min(batch_size, n - i), steps, eta, generator=g,
                            on_step=lambda: progress.update(1))
            out.append(run.method.decode(z))
    return torch.cat(out)


def sample_grid(run_dir: str | Path, n: int = 64, steps: int = 50, eta: float = 0.0, seed: int = 0) -> Path:
    """Write ``RUN_DIR/plots/ddim_samples.png`` (n decoded samples) and record it in ``metrics.json``."""
    path = save_grid(generate(run_dir, n, steps, eta, seed), Path(run_dir) / "plots" / "ddim_samples.png")
    update_metrics(run_dir, {"ddim": {"samples_png": str(path.relative_to(run_dir)), "steps": steps,
                                      "eta": eta, "seed": seed,
                                      "stage": read_metrics(Path(run_dir) / STAGE_DIR).get("train")}})
    return path


__all__ = ["STAGE_DIR", "StagePlan", "estimate_stage", "generate", "load_stage", "plan_stage",
           "representation_run", "sample_grid", "time_training_step", "train_ddim_stage"]
