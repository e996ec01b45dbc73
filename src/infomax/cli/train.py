"""``infomax train METHOD_OR_PRESET``: train into a run directory, or continue one with ``--resume``.

Examples::

    infomax train dim --data digits --max-epochs 5
    infomax train dim --set objective=jsd --set lr=1e-4 --out runs/dim-jsd
    infomax train --resume runs/dim-jsd --max-epochs 20

``--resume`` continues with the settings stored in the run's ``config.json``, the command-line options
included (``--no-baselines``, ``--threads``); only ``--max-epochs``, ``--max-minutes``, ``--data-root``,
``--threads``, ``--no-baselines`` and ``--set`` of the evaluation settings (``final_eval_minutes``,
``final_probe_samples``, ``final_probe_cs``, ``final_knn``, ``probe_every``, ``probe_samples``) may be given
again. Resuming a run that is already complete (trained to
its limits, exported and evaluated) changes no file: it prints one line saying so and exits with 0, so a
script may resume until done; with ``--json`` that line goes to stderr and the stored metrics to stdout.

Ctrl-C (SIGINT) or SIGTERM stops training at once: the last checkpoint (written atomically at every
epoch end) is kept, stderr names it and the exact ``infomax train --resume RUN_DIR`` command, and the
exit code is 130 (SIGINT) or 143 (SIGTERM). The resumed run ends with the weights of an uninterrupted one.

``--max-minutes M`` is a budget for training; the final evaluation then gets at most half of it again
(``final_eval_minutes``): the supervised baseline trains for at most half of that (``--no-baselines`` skips
it), then the probes run layer by layer until the cap (the output layer first). The summary and
``report.md`` say how long it took and which layers, if any, were not probed. The summary ends with a
verdict per layer: the trained encoder against the untrained one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from infomax.errors import Interrupted, UserError

#: Settings with their own command-line flag (``--max-epochs`` ...), besides ``--set``.
LIMIT_FLAGS = ("max_epochs", "max_minutes", "data_root", "threads", "baselines")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a method or preset into a run directory",
                       description="Train a method or preset; checkpoints, logs, weights, probe accuracies "
                                   "and a report go to the run directory.")
    p.add_argument("name", nargs="?", metavar="METHOD_OR_PRESET",
                   help="a method (`dim`) or preset (see `infomax presets`); optional with --resume")
    add_common_arguments(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training or method setting (repeatable), e.g. --set lr=1e-4")
    p.add_argument("--data", help="dataset: digits (default), mnist, fashion-mnist, cifar10, omniglot, "
                                  "folder:PATH")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/<preset>-<timestamp>); "
                                                    "must not exist or be empty")
    p.add_argument("--max-epochs", type=int, metavar="N", help="number of epochs")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last checkpoint with its stored settings (a "
                        "complete run is left unchanged: one line, exit 0)")
    p.add_argument("--json", action="store_true", help="print the run's metrics as one JSON object")
    p.set_defaults(func=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with ``infomax demo``."""
    p.add_argument("--data-root", metavar="DIR", help="where datasets are (default $INFOMAX_DATA, else the "
                                                      "user cache dir)")
    p.add_argument("--max-minutes", type=float, metavar="M",
                   help="wall-clock budget in minutes for training; the final evaluation (supervised "
                        "baseline, then probes) gets at most half of it again (--set final_eval_minutes=N), "
                        "so the command takes about 1.5 M minutes")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the random-encoder and supervised baselines of the final evaluation "
                        "(remembered by --resume)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch's operators (default: torch's choice, one per core; "
                        "remembered by --resume)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars or notes on stderr (default: shown when stderr is a terminal; "
                        "INFOMAX_PROGRESS=0/1 also decides)")


def check_numbers(args: argparse.Namespace) -> None:
    """The numeric options of ``train`` and ``demo`` in the user's terms (argparse lets nan, inf and
    negative numbers through): UserError naming the option.

    Example:
        >>> check_numbers(argparse.Namespace(max_minutes=float("nan")))
        Traceback (most recent call last):
        ...
        infomax.errors.UserError: --max-minutes must be a finite number > 0, got nan
    """
    minutes = getattr(args, "max_minutes", None)
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise UserError(f"--max-minutes must be a finite number > 0, got {minutes:g}")
    epochs = getattr(args, "max_epochs", None)
    if epochs is not None and epochs < 1:
        raise UserError(f"--max-epochs must be >= 1, got {epochs}")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")


def set_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` for ``--threads N`` (None: leave torch's default); UserError if n < 1."""
    if n is None:
        return
    if n < 1:
        raise UserError(f"--threads must be >= 1, got {n}")
    import torch

    torch.set_num_threads(n)


def complete_line(run_dir: Path, metrics: dict[str, Any]) -> str:
    """The one line printed when ``--resume`` finds the run already complete."""
    t = metrics.get("train", {})
    epochs = t.get("epochs_completed")
    longer = (f"--max-minutes M (M > {t.get('max_minutes'):g})" if t.get("stopped_by") == "max_minutes"
              and t.get("max_minutes") else f"--max-epochs N (N > {epochs})")
    return (f"run {run_dir} is already complete ({epochs} epochs, {t.get('steps')} steps, stopped by "
            f"{t.get('stopped_by')}); nothing was changed. To train longer: infomax train --resume {run_dir} "
            f"{longer}; to evaluate again: infomax eval {run_dir}")


def evaluation_parts(ev: dict[str, Any]) -> str:
    """``"supervised baseline 60.0 s, probes 15.0 s"`` from a ``final_evaluation`` record."""
    parts = [f"supervised baseline {ev['baselines_seconds']:.1f} s"] if "baselines_seconds" in ev else []
    return ", ".join([*parts, f"probes {ev.get('probes_seconds', ev['seconds']):.1f} s"])


def final_evaluation_line(metrics: dict[str, Any]) -> str | None:
    """How long the final evaluation took, and that a wall-clock budget did not cover it (None if unknown).

    Example:
        >>> final_evaluation_line({"train": {"stopped_by": "max_epochs"}, "final_evaluation": {
        ...     "seconds": 75.0, "baselines_seconds": 60.0, "probes_seconds": 15.0}})
        'final evaluation took 75.0 s (supervised baseline 60.0 s, probes 15.0 s)'
    """
    ev = metrics.get("final_evaluation")
    if not ev:
        return None
    took, parts = f"{ev['seconds']:.1f} s", evaluation_parts(ev)
    cap = f", cap {ev['budget_seconds'] / 60:.3g} min" if ev.get("budget_seconds") else ""
    if (metrics.get("train") or {}).get("stopped_by") == "max_minutes":
        return (f"training stopped at the --max-minutes budget; the final evaluation took {took} after it "
                f"({parts}{cap})")
    return f"final evaluation took {took} ({parts}{cap})"


def verdict(metrics: dict[str, Any], noise: float | None = None, name: str = "trained") -> list[str]:
    """Lines comparing the trained encoder with the untrained one, per layer and probe (in points).

    A difference is called real ("better"/"worse") only beyond ``noise`` points; None = twice the test-set
    standard error of the difference, sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n) on the ``n_test`` images,
    which covers test-set noise only (one training seed; a new seed moves the figures more). Claims across
    training seeds ("beats" / "level" / "behind") are :func:`infomax.evaluation.claims.compare`'s; this
    single-run check keeps its own wording so that it is not read as one.

    Example:
        >>> m = {"final": {"accuracy": {"y": {"trained": 0.96, "random": 0.92}}, "n_test": 297}}
        >>> verdict(m, noise=3.0, name="DIM")[1]
        '  y       linear +4.00 (DIM better)'
    """
    final = metrics.get("final") or {}
    fewshot = final.get("protocol") == "fewshot"  # 95% half-widths over episodes, per cell
    probes = [(probe, (metrics.get(key) or {}).get("accuracy") or {})
              for probe, key in (("few-shot" if fewshot else "linear", "final"), ("kNN", "final_knn"))]
    layers = list(dict.fromkeys(layer for _, acc in probes for layer in acc))
    width = max([8, *(len(layer) + 1 for layer in layers)])  # "logprobs" needs a space after it
    n_test = final.get("n_test")
    size = (f"{final.get('episodes')} episodes; " if fewshot else f"{n_test} test images; " if n_test else "")
    rule = (f"differences under {noise:g} points are within noise" if noise is not None
            else "differences under two standard errors over episodes are within noise" if fewshot
            else "differences under two standard errors of the test set are within noise")
    lines = [f"{name} vs the untrained encoder ({size}{rule}):"]
    for layer in layers:
        parts = []
        for probe, acc in probes:
            row = acc.get(layer, {})
            if "trained" in row and "random" in row:
                p1, p2 = row["trained"], row["random"]
                diff = 100 * (p1 - p2)
                limit = noise
                ci = (final.get("ci95") or {}).get(layer, {}) if fewshot and probe == "few-shot" else {}
                if limit is None and "trained" in ci and "random" in ci:
                    limit = 200 * math.hypot(ci["trained"], ci["random"]) / 1.96
                if limit is None:
                    n = max(int(n_test or 1), 1)
                    limit = 200 * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
                word = (f"{name} better" if diff >= limit and diff > 0 else f"{name} worse"
                        if diff <= -limit and diff < 0 else "within noise")
                parts.append(f"{probe} {diff:+.2f} ({word})")
        if parts:
            lines.append(f"  {layer:<{width}}" + ", ".join(parts))
    return lines if len(lines) > 1 else []


def print_summary(run_dir: Path, metrics: dict[str, Any], verdict_lines: list[str] | None = None) -> None:
    """Human-readable end-of-run summary on stdout: training, the final probes, the verdict per layer
    (default :func:`verdict` against the untrained encoder) and any notes of the final evaluation."""
    t = metrics.get("train", {})
    print(f"run: {run_dir}")
    if t:
        print(f"trained {t['epochs_completed']} epochs ({t['steps']} steps, {t['elapsed_s']:.1f} s), "
              f"stopped by {t['stopped_by']}")
    line = final_evaluation_line(metrics)
    if line:
        print(line)
    from infomax.report import final_probe_note, final_title

    for key, title in (("final", "linear probe"), ("final_knn", "kNN probe (k=20, cosine)")):
        final = metrics.get(key)
        if not (final and final.get("accuracy")):
            continue
        if final.get("protocol") == "fewshot":
            title = final_title(key, final)[0].lower()
        acc = final["accuracy"]
        names = list(dict.fromkeys(n for layer in acc for n in acc[layer]))
        print(f"{title}, test accuracy (%):")
        note = final_probe_note(final)
        if note:
            print(f"  ({note})")
        print(f"  {'layer':<8}" + "".join(f"{n:>12}" for n in names))
        for layer, row in acc.items():
            cells = (f"{100 * row[n]:>12.2f}" if n in row else f"{'-':>12}" for n in names)
            print(f"  {layer:<8}" + "".join(cells))
        if final.get("skipped_layers"):
            skipped = ", ".join(final["skipped_layers"])
            print(f"  (not probed, the final evaluation's time ran out: {skipped}; "
                  f"`infomax eval {run_dir} --protocol {final.get('protocol', 'linear')} --layer all` "
                  "evaluates every layer)")
    if verdict_lines is None:
        from infomax.run import read_config

        try:
            config = read_config(run_dir)
            name = config.get("preset") or config.get("method") or "trained"
        except UserError:
            name = "trained"
        verdict_lines = verdict(metrics, name=name)
    for line in verdict_lines:
        print(line)
    for note in (metrics.get("final_evaluation") or {}).get("notes", []):
        print(f"note: {note}")
    print(f"report: {run_dir / 'report.md'}")


def run(args: argparse.Namespace) -> int:
    from infomax.progress import progress_scope

    with progress_scope(False if args.no_progress else None):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from infomax import experiment
    from infomax.config import parse_set

    check_numbers(args)
    overrides = parse_set(args.overrides)
    limits = {k: v for k, v in (("max_epochs", args.max_epochs), ("max_minutes", args.max_minutes),
                                ("data_root", args.data_root), ("threads", args.threads)) if v is not None}
    if args.resume:
        from infomax.engine.fit import RESUMABLE_CHANGES

        fixed = sorted(k for k in overrides if k not in RESUMABLE_CHANGES)
        if fixed or args.data or args.out:
            given = ", ".join([*(f"--set {k}" for k in fixed), *(["--data"] if args.data else []),
                               *(["--out"] if args.out else [])])
            raise UserError(f"--resume continues a run with its saved settings: {given} cannot be given "
                            "(--max-epochs, --max-minutes, --data-root, --threads, --no-baselines and --set "
                            f"for {', '.join(k for k in RESUMABLE_CHANGES if k not in LIMIT_FLAGS)} can)")
        limits.update(overrides)
        from infomax.run import read_metrics

        run_dir, cfg, train_cfg, _ = experiment.resume_settings(args.resume, limits,
                                                                baselines=not args.no_baselines)
        if args.name and args.name not in (cfg["method"], cfg.get("preset")):
            raise UserError(f"{args.resume} is a run of {cfg.get('preset') or cfg['method']!r}, "
                            f"not {args.name!r}")
        if experiment.completed_run(run_dir, train_cfg):
            metrics = read_metrics(run_dir)
            print(complete_line(run_dir, metrics), file=sys.stderr if args.json else sys.stdout)
            if args.json:
                json.dump({"run_dir": str(run_dir), **metrics}, sys.stdout)
                print()
            return 0
        try:
            run_dir, metrics = experiment.resume(args.resume, limits, baselines=not args.no_baselines)
        except Interrupted as e:  # e.g. while the data loads: the run is as it was, still resumable
            e.run_dir = e.run_dir or run_dir
            raise
    else:
        if not args.name:
            raise UserError("name a method or preset to train (see `infomax presets`), "
                            "or give --resume RUN_DIR")
        if args.data:
            overrides["data"] = args.data
        run_dir, metrics = experiment.start(args.name, {**overrides, **limits}, out=args.out,
                                            baselines=not args.no_baselines)
    if args.json:
        json.dump({"run_dir": str(run_dir), **metrics}, sys.stdout)
        print()
    else:
        print_summary(run_dir, metrics)
    return 0
