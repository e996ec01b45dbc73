"""An experiment, top to bottom: a preset and its settings, the data, the method, training, the final
evaluation against baselines, and the report. ``infomax train``, ``infomax demo`` and the benchmarks all
come through here.

1. :func:`resolve_settings`: the preset (``infomax.presets.resolve``) and ``--set`` overrides ->
   ``(TrainConfig, method Config)``, checked before anything is read or written.
2. :func:`load_splits`: the dataset the settings name (val carved with a fixed seed, ``max_items``).
3. ``engine.fit.build_method``: the method, seeded.
4. ``engine.fit.fit``: training, checkpoints, export (a resumed run continues bit-identically).
5. :func:`evaluate_run`: the final evaluation, bounded in time (``final_eval_minutes``): the untrained
   encoder and the supervised twin (a fresh copy of the method's own encoder, trained on the labels) as
   baselines, a linear (and optional kNN) probe per layer; then ``report.md`` and the ``complete`` marker.

:func:`start` and :func:`resume` run 1-5 for a new run or a run directory; :func:`run_experiment` runs 4-5
for a method built by the caller (the library's one call for "train and evaluate").

Example:
    >>> run_dir, metrics = start("dim", {"data": "digits", "max_epochs": 5})  # doctest: +SKIP
    >>> metrics["final"]["accuracy"]["y"]  # doctest: +SKIP
    {'trained': 0.96, 'random': 0.94, 'supervised': 0.99}
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from infomax.config import TrainConfig, apply_overrides, final_eval_budget
from infomax.engine.fit import (
    TrainingDiverged,
    build_method,
    check_data,
    check_settings,
    device_for,
    fit,
    names_the_run_when_interrupted,
    trained_run,
)
from infomax.errors import UserError
from infomax.run import CHECKPOINT_DIR, CONFIG, LAST_CHECKPOINT, REPORT, is_run_dir, read_json, read_metrics

#: Settings of the final evaluation: a resumed complete run whose settings differ in one of these is
#: evaluated again (its training and weights are kept).
EVALUATION_SETTINGS = ("final_probe_samples", "final_probe_cs", "final_knn", "final_eval_minutes")

#: ``metrics.json`` key written last by a finished run: ``{"epoch": E, "step": S}`` of the evaluated weights.
COMPLETE = "complete"

#: Where the supervised baseline trains, inside the run directory.
SUPERVISED_DIR = "baselines/supervised"


# --- 1. settings -----------------------------------------------------------------------------------------
def resolve_settings(name: str, overrides: dict[str, Any], baselines: bool = True) -> tuple[Any, Any, Any]:
    """``(preset, train_cfg, method_cfg)`` of a preset or method name with ``overrides`` (``--set``) on top
    of the preset's own; checked (``engine.fit.check_settings``), nothing read or written.
    ``baselines=False`` (``--no-baselines``) is stored in ``train_cfg`` like any other setting."""
    from infomax.methods import method_module
    from infomax.presets import resolve

    preset = resolve(name)
    train_cfg = TrainConfig(method=preset.method)
    method_cfg = method_module(preset.method).Config()
    apply_overrides(train_cfg, method_cfg, {**preset.overrides, **overrides})
    if train_cfg.method != preset.method:
        raise UserError(f"--set method= cannot change the method of {name!r}; train that method instead")
    train_cfg.baselines = train_cfg.baselines and baselines
    check_settings(preset.method, method_cfg, train_cfg)
    return preset, train_cfg, method_cfg


def resume_settings(
    run_dir: str | Path, limits: dict[str, Any], baselines: bool = True
) -> tuple[Path, dict[str, Any], Any, Any]:
    """The stored settings of the run in ``run_dir`` with ``limits`` applied (max_epochs, max_minutes,
    data_root, threads, the evaluation settings; ``baselines=False`` turns the baselines off):
    ``(run_dir, config, train_cfg, method_cfg)``. Checks them; reads only."""
    from infomax.run import check_run_dir, data_info_from, method_config_from, read_config, train_config_from

    run_dir = check_run_dir(run_dir)
    config = read_config(run_dir)
    data_info_from(config)  # a malformed config.json is refused whole, before anything is written
    train_cfg, method_cfg = train_config_from(config), method_config_from(config)
    apply_overrides(train_cfg, method_cfg, limits)
    train_cfg.baselines = train_cfg.baselines and baselines
    check_settings(config["method"], method_cfg, train_cfg)
    return run_dir, config, train_cfg, method_cfg


# --- 2. data ---------------------------------------------------------------------------------------------
def load_splits(train_cfg: Any) -> Any:
    """The dataset splits named by a ``TrainConfig`` (val carved with the data module's fixed seed; each
    split cut to ``max_items``, a stratified fixed-seed sample, when that is set)."""
    from infomax.data.datasets import load_dataset

    return load_dataset(train_cfg.data, train_cfg.data_root, train_cfg.val_fraction,
                        max_items=getattr(train_cfg, "max_items", None))


# --- 1-5 for the command line ----------------------------------------------------------------------------
def start(
    name: str,
    overrides: dict[str, Any],
    out: str | Path | None = None,
    baselines: bool = True,
    out_prefix: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """A new run of a preset (or method) with ``overrides``: settings, data, method, training, evaluation,
    report; returns ``(run_dir, metrics)``. Every check that needs no data runs before the data is loaded,
    and nothing is written before the data is checked too."""
    from infomax.run import check_new_run_dir, default_run_dir

    preset, train_cfg, method_cfg = resolve_settings(name, overrides, baselines)
    _set_threads(train_cfg.threads)
    run_dir = check_new_run_dir(out) if out else default_run_dir(out_prefix or name)
    splits = load_splits(train_cfg)
    check_data(splits, train_cfg)
    method = build_method(preset.method, method_cfg, splits.info, train_cfg.seed)
    try:
        metrics = run_experiment(method, splits, train_cfg, run_dir, preset.method, method_cfg,
                                 preset=name if name != preset.method else None)
    except UserError as e:
        add_resume_hint(e, run_dir)
        raise
    return run_dir, metrics


def resume(
    run_dir: str | Path, limits: dict[str, Any], baselines: bool = True
) -> tuple[Path, dict[str, Any]]:
    """Continue the run in ``run_dir`` with its stored settings (``limits`` may change those of
    ``engine.fit.RESUMABLE_CHANGES``); returns ``(run_dir, metrics)``. A complete run is left unchanged; one
    whose evaluation settings changed is evaluated again."""

    run_dir, config, train_cfg, method_cfg = resume_settings(run_dir, limits, baselines)
    _set_threads(train_cfg.threads)
    splits = load_splits(train_cfg)
    check_data(splits, train_cfg)
    method = build_method(config["method"], method_cfg, splits.info, train_cfg.seed)
    metrics = run_experiment(method, splits, train_cfg, run_dir, config["method"], method_cfg, resume=True,
                             preset=config.get("preset"))
    return run_dir, metrics


def add_resume_hint(error: UserError, run_dir: Path) -> None:
    """Append how to finish the run to ``error`` when a new run failed after its first training step.

    A run that fails before that step leaves nothing behind (``engine.fit``), so the same command can be
    run again; after it, the checkpoint is kept and ``--resume`` finishes the run (a diverged run has its own
    advice: start a new one)."""

    text = str(error)
    if isinstance(error, TrainingDiverged) or "--resume" in text:
        return
    if (Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file():
        error.args = (f"{text} (the training so far is kept in {run_dir}: fix the cause, then finish the run "
                      f"with `infomax train --resume {run_dir}`)",)


def _set_threads(n: int | None) -> None:
    if n is not None:
        torch.set_num_threads(n)


# --- 4-5 -------------------------------------------------------------------------------------------------
def completed_run(run_dir: str | Path, train_cfg: TrainConfig) -> bool:
    """Whether the run in ``run_dir`` is finished under ``train_cfg``: trained to its limits and exported
    (``engine.fit.trained_run``), and its final evaluation and report written for exactly those weights
    with ``train_cfg``'s evaluation settings (:data:`EVALUATION_SETTINGS`). Reads only; False on any doubt.
    """

    run_dir = Path(run_dir)
    if not trained_run(run_dir, train_cfg) or _evaluation_changed(run_dir, train_cfg):
        return False
    metrics = read_metrics(run_dir)  # its "train" record is that of the last checkpoint (trained_run)
    done, train = metrics.get(COMPLETE), metrics["train"]
    if done is None:  # a run written before the marker existed: its evaluation and report are there
        return "final" in metrics and (run_dir / REPORT).is_file()
    return (done.get("epoch"), done.get("step")) == (train.get("epochs_completed"), train.get("steps"))


def _evaluation_changed(run_dir: Path, train_cfg: TrainConfig) -> bool:
    """Whether ``train_cfg``'s evaluation settings differ from those stored in the run's ``config.json``."""
    try:
        stored = read_json(run_dir / CONFIG).get("train") or {}
    except UserError:
        return True
    defaults = json.loads(json.dumps(dataclasses.asdict(TrainConfig())))
    new = json.loads(json.dumps(dataclasses.asdict(train_cfg)))
    return any(stored.get(k, defaults[k]) != new[k] for k in EVALUATION_SETTINGS)


@names_the_run_when_interrupted
def run_experiment(
    method: Any,
    splits: Any,
    train_cfg: TrainConfig,
    run_dir: str | Path,
    method_name: str,
    method_cfg: Any,
    resume: bool = False,
    *,
    baselines: bool = True,
    progress: bool = True,
    preset: str | None = None,
) -> dict[str, Any]:
    """Train ``method`` into ``run_dir`` (``engine.fit.fit``), then evaluate it (:func:`evaluate_run`);
    returns the run's ``metrics.json`` content. A resumed run that is already complete is left as it is
    (its weights loaded into ``method``, no file written). ``baselines=False`` (the CLI's
    ``--no-baselines``) is recorded in ``config.json``, so a resume keeps it."""

    train_cfg = dataclasses.replace(train_cfg, baselines=baselines and train_cfg.baselines)
    done = resume and completed_run(run_dir, train_cfg)
    metrics = fit(method, splits, train_cfg, run_dir, method_name, method_cfg, resume=resume,
                  progress=progress, preset=preset)
    if done:
        return metrics
    return evaluate_run(method, splits, train_cfg, Path(run_dir), method_name, method_cfg, progress)


#: The final evaluation's note when ``final_knn`` is set on data whose test classes are all unseen.
FEWSHOT_NO_KNN = ("final_knn was not run: no test class is a training class, so the final evaluation is "
                  "few-shot episodes (use `infomax eval RUN --protocol fewshot` or `--protocol retrieval`)")


def evaluate_run(method: Any, splits: Any, train_cfg: TrainConfig, run_dir: Path, method_name: str,
                 method_cfg: Any, progress: bool = True) -> dict[str, Any]:
    """The final evaluation of a trained, exported run: baselines, probes per layer, ``report.md``, then the
    ``complete`` marker. Bounded by ``final_eval_minutes`` (default half of ``max_minutes``): the
    supervised twin trains for at most half of it, then the probes run layer by layer, the output layer
    first, until it is spent (the first layer always). Its time, cap and notes go to ``final_evaluation``.
    Data whose test classes are all unseen in training (Omniglot) gets few-shot episodes instead of probes
    (``engine.evaluate.final_fewshot``).
    """
    from infomax.engine.evaluate import disjoint_classes, final_fewshot, final_linear_probe
    from infomax.progress import note
    from infomax.run import update_metrics

    t0 = time.monotonic()
    budget = final_eval_budget(train_cfg)
    deadline = None if budget is None else t0 + budget
    if budget is not None and progress:
        first = "the supervised baseline trains for at most half of it, then " if train_cfg.baselines else ""
        note(f"final evaluation: within {budget / 60:.3g} min (--set final_eval_minutes=M to change): "
             f"{first}the probes, layer by layer", enabled=True)
    encoders: dict[str, Any] = {"trained": method.encoder}
    notes: list[str] = []
    if train_cfg.baselines:
        sup_minutes = None if budget is None else budget / 120.0
        found, notes = _baselines(method_name, method_cfg, method, splits, train_cfg, run_dir, progress,
                                  sup_minutes)
        encoders.update(found)
    t1 = time.monotonic()
    layers = tuple(method.encoder.layers)
    if disjoint_classes(splits):  # test classes unseen in training (Omniglot): few-shot, not a probe
        final = final_fewshot(encoders, splits, layers, device=device_for(train_cfg), deadline=deadline,
                              progress=progress, first=method.encoder.output_layer)
        update_metrics(run_dir, {"final": final})
        if train_cfg.final_knn:  # asked for, but a kNN fit on the training classes cannot score unseen ones
            notes = [*notes, FEWSHOT_NO_KNN]
            note(f"infomax: {FEWSHOT_NO_KNN}", enabled=True)
        return _finish(run_dir, t0, t1, budget, notes, train_cfg.baselines)
    max_train, max_eval = train_cfg.final_probe_samples, None
    if deadline is not None:  # probe as many images as the time left affords (the first layer)
        cut_train, max_eval = _affordable(method.encoder, splits, len(encoders), deadline - time.monotonic(),
                                          max_train, device_for(train_cfg))
        if cut_train is not None:
            max_train = cut_train if max_train is None else min(max_train, cut_train)
    probe_kw = {"max_train": max_train, "max_eval": max_eval, "device": device_for(train_cfg),
                "deadline": deadline, "progress": progress, "first": method.encoder.output_layer}
    final = final_linear_probe(encoders, splits, layers, cs=train_cfg.final_probe_cs, **probe_kw)
    update_metrics(run_dir, {"final": final})
    if train_cfg.final_knn:
        knn = final_linear_probe(encoders, splits, layers, protocol_name="knn", **probe_kw)
        update_metrics(run_dir, {"final_knn": knn})
    return _finish(run_dir, t0, t1, budget, notes, train_cfg.baselines)


def _finish(run_dir: Path, t0: float, t1: float, budget: float | None, notes: list[str],
            baselines: bool) -> dict[str, Any]:
    """Record the final evaluation's timing, write ``report.md``, then the ``complete`` marker."""
    from infomax.report import write_report
    from infomax.run import update_metrics

    t2 = time.monotonic()
    timing: dict[str, Any] = {"seconds": round(t2 - t0, 2), "probes_seconds": round(t2 - t1, 2)}
    if baselines:
        timing["baselines_seconds"] = round(t1 - t0, 2)
    if budget is not None:
        timing["budget_seconds"] = float(budget)
    if notes:
        timing["notes"] = notes
    update_metrics(run_dir, {"final_evaluation": timing})
    write_report(run_dir)
    train = read_metrics(run_dir)["train"]  # written by engine.fit for the last checkpoint
    update_metrics(run_dir, {COMPLETE: {"epoch": train["epochs_completed"], "step": train["steps"]}})
    return read_metrics(run_dir)


def _affordable(encoder: Any, splits: Any, n_encoders: int, seconds: float, max_train: int | None,
                device: str) -> tuple[int | None, int | None]:
    """``(max_train, max_eval)`` for the final probe of one layer to fit in ``seconds``, from the measured
    time to encode a batch of train images (``engine.evaluate.affordable_samples``)."""
    import numpy as np

    from infomax.engine.evaluate import affordable_samples
    from infomax.evaluation.features import extract_features

    images = np.asarray(splits.train.images)[:256]
    t = time.perf_counter()
    extract_features(encoder, images, encoder.output_layer, device=device)
    per_image = (time.perf_counter() - t) / max(len(images), 1)
    n_train = len(splits.train.labels) if max_train is None else min(max_train, len(splits.train.labels))
    counts = (n_train, len(splits.val.labels), len(splits.test.labels))
    return affordable_samples(0.8 * max(seconds, 0.0), per_image, n_encoders, splits.info.num_classes, counts)


def _baselines(method_name: str, method_cfg: Any, method: Any, splits: Any, train_cfg: TrainConfig,
               run_dir: Path, progress: bool, sup_minutes: float | None) -> tuple[dict[str, Any], list[str]]:
    """The baselines' encoders and notes on any that could not be made.

    ``random``: the untrained encoder (the run's own initial weights). ``supervised``: the supervised twin,
    a fresh copy of the method's own encoder (same architecture, same layer names) plus a linear head on its
    output layer, trained with cross-entropy in ``run_dir/baselines/supervised`` for the run's epochs at a
    constant learning rate, and for at most ``sup_minutes`` minutes (None = no wall-clock cap). Where there
    is no twin (unlabelled data, or an encoder that cannot be built for classification) the note says why
    instead of failing the run.
    """
    from infomax.methods import method_module

    untrained = build_method(method_name, method_cfg, splits.info, train_cfg.seed)
    out: dict[str, Any] = {"random": untrained.encoder}
    if method_name == "supervised":
        out["supervised"] = method.encoder
        return out, []
    if splits.info.num_classes < 2:
        return out, [f"no supervised baseline: dataset {splits.info.name!r} has fewer than two classes"]
    sup = method_module("supervised")
    sup_cfg = sup.Config(encoder_of=method_name, encoder_config=json.loads(json.dumps(
        dataclasses.asdict(method_cfg))))
    try:
        sup_method = build_method("supervised", sup_cfg, splits.info, train_cfg.seed)
    except UserError as e:
        return out, [f"no supervised baseline: {method_name}'s encoder has no supervised twin here ({e})"]
    sup_train = dataclasses.replace(train_cfg, max_minutes=sup_minutes, final_eval_minutes=None,
                                    lr_schedule="constant", baselines=False)
    sup_dir = run_dir / SUPERVISED_DIR
    fit(sup_method, splits, sup_train, sup_dir, "supervised", sup_cfg, resume=is_run_dir(sup_dir),
        progress=progress, label="supervised baseline")
    out["supervised"] = sup_method.encoder
    return out, []
