"""Train a run for the DIMCO benchmarks without the end-of-training linear probes.

``infomax train`` ends with its final evaluation (the baselines, then a probe per layer, or on Omniglot,
whose test classes are unseen in training, 5-way 1-shot episodes per layer), which costs minutes of CPU
that the benchmarks spend on their own protocols. This script resolves a preset exactly like
``infomax train`` and calls ``engine.fit(..., evaluate=False)``;
the run directory is a normal run (``infomax eval``, ``infomax index`` and ``load_run`` work on it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dimco/train_run.py dimco-omniglot --out RUN \\
        --max-minutes 10
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dimco/train_run.py dim-l-noprior --out DIM_RUN \\
        --set data=fashion-mnist --max-minutes 5
    # an interrupted run (Ctrl-C, SIGTERM) continues with the same command plus --resume;
    # --progress shows the training progress (off by default: the logs of parallel runs stay readable)
"""

from __future__ import annotations

import argparse
import json
import sys

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="a preset or method (see `infomax presets`)")
    ap.add_argument("--out", required=True, help="new run directory")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--resume", action="store_true",
                    help="continue the interrupted run in --out from its last checkpoint (same settings)")
    ap.add_argument("--progress", action="store_true",
                    help="show training progress on stderr (epochs, steps, loss), as `infomax train` does")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from infomax.config import TrainConfig, apply_overrides, parse_set
    from infomax.engine.fit import build_method, fit
    from infomax.experiment import load_splits
    from infomax.methods import method_module
    from infomax.presets import resolve

    preset = resolve(args.name)
    train_cfg = TrainConfig(method=preset.method)
    method_cfg = method_module(preset.method).Config()
    overrides = {**preset.overrides, **parse_set(args.overrides)}
    for key in ("max_minutes", "max_epochs"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    apply_overrides(train_cfg, method_cfg, overrides)
    train_cfg.validate()
    splits = load_splits(train_cfg)
    method = build_method(preset.method, method_cfg, splits.info, train_cfg.seed)
    metrics = fit(
        method,
        splits,
        train_cfg,
        args.out,
        preset.method,
        method_cfg,
        progress=args.progress,
        preset=args.name if args.name != preset.method else None,
        resume=args.resume,
    )
    print(json.dumps({"run_dir": args.out, **metrics}))


if __name__ == "__main__":
    from infomax.errors import UserError

    try:
        main()
    except UserError as e:  # a bad preset, option, data root or --resume directory: one line, exit 2
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
