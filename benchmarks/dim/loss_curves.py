"""Training-loss curves of finished runs side by side: did a run train, drift or blow up?

Reads each run directory's CSV log (``logs/version_*/metrics.csv``, every logged step of every (re)start)
and writes a markdown table (steps logged, the loss at the first step, at 25 / 50 / 75% of the steps and
at the end, its minimum and maximum; ``blew up`` when the maximum is more than 100 times the largest of 1
and the first 10 steps' median |loss|) and a plot of the loss against the step (symmetric-log scale, so a
blow-up and a healthy curve fit one axis).

Example (the bf16 stability check of BENCHMARKS.md, "CPU execution modes")::

    for v in "32-true" "bf16-mixed" "bf16-mixed --set score_clip=20"; do
      infomax train dim-l-cross --data cifar10 --max-minutes 5 --threads 1 --no-baselines \\
          --set seed=2 --set diverge_factor=0 --set precision=$v --out "runs/${v// /_}" &
    done; wait
    python benchmarks/dim/loss_curves.py runs/* --out benchmarks/dim/results/bf16_stability
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402


def read_losses(run_dir: Path) -> list[tuple[int, float]]:
    """``[(step, loss)]`` of every logged training step of a run, in step order (all restarts)."""
    rows: dict[int, float] = {}
    for path in sorted(run_dir.glob("logs/version_*/metrics.csv")):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("loss") not in (None, ""):
                    rows[int(r["step"])] = float(r["loss"])
    if not rows:
        raise SystemExit(f"error: no logged loss under {run_dir}/logs (is it a finished infomax run?)")
    return sorted(rows.items())


def summarize(name: str, losses: list[tuple[int, float]]) -> dict:
    """One table row: the loss at the first step, at 25/50/75% of the logged steps and at the end, min, max.

    Example:
        >>> r = summarize("x", [(i, -0.1 * i) for i in range(1, 11)] + [(11, 500.0)])
        >>> r["blew up"], r["max"], r["end"]
        ('yes', 500.0, 500.0)
    """
    steps, vals = [s for s, _ in losses], [v for _, v in losses]
    at = {q: vals[min(len(vals) - 1, int(q * (len(vals) - 1)))] for q in (0.25, 0.5, 0.75)}
    scale = max(1.0, statistics.median(abs(v) for v in vals[:10]))
    return {"run": name, "last step": steps[-1], "first": round(vals[0], 3), "25%": round(at[0.25], 3),
            "50%": round(at[0.5], 3), "75%": round(at[0.75], 3), "end": round(vals[-1], 3),
            "min": round(min(vals), 3), "max": round(max(vals), 3),
            "blew up": "yes" if max(abs(v) for v in vals) > 100 * scale else "no"}


def plot(curves: dict[str, list[tuple[int, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, losses in curves.items():
        ax.plot([s for s, _ in losses], [v for _, v in losses], lw=0.8, label=name)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss (symlog)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    p.add_argument("--out", type=Path, required=True, help="output stem: <out>.md, <out>.csv, <out>.png")
    args = p.parse_args(argv)
    missing = [str(r) for r in args.runs if not r.is_dir()]
    if missing:
        print(f"error: not a directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    curves = {r.name: read_losses(r) for r in args.runs}
    rows = [summarize(name, losses) for name, losses in curves.items()]
    common.write_table(rows, args.out, "Training-loss curves",
                       ["loss at the first logged step, at 25/50/75% of the logged steps and at the end",
                        "blew up: max |loss| over 100x max(1, median |loss| of the first 10 steps)"])
    plot(curves, args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
