"""``infomax generate RUN_DIR``: train (or continue) the latent DDIM stage of a hybrid run, then sample.

The stage lives in ``RUN_DIR/ddim/`` (its own checkpoints, resumable by running the command again);
samples are decoded to ``RUN_DIR/plots/ddim_samples.png``, and the interpolation figures of source
document 002 (between pairs of test images: all of z, only y, only the other half, one image row per pair)
to ``RUN_DIR/plots/interp_{z,y,y_hat}.png``. Example::

    infomax train hybrid --data fashion-mnist --max-minutes 10 --out runs/hyb
    infomax generate runs/hyb --set max_epochs=5 --steps 50
    infomax generate runs/hyb --inception-weights pt_inception-2015-12-05-6726825d.pth --fid-samples 2000

With ``--inception-weights`` (a local file: nothing is downloaded) the command also reports real FID of
``--fid-samples`` decoded samples against as many test images, beside the FID of validation images against
the same test images (the floor at that sample size); both go into ``metrics.json`` under ``"fid"``.

Before any work it says on stderr what it will do and how long it should take (the DDIM training is timed
on a few steps of a copy of the stage), then shows a labelled bar per phase: training epochs, DDIM
sampling, FID features. Bars and notes are shown when stderr is a terminal; ``--no-progress`` (or
``INFOMAX_PROGRESS=0``) hides them, ``INFOMAX_PROGRESS=1`` keeps them with stderr redirected.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="train the DDIM stage on a hybrid run's latent, then sample",
                       description="Train or continue the latent DDIM stage of a hybrid run (resumable), "
                                   "then decode samples to RUN_DIR/plots/ddim_samples.png and write the "
                                   "interpolation figures (z, y, y_hat) to RUN_DIR/plots/.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished `infomax train hybrid` run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="stage setting (max_epochs, max_minutes, batch_size, lr, ...)")
    p.add_argument("--steps", type=int, default=50, help="DDIM sampling steps (default 50)")
    p.add_argument("--n-samples", type=int, default=64, help="samples in the grid (default 64)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0 = deterministic)")
    p.add_argument("--inception-weights", metavar="PATH",
                   help="local pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth or "
                        ".safetensors with its keys): also report FID")
    p.add_argument("--fid-samples", type=int, default=1000,
                   help="images per side for FID (default 1000; capped at the test split)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--no-progress", action="store_true",
                   help="no plan, progress bars or notes on stderr (default: shown when stderr is a "
                        "terminal; INFOMAX_PROGRESS=0/1 also decides)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infomax.progress import progress_scope

    with progress_scope(False if args.no_progress else None):
        return _run(args)


def plan_lines(run_dir: str, plan: object, n_samples: int, steps: int, fid_samples: int | None) -> list[str]:
    """What ``infomax generate`` will do, one line per phase, with the estimates of a
    :class:`~infomax.generative.stage.StagePlan` (``fid_samples``: None without FID)."""
    from infomax.progress import format_seconds

    def est(seconds: float | None) -> str:
        return "" if seconds is None else f" (about {format_seconds(seconds)})"

    sampling = plan.sample_seconds(n_samples, steps)
    total = [plan.train_seconds, sampling]
    lines = [f"  1. {plan.describe()}",
             f"  2. sampling {n_samples} images with {steps} DDIM steps{est(sampling)} "
             f"-> plots/ddim_samples.png",
             "  3. interpolation figures (z, y, y_hat) -> plots/interp_{z,y,y_hat}.png"]
    if fid_samples is not None:
        fid_sampling = plan.sample_seconds(fid_samples, steps)
        total.append(fid_sampling)
        lines.append(f"  4. FID: sampling {fid_samples} more images{est(fid_sampling)}, then Inception-v3 "
                     f"features of them, of as many test images and of as many validation images (the floor)")
    known = [t for t in total if t is not None]
    head = f"infomax generate {run_dir}:"
    if len(known) == len(total):
        head += f" about {format_seconds(sum(known))} before FID features" if fid_samples else \
            f" about {format_seconds(sum(known))} in all"
    return [head, *lines]


def _run(args: argparse.Namespace) -> int:
    from infomax.config import parse_set
    from infomax.errors import UserError
    from infomax.generative.evaluate import run_interpolations
    from infomax.generative.stage import estimate_stage, sample_grid, train_ddim_stage
    from infomax.progress import note, progress_enabled

    if args.steps < 1 or args.n_samples < 1:
        raise UserError("--steps and --n-samples must be >= 1")
    if args.eta < 0:
        raise UserError("--eta must be >= 0")
    if args.fid_samples < 2:
        raise UserError("--fid-samples must be >= 2")
    inception = None
    if args.inception_weights is not None:
        from infomax.evaluation.inception import load_inception

        inception = load_inception(args.inception_weights)  # a bad file fails here, before the slow work
    overrides = parse_set(args.overrides)
    progress = progress_enabled()
    if progress:  # say up front what will happen and how long it should take
        plan = estimate_stage(args.run_dir, overrides)
        fid_n = args.fid_samples if inception is not None else None
        for line in plan_lines(str(args.run_dir), plan, args.n_samples, args.steps, fid_n):
            note(line)
    train_ddim_stage(args.run_dir, overrides, progress=progress, announce=False)
    path = sample_grid(args.run_dir, args.n_samples, args.steps, args.eta)
    note("writing the interpolation figures (z, y, y_hat)")
    result: dict = {"run_dir": str(args.run_dir), "samples": str(path), **run_interpolations(args.run_dir)}
    if inception is not None:
        from infomax.generative.evaluate import fid_of_run

        result.update(fid_of_run(args.run_dir, inception, args.fid_samples, args.steps))
    if args.json:
        json.dump(result, sys.stdout)
        print()
    else:
        print(f"samples: {path}")
        change = ", ".join(f"{m} {v:.4f}" for m, v in result["interpolation_change"].items())
        print(f"interpolations: {args.run_dir}/plots/interp_{{z,y,y_hat}}.png "
              f"(mean squared change of the decoded end image: {change})")
        if inception is not None:
            val = result.get("fid_real_val")
            floor = "" if val is None else f" (validation vs test images: {val:.2f})"
            print(f"FID of {result['n']} samples vs {result['n']} test images: {result['fid']:.2f}{floor}")
    return 0
