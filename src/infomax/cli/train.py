"""``infomax train METHOD_OR_PRESET``: train into a run directory, or continue one with ``--resume``.

Examples::

    infomax train dim --data digits --max-epochs 5
    infomax train dim --set objective=jsd --set lr=1e-4 --out runs/dim-jsd
    infomax train --resume runs/dim-jsd --max-epochs 20
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infomax.errors import UserError


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
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print the run's metrics as one JSON object")
    p.set_defaults(func=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with ``infomax demo``."""
    p.add_argument("--data-root", metavar="DIR", help="where datasets are (default $INFOMAX_DATA, else the "
                                                      "user cache dir)")
    p.add_argument("--max-minutes", type=float, metavar="M", help="wall-clock training budget in minutes")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the random-encoder and supervised baselines of the final evaluation")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch's operators (default: torch's choice, one per core)")


def set_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` for ``--threads N`` (None: leave torch's default); UserError if n < 1."""
    if n is None:
        return
    if n < 1:
        raise UserError(f"--threads must be >= 1, got {n}")
    import torch

    torch.set_num_threads(n)


def load_splits(train_cfg: Any) -> Any:
    """The dataset splits named by a ``TrainConfig`` (val carved with the data module's fixed seed)."""
    from infomax.data.datasets import load_dataset

    return load_dataset(train_cfg.data, train_cfg.data_root, train_cfg.val_fraction)


def train_new(
    name: str,
    overrides: dict[str, Any],
    out: str | Path | None = None,
    baselines: bool = True,
    out_prefix: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Resolve a preset + overrides, load the data, build the method and train; returns (run_dir, metrics)."""
    from infomax.config import TrainConfig, apply_overrides
    from infomax.engine.fit import build_method, fit
    from infomax.methods import method_module
    from infomax.presets import resolve
    from infomax.run import check_new_run_dir, default_run_dir

    preset = resolve(name)
    train_cfg = TrainConfig(method=preset.method)
    method_cfg = method_module(preset.method).Config()
    apply_overrides(train_cfg, method_cfg, {**preset.overrides, **overrides})
    if train_cfg.method != preset.method:
        raise UserError(f"--set method= cannot change the method of {name!r}; train that method instead")
    train_cfg.validate()
    run_dir = check_new_run_dir(out) if out else default_run_dir(out_prefix or name)
    splits = load_splits(train_cfg)
    method = build_method(preset.method, method_cfg, splits.info, train_cfg.seed)
    metrics = fit(method, splits, train_cfg, run_dir, preset.method, method_cfg, baselines=baselines,
                  preset=name if name != preset.method else None)
    return run_dir, metrics


def train_resume(
    run_dir: str | Path, limits: dict[str, Any], baselines: bool = True
) -> tuple[Path, dict[str, Any]]:
    """Continue the run in ``run_dir`` with its saved settings (``limits`` may change max_epochs,
    max_minutes, data_root); returns (run_dir, metrics)."""
    from infomax.config import apply_overrides
    from infomax.engine.fit import build_method, fit
    from infomax.run import check_run_dir, method_config_from, read_config, train_config_from

    run_dir = check_run_dir(run_dir)
    config = read_config(run_dir)
    train_cfg, method_cfg = train_config_from(config), method_config_from(config)
    apply_overrides(train_cfg, method_cfg, limits)
    train_cfg.validate()
    splits = load_splits(train_cfg)
    method = build_method(config["method"], method_cfg, splits.info, train_cfg.seed)
    metrics = fit(method, splits, train_cfg, run_dir, config["method"], method_cfg, resume=True,
                  baselines=baselines, preset=config.get("preset"))
    return run_dir, metrics


def print_summary(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Human-readable end-of-run summary on stdout."""
    t = metrics.get("train", {})
    print(f"run: {run_dir}")
    if t:
        print(f"trained {t['epochs_completed']} epochs ({t['steps']} steps, {t['elapsed_s']:.1f} s), "
              f"stopped by {t['stopped_by']}")
    from infomax.report import final_probe_note

    for key, title in (("final", "linear probe"), ("final_knn", "kNN probe (k=20, cosine)")):
        final = metrics.get(key)
        if not (final and final.get("accuracy")):
            continue
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
    print(f"report: {run_dir / 'report.md'}")


def run(args: argparse.Namespace) -> int:
    from infomax.config import parse_set

    set_threads(args.threads)
    overrides = parse_set(args.overrides)
    limits = {k: v for k, v in (("max_epochs", args.max_epochs), ("max_minutes", args.max_minutes),
                                ("data_root", args.data_root)) if v is not None}
    if args.resume:
        if overrides or args.data or args.out:
            raise UserError("--resume continues a run with its saved settings: --set, --data and --out "
                            "cannot be given (--max-epochs, --max-minutes and --data-root can)")
        if args.name:
            from infomax.run import check_run_dir, read_config

            cfg = read_config(check_run_dir(args.resume))
            if args.name not in (cfg["method"], cfg.get("preset")):
                raise UserError(f"{args.resume} is a run of {cfg.get('preset') or cfg['method']!r}, "
                                f"not {args.name!r}")
        run_dir, metrics = train_resume(args.resume, limits, baselines=not args.no_baselines)
    else:
        if not args.name:
            raise UserError("name a method or preset to train (see `infomax presets`), "
                            "or give --resume RUN_DIR")
        if args.data:
            overrides["data"] = args.data
        run_dir, metrics = train_new(args.name, {**overrides, **limits}, out=args.out,
                                     baselines=not args.no_baselines)
    if args.json:
        json.dump({"run_dir": str(run_dir), **metrics}, sys.stdout)
        print()
    else:
        print_summary(run_dir, metrics)
    return 0
