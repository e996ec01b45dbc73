"""``fit``: train a method into a run directory, checkpoint it, export its weights: top to bottom.

The whole experiment (preset, data, this training, the final evaluation against baselines and the
report) reads top to bottom in :mod:`infomax.experiment`; this module only trains.

0. Checks before anything is written: the settings (``TrainConfig.validate``, the method's
   ``Config.validate`` and the method module's optional ``check_train(cfg, train_cfg)``, e.g. MoCo's
   queue size against the batch size) and the data (at least ``batch_size`` training items per process).
1. The run directory: a new one is created (an existing non-empty one is never written over), or a
   resumed one is checked (it must be a run of the same method and settings). A resumed run whose
   training is finished and exported is left as it is (``config.json`` is rewritten only where a
   resumable setting changed): its final weights are loaded into ``method``. A new run that fails before
   its first checkpointed step is removed again (no half-made run directory).
2. The starting state: the last checkpoint's weights, optimiser states, RNG states and counters, or the
   freshly built method (checkpointed once as epoch 0, so every resume starts from a checkpoint).
3. Training with Lightning (:class:`~infomax.engine.module.InfomaxModule`): data order and randomness
   are functions of (seed, epoch), so a resumed run ends with the same weights as an uninterrupted one
   on the CPU; a checkpoint after every epoch, and mid-epoch where a stop signal (once its step has
   finished) or the wall-clock budget ends training; CSV + TensorBoard logs.
4. Export: ``model.safetensors`` and ``encoder.safetensors`` from the last checkpoint, and the training
   record (``metrics.json`` key ``train``).

Example:
    >>> splits = load_dataset("digits")  # doctest: +SKIP
    >>> method = build_method("dim", cfg, splits.info, seed=0)  # doctest: +SKIP
    >>> fit(method, splits, TrainConfig(max_epochs=5), "runs/x", "dim", cfg)["train"]  # doctest: +SKIP
    {'epochs_completed': 5, 'steps': 105, 'elapsed_s': 9.1, 'stopped_by': 'max_epochs', ...}
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import shutil
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from infomax.config import TrainConfig
from infomax.engine.checkpoint import (
    FORMAT,
    load_checkpoint,
    load_method_state,
    rng_state,
    save_checkpoint,
    seed_everything,
)
from infomax.engine.export import export_weights
from infomax.engine.module import DIVERGED, InfomaxModule
from infomax.engine.online_probe import OnlineLinearProbe
from infomax.engine.progress import ProgressBar
from infomax.engine.sampler import ClassBalancedBatchSampler, EpochBatchSampler
from infomax.errors import Interrupted, UserError
from infomax.interrupt import raise_if_stopped, stops_deferred
from infomax.methods import METHODS, method_module
from infomax.methods.base import MethodBase
from infomax.progress import progress_enabled
from infomax.run import (
    CHECKPOINT_DIR,
    CONFIG,
    ENCODER,
    LAST_CHECKPOINT,
    LOG_DIR,
    MODEL,
    check_run_dir,
    new_run_dir,
    read_json,
    read_metrics,
    update_metrics,
    write_json,
)

#: Settings that may change when a run is resumed (to extend it, or evaluation-only settings that do not
#: touch the weights); any other change is refused.
RESUMABLE_CHANGES = ("max_epochs", "max_minutes", "data_root", "probe_every", "probe_samples",
                     "final_probe_samples", "final_probe_cs", "final_knn", "final_eval_minutes", "baselines",
                     "threads")

class TrainingDiverged(UserError):
    """The loss (or the weights) became NaN or infinite; the message names the last good checkpoint."""


def check_settings(method_name: str, method_cfg: Any, train_cfg: TrainConfig) -> None:
    """Validate ``train_cfg`` and ``method_cfg`` (its ``validate()``: the allowed names of its choice
    options and its ranges, see :class:`infomax.config.MethodConfig`) and, when the method module defines
    one, call its ``check_train(method_cfg, train_cfg)`` (settings that depend on both, e.g. MoCo's queue
    size must be a multiple of the batch size). Raises :class:`UserError`; writes nothing.

    Example:
        >>> check_settings("moco", moco.Config(queue_size=100), TrainConfig(batch_size=64))  # doctest: +SKIP
        Traceback (most recent call last):
        infomax.errors.UserError: the MoCo queue size (100) must be a multiple of the batch size (64); ...
    """
    train_cfg.validate()
    if callable(getattr(method_cfg, "validate", None)):
        method_cfg.validate()
    if method_name in METHODS:  # engine-internal runs (e.g. the DDIM stage) have no method module
        hook = getattr(method_module(method_name), "check_train", None)
        if hook is not None:
            hook(method_cfg, train_cfg)


def _holdout(method_cfg: Any) -> tuple[int, ...]:
    """The classes a method never trains on (``holdout_classes``; none for most methods)."""
    return tuple(getattr(method_cfg, "holdout_classes", None) or ())


def check_data(splits: Any, train_cfg: TrainConfig, exclude: Any = ()) -> None:
    """UserError unless the training split fills one batch of ``batch_size`` items on every process.

    The engine drops incomplete batches (batch norm cannot train on one item, and gathered contrastive
    batches need equal sizes), so fewer items than ``batch_size x devices`` cannot train at all.

    Example:
        >>> check_data(tiny_splits, TrainConfig(batch_size=64))  # doctest: +SKIP
        Traceback (most recent call last):
        infomax.errors.UserError: dataset 'folder:tiny': the training split has 2 items (...)
    """
    n, n_val, n_test = len(splits.train.labels), len(splits.val.labels), len(splits.test.labels)
    if train_cfg.sampler == "balanced":
        make_sampler(splits.train.labels, train_cfg, exclude)  # UserError without P classes of K items
    need = train_cfg.batch_size * train_cfg.devices
    if n >= need:
        return
    name = getattr(splits.info, "name", train_cfg.data)
    per = f"batch_size={train_cfg.batch_size}"
    if train_cfg.devices > 1:
        per += f" x devices={train_cfg.devices} = {need}"
    item = "item" if n == 1 else "items"
    raise UserError(
        f"dataset {name!r} has {n} training {item} (besides {n_val} validation items, val_fraction="
        f"{train_cfg.val_fraction}, and {n_test} test items); training needs at least {per} (incomplete "
        f"batches are dropped): lower --set batch_size=N (>= 2) or val_fraction, or add images")


def make_sampler(labels: Any, train_cfg: TrainConfig, exclude: Any = ()) -> EpochBatchSampler:
    """The training batch sampler ``train_cfg.sampler`` names, over training labels (N,).

    ``exclude``: classes the balanced sampler never draws (a method's ``holdout_classes``: their items
    would be dropped from the batch, leaving it short of P x K).

    Example:
        >>> len(make_sampler(np.repeat(np.arange(4), 5), TrainConfig(batch_size=4, sampler="balanced",
        ...                                                          batch_classes=2)))
        5
    """
    if train_cfg.sampler == "balanced":
        labels = np.asarray(labels, dtype=np.int64)
        labels = np.where(np.isin(labels, np.asarray(list(exclude), dtype=np.int64)), -1, labels)
        return ClassBalancedBatchSampler(labels, train_cfg.batch_classes,
                                         train_cfg.batch_size // train_cfg.batch_classes, train_cfg.seed,
                                         limit_batches=train_cfg.limit_train_batches)
    return EpochBatchSampler(len(labels), train_cfg.batch_size, train_cfg.seed,
                             limit_batches=train_cfg.limit_train_batches)


def trained_run(run_dir: str | Path, train_cfg: TrainConfig) -> bool:
    """Whether the run in ``run_dir`` is trained under ``train_cfg``'s limits (its last checkpoint reached
    ``max_epochs`` or the ``max_minutes`` budget) and its weights and training record were written for
    that checkpoint. Reads only; False on any doubt."""
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    if not (ckpt_path.is_file() and (run_dir / MODEL).is_file() and (run_dir / ENCODER).is_file()):
        return False
    try:
        last, metrics = load_checkpoint(ckpt_path), read_metrics(run_dir)
    except UserError:
        return False
    return _training_done(last, train_cfg) and (metrics.get("train") or {}).get("steps") == last["step"]


def build_method(name: str, cfg: Any, info: Any, seed: int) -> MethodBase:
    """Seed every RNG with ``seed``, then ``method_module(name).build(cfg, info)``: reproducible init."""
    seed_everything(seed)
    return method_module(name).build(cfg, info)


def names_the_run_when_interrupted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An exception leaving ``fit`` (an :class:`Interrupted`, or an error a stop signal caused) carries its
    ``run_dir`` (the outermost run's, for the baseline's nested run), so the CLI can name the checkpoint
    and the ``--resume`` command."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException as e:
            with contextlib.suppress(Exception):
                e.run_dir = Path(sig.bind(*args, **kwargs).arguments["run_dir"])  # type: ignore[attr-defined]
            raise

    return wrapper


@names_the_run_when_interrupted
def fit(
    method: MethodBase,
    splits: Any,
    train_cfg: TrainConfig,
    run_dir: str | Path,
    method_name: str,
    method_cfg: Any,
    resume: bool = False,
    *,
    progress: bool = True,
    preset: str | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Train ``method`` on ``splits.train`` into ``run_dir`` and export it; returns the run's ``metrics.json``
    content (its ``train`` record, and whatever an earlier evaluation of the run wrote).

    Args:
        method: the built method (seed before building, e.g. with :func:`build_method`).
        splits: ``DataSplits(train, val, test, info)`` of uint8 ``ImageArrays``.
        train_cfg: engine settings (epochs, budget, batch size, lr, seed, devices...).
        run_dir: the run directory (must be new or empty unless ``resume``).
        method_name: the method's name in ``infomax.methods.METHODS`` (written to ``config.json``).
        method_cfg: the method's ``Config`` (written to ``config.json``).
        resume: continue the run in ``run_dir`` from its last checkpoint.
        progress: show a progress bar on stderr.
        preset: the preset name, recorded in ``config.json``.
        label: what the progress bar calls this training (e.g. "supervised baseline"; "" = plain epochs).

    Returns:
        The metrics dict: ``{"train": {"epochs_completed", "steps", "elapsed_s", "stopped_by", ...}, ...}``.

    Raises:
        UserError: bad settings, too little training data, ``run_dir`` exists and is not empty (without
            ``resume``), is not a run (with ``resume``), or differs in method/settings;
            :class:`TrainingDiverged` on a non-finite loss. A new run that fails (any exception)
            before its first checkpointed step leaves no file behind, so the same command can be run again;
            after that step, or on an interrupt, the run is kept for ``resume``.
    """
    # 0. Checks before anything is written.
    check_settings(method_name, method_cfg, train_cfg)
    check_data(splits, train_cfg, _holdout(method_cfg))
    note = bf16_note(train_cfg)
    if note:
        print(f"note: {note}", file=sys.stderr)
    if train_cfg.threads is not None:
        torch.set_num_threads(train_cfg.threads)
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    config = {"method": method_name, "preset": preset, "train": dataclasses.asdict(train_cfg),
              "method_config": dataclasses.asdict(method_cfg), "data_info": dataclasses.asdict(splits.info)}

    # 1. The run directory.
    start = None
    if resume:
        check_run_dir(run_dir)
        _check_same_run(read_json(run_dir / CONFIG), config, run_dir,
                        dataclasses.asdict(type(method_cfg)()))
        done = trained_run(run_dir, train_cfg)  # nothing to train: only a changed setting
        if ckpt_path.exists():  # a checkpoint that is unreadable or does not fit fails here: nothing written
            start = load_checkpoint(ckpt_path)
            load_method_state(method, start, ckpt_path, averaged=done)  # done: the exported weights
        if done:
            if read_json(run_dir / CONFIG) != json.loads(json.dumps(config)):
                write_json(run_dir / CONFIG, config)
            method.cpu().eval()
            return read_metrics(run_dir)
        created, existed = False, True
    else:
        existed = run_dir.exists()
        new_run_dir(run_dir)
        created = True
    try:
        write_json(run_dir / CONFIG, config)
        (run_dir / CHECKPOINT_DIR / DIVERGED).unlink(missing_ok=True)

        # 2. The starting state (a resumed run's checkpoint is loaded above).
        if start is None:
            start = _initial_checkpoint(method)
            save_checkpoint(ckpt_path, start)

        # 3. Training (skipped when the checkpoint already reached the epochs or the budget).
        if not _training_done(start, train_cfg):
            data = _tensor_dataset(splits.train)
            sampler = make_sampler(splits.train.labels, train_cfg, _holdout(method_cfg))
            module = InfomaxModule(method, train_cfg, data, sampler, ckpt_path, start=start,
                                   log_every=max(1, min(50, len(sampler) // 20)),
                                   online_probe=_online_probe(method, splits, train_cfg))
            with _quiet_lightning():
                trainer = _trainer(train_cfg, run_dir, start["epoch"], progress, label)
                # one process: a stop signal lets the step finish and checkpoint mid-epoch (module.py)
                with stops_deferred() if train_cfg.devices == 1 else contextlib.nullcontext():
                    _fit_trainer(trainer, module)
                raise_if_stopped()  # a stop that came after the last step
            if (run_dir / CHECKPOINT_DIR / DIVERGED).exists():
                raise TrainingDiverged(_diverged_message(run_dir, ckpt_path))
    except Exception as e:  # an error before the first step leaves nothing (an interrupt keeps the run)
        if created and not isinstance(e, TrainingDiverged) and _no_step_taken(ckpt_path):
            _remove_new_run(run_dir, keep_dir=existed)
        raise

    # 4. Export the final weights, from the last checkpoint (the same in every process set-up): the moving
    #    average of the weights where the run keeps one (ema > 0), else the last weights.
    final = load_checkpoint(ckpt_path)
    load_method_state(method, final, ckpt_path, averaged=True)
    method.cpu().eval()
    export_weights(method, run_dir, method_name, splits.info)
    stopped_by = final.get("stopped_by") or "max_epochs"
    update_metrics(run_dir, {"train": {
        "epochs_completed": final["epoch"], "steps": final["step"], "elapsed_s": round(final["elapsed_s"], 2),
        "stopped_by": stopped_by, "max_epochs": train_cfg.max_epochs, "max_minutes": train_cfg.max_minutes}})

    return read_metrics(run_dir)


# --- the steps' details --------------------------------------------------------------------------------
def _check_same_run(old: dict[str, Any], new: dict[str, Any], run_dir: Path,
                    method_defaults: dict[str, Any] | None = None) -> None:
    """A resumed run must keep its method, method settings, data and engine settings (except the limits).

    A setting missing from an older run's ``config.json`` (added to the library since) ran with its
    default: ``method_defaults`` (the method's ``Config()`` as a dict) fills those in before comparing.
    """
    if old.get("method") != new["method"]:
        raise UserError(f"{run_dir} is a run of method {old.get('method')!r}, not {new['method']!r}")
    old_method = {**(method_defaults or {}), **(old.get("method_config") or {})}
    if json.loads(json.dumps(old_method)) != json.loads(json.dumps(new["method_config"])):
        raise UserError(f"the method settings differ from those of the run in {run_dir}; "
                        "a resumed run keeps its settings")
    old_train, new_train = old.get("train", {}), json.loads(json.dumps(new["train"]))
    # a run written before a setting existed ran with that setting's default
    defaults = json.loads(json.dumps(dataclasses.asdict(TrainConfig())))
    differs = [k for k in new_train if old_train.get(k, defaults.get(k)) != new_train[k]]
    changed = sorted(k for k in differs if k not in RESUMABLE_CHANGES)
    if changed:
        raise UserError(f"cannot change {', '.join(changed)} of the run in {run_dir} when resuming "
                        f"(only {', '.join(RESUMABLE_CHANGES)} may change)")
    limits = [k for k in ("max_epochs", "max_minutes") if k in differs]
    if new_train.get("lr_schedule", "constant") != "constant" and limits:
        raise UserError(f"cannot change {', '.join(limits)} of the run in {run_dir} when resuming: its "
                        f"{new_train['lr_schedule']} learning-rate schedule spans the run's original length; "
                        "start a new run for a longer one")


def _no_step_taken(ckpt_path: Path) -> bool:
    """Whether the run's checkpoint is missing or still the untrained epoch-0 state."""
    try:
        return not ckpt_path.is_file() or load_checkpoint(ckpt_path)["step"] == 0
    except UserError:
        return True


def _remove_new_run(run_dir: Path, keep_dir: bool) -> None:
    """Remove what this call wrote into a new run directory (the folder itself too unless it existed)."""
    if not keep_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for p in run_dir.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def device_for(cfg: TrainConfig) -> str:
    """Where features are extracted and probes fit: "cuda" when asked for and available, else "cpu"."""
    return "cuda" if cfg.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu"


def _online_probe(method: MethodBase, splits: Any, cfg: TrainConfig) -> OnlineLinearProbe | None:
    """The online linear probe of every encoder layer (``probe_every`` > 0 and labelled data), else None."""
    if cfg.probe_every <= 0:
        return None
    return OnlineLinearProbe.from_splits(splits, cfg.probe_samples, tuple(method.encoder.layers),
                                         device=device_for(cfg))


def _initial_checkpoint(method: MethodBase) -> dict[str, Any]:
    return {"format": FORMAT, "method": {k: v.detach().cpu() for k, v in method.state_dict().items()},
            "optimizers": {}, "rng": rng_state(), "epoch": 0, "batch": 0, "step": 0, "elapsed_s": 0.0,
            "stopped_by": None}


def _training_done(start: dict[str, Any], cfg: TrainConfig) -> bool:
    if start["epoch"] >= cfg.max_epochs:
        return True
    return cfg.max_minutes is not None and start["elapsed_s"] >= 60.0 * cfg.max_minutes


def _tensor_dataset(arrays: Any) -> TensorDataset:
    """``(uint8 (C, H, W), int64)`` items of an ``ImageArrays`` (images stay uint8 until the device)."""
    images = torch.from_numpy(np.array(arrays.images, dtype=np.uint8, copy=True))  # (N, C, H, W)
    labels = torch.from_numpy(np.array(arrays.labels, dtype=np.int64, copy=True))  # (N,)
    if images.ndim != 4 or len(images) != len(labels):
        raise UserError(f"expected images (N, C, H, W) and N labels, got {tuple(images.shape)} and "
                        f"{tuple(labels.shape)}")
    if len(images) == 0:
        raise UserError("the training split is empty")
    return TensorDataset(images, labels)


def _trainer(cfg: TrainConfig, run_dir: Path, start_epoch: int, progress: bool, label: str = "") -> Any:
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    version = len(list((run_dir / LOG_DIR).glob("version_*")))  # one version per (re)start
    loggers: list[Any] = [CSVLogger(save_dir=str(run_dir), name=LOG_DIR, version=version)]
    try:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name=LOG_DIR, version=version,
                                         default_hp_metric=False))
    except (ImportError, ModuleNotFoundError):  # pragma: no cover - tensorboard is a dependency
        pass
    strategy: Any = "auto"
    if cfg.devices > 1:
        from lightning.pytorch.strategies import DDPStrategy

        # spawn: the processes start from this one (the CLI or a test), not by re-running sys.argv.
        # Unused parameters: several groups (one backward per group, each reaching only part of the
        # parameters), and methods whose loss reads an inner layer (MoCo's fc: the encoder's y is unused).
        strategy = DDPStrategy(start_method="spawn", find_unused_parameters=True,
                               process_group_backend="gloo" if cfg.accelerator == "cpu" else None)
    return L.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=strategy, precision=cfg.precision,
        max_epochs=cfg.max_epochs - start_epoch, min_epochs=0, logger=loggers,
        callbacks=[ProgressBar(cfg.max_epochs, enabled=progress and progress_enabled(), label=label)],
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False, log_every_n_steps=1,
        default_root_dir=str(run_dir),
    )


def bf16_note(cfg: TrainConfig, native: bool | None = None) -> str | None:
    """A warning when ``bf16-mixed`` runs on a CPU without native bfloat16 arithmetic (AVX-512 BF16 or
    AMX; ``native`` None = ask oneDNN): there autocast emulates it, and the step is slower than float32's
    instead of 1.6-1.9x faster (BENCHMARKS.md, "CPU execution modes").

    Example:
        >>> bf16_note(TrainConfig(precision="bf16-mixed"), native=False)[:40]
        'precision bf16-mixed on a CPU without na'
    """
    if cfg.precision != "bf16-mixed" or cfg.accelerator != "cpu":
        return None
    if native is None:
        try:  # a private oneDNN query: where a torch build lacks it, say nothing
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return None
    if native:
        return None
    return ("precision bf16-mixed on a CPU without native bfloat16 (AVX-512 BF16 / AMX): expect slower "
            "steps than float32, not faster")


def _fit_trainer(trainer: Any, module: InfomaxModule) -> None:
    """``trainer.fit(module)``, with Lightning's own endings of an interruption turned back into one.

    Lightning (2.x) catches a ``KeyboardInterrupt`` and calls ``sys.exit(1)``; on SIGTERM it either calls
    our handler after its own (which raises :class:`Interrupted`) or, where it replaces handlers, raises a
    quiet ``SIGTERMException`` (a ``SystemExit``) or just stops. Each becomes the interruption again,
    so the CLI reports it and exits 130 / 143, and a stopped run is never exported as finished.
    """
    try:
        trainer.fit(module)
    except SystemExit as e:
        if isinstance(e.__context__, KeyboardInterrupt):  # Lightning: `except KeyboardInterrupt: sys.exit(1)`
            raise e.__context__ from None
        if getattr(trainer, "received_sigterm", False):
            raise Interrupted(signal.SIGTERM) from None
        raise
    if getattr(trainer, "received_sigterm", False):
        raise Interrupted(signal.SIGTERM)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up chatter ("GPU available...") and its data-loader hints."""
    logs = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in logs]
    for lg in logs:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*`max_epochs` was not set.*")
            warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
            yield
    finally:
        for lg, level in zip(logs, levels):
            lg.setLevel(level)


def _diverged_message(run_dir: Path, ckpt_path: Path) -> str:
    """One line: what diverged, the last good checkpoint, and what to change, read from the run's config.

    The advice names only what this run did not already use: other bounds the method accepts (its
    ``method_config.bound`` replaced by each of SMILE, JSD, InfoNCE, most stable first, kept when the
    method's ``Config`` validates) and a learning rate a tenth of the run's ``train.lr``.
    """
    from infomax.bounds import BOUNDS

    info = read_json(run_dir / CHECKPOINT_DIR / DIVERGED)
    last = load_checkpoint(ckpt_path)
    where = f"epoch {last['epoch']}" + (f", batch {last['batch']}" if last["batch"] else "")
    head = f"training diverged: {info['message']}; the last good checkpoint is {ckpt_path} ({where}); "
    try:
        config = read_json(run_dir / CONFIG)
        method_cfg = config.get("method_config") or {}
        lr = float(config["train"]["lr"])
        method_name = str(config["method"])
    except (UserError, KeyError, TypeError, ValueError, AttributeError):
        return head + ("in a new run, try a lower learning rate (--set lr=..., a tenth of this run's) or a "
                       "more stable bound (JSD, or SMILE with clipping) where the method offers one")
    lower = f"a lower learning rate, --set lr={lr / 10:g}"
    bound = method_cfg.get("bound")
    if not isinstance(bound, str):
        return head + (f"this run trained with lr={lr:g}: in a new run, try {lower}; if that still diverges, "
                       "a method offering a bounded objective (JSD, or SMILE with clipping) is more stable")
    others: list[str] = []
    try:
        cls = method_module(method_name).Config
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in method_cfg.items() if k in names}
    except (UserError, AttributeError, TypeError):
        cls = None
    for b in ("smile", "jsd", "infonce"):  # SMILE clips the scores, JSD is bounded; InfoNCE is capped
        if cls is None or b == bound or b not in BOUNDS:
            continue
        try:
            cfg = cls(**{**kw, "bound": b})
            if hasattr(cfg, "validate"):
                cfg.validate()
        except (UserError, TypeError, ValueError):
            continue
        clips = " (SMILE clips the critic's scores, tau=5)" if b == "smile" else ""
        others.append(f"--set bound={b}{clips}")
    switch = f"another bound, {' or '.join(others)}, or " if others else ""
    return head + f"this run trained the {bound} bound with lr={lr:g}: in a new run, try {switch}{lower}"
