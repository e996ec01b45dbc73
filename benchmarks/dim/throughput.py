"""Training throughput (images/s), epoch time and peak memory of the presets, through the engine.

Each preset runs in its own subprocess (so its peak resident memory, ``ru_maxrss``, is its own): the
library's engine (``infomax.engine.fit``, no final evaluation) trains ``--steps`` steps on the preset's
dataset (``--data`` for presets that do not name one); the per-step intervals come from a wrapper around
the method's forward, the first one (warm-up) is dropped. ``images/s = batch / median interval``; the epoch
time is extrapolated: ``(train items // batch) * median interval``.

Writes ``OUT/throughput.{csv,md}`` and ``OUT/throughput.png``.

Example::

    python benchmarks/dim/throughput.py --steps 8            # the DIM presets + one per other method
    python benchmarks/dim/throughput.py --presets all         # every preset of `infomax presets`
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def default_presets() -> list[str]:
    """Every DIM preset, then the first preset of every other available method (its default)."""
    from infomax.presets import all_presets

    out, seen = [], set()
    for name, p in all_presets().items():
        if p.method == "dim":
            out.append(name)
        elif p.method not in seen:
            out.append(name)
        seen.add(p.method)
    return out


def measure_one(preset: str, data: str, steps: int, threads: int) -> dict:
    """Train ``preset`` for ``steps`` steps in this process; one result row."""
    from infomax.engine.fit import build_method, fit
    from infomax.presets import resolve

    common.set_threads(threads)
    over = {"max_epochs": 1, "limit_train_batches": steps}
    if "data" not in resolve(preset).overrides:
        over["data"] = data
    train_cfg, method_cfg, name = common.resolve_preset(preset, over)
    splits = common.load_splits(train_cfg.data, train_cfg.data_root, train_cfg.val_fraction)
    rss_data = common.peak_rss_mib()
    method = build_method(name, method_cfg, splits.info, train_cfg.seed)
    n_params = sum(p.numel() for p in method.parameters())
    clock = common.StepClock(method)
    c0 = common.cpu_conditions()
    with tempfile.TemporaryDirectory() as tmp:
        fit(method, splits, train_cfg, Path(tmp) / "run", name, method_cfg, progress=False, preset=preset)
    c1 = common.cpu_conditions()
    iv = [b - a for a, b in zip(clock.stamps[1:], clock.stamps[2:])]
    med = statistics.median(iv) if iv else float("nan")
    bs = train_cfg.batch_size
    return {
        "preset": preset, "method": name, "data": train_cfg.data, "batch": bs,
        "params_M": round(n_params / 1e6, 2), "steps_timed": len(iv), "step_median_s": round(med, 4),
        "images_per_s": round(bs / med, 1),
        "epoch_min_extrapolated": round(len(splits.train) // bs * med / 60, 1),
        "peak_rss_MiB": round(common.peak_rss_mib(), 0), "rss_after_data_MiB": round(rss_data, 0),
        "threads": threads, "load_1m_start": c0["load_1m"], "load_1m_end": c1["load_1m"],
    }


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if isinstance(r.get("images_per_s"), float)]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(ok) + 1.2))
    ax.barh([r["preset"] for r in ok], [r["images_per_s"] for r in ok])
    ax.invert_yaxis()
    ax.set_xlabel("training images / s (shared 2-core CPU, see load in the table)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=None,
                   help="names, or 'all' (default: DIM + one per method)")
    p.add_argument("--data", default="cifar10", help="dataset for presets that do not name one")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=common.RESULTS)
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="stop starting new presets after this many minutes")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one preset, print its JSON row
    args = p.parse_args(argv)
    if args.one:
        print("ROW " + json.dumps(measure_one(args.one, args.data, args.steps, args.threads)), flush=True)
        return 0
    from infomax.presets import all_presets

    presets = list(all_presets()) if args.presets == ["all"] else (args.presets or default_presets())
    up0, t0, rows = common.uptime_line(), time.monotonic(), []
    for name in presets:
        if args.budget_minutes and time.monotonic() - t0 > 60 * args.budget_minutes:
            rows.append({"preset": name, "status": "skipped (budget)"})
            continue
        cmd = [sys.executable, __file__, "--one", name, "--data", args.data, "--steps", str(args.steps),
               "--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("ROW ")]
        if res.returncode == 0 and line:
            rows.append({**json.loads(line[-1][4:]), "status": "ok"})
        else:
            err = (res.stderr.strip().splitlines() or ["?"])[-1][:160]
            rows.append({"preset": name, "status": f"failed: {err}"})
        print(rows[-1], flush=True)
    up1 = common.uptime_line()
    args.out.mkdir(parents=True, exist_ok=True)
    notes = [f"{args.steps} engine steps per preset (first dropped), torch threads {args.threads}, "
             f"{args.data} unless the preset names its data; epoch time extrapolated from the median step",
             "peak_rss_MiB: the subprocess's ru_maxrss (dataset arrays + model + autograd + Lightning)",
             f"uptime before: {up0}", f"uptime after: {up1}"]
    common.write_table(rows, args.out / "throughput", "Training throughput per preset (engine)", notes)
    _plot(rows, args.out / "throughput.png")
    print(open(args.out / "throughput.md").read())
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
