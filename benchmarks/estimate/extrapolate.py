"""Mean estimate / truth per label of ``run.py``'s raw rows, and a Richardson-style extrapolation in N.

For each ``--labels`` entry: the mean of estimate / truth over the task-seeds, how many are within 10% of
the truth, and the mean CPU seconds. With ``--full`` (a label run on all rows) and ``--halves`` (two labels
run with ``run.py --rows`` on the two halves of the same samples), also the extrapolation that removes a
bias falling like 1/N: ``2 * full - mean(halves)`` per task-seed, and the spread (sd over task-seeds) of the
difference between the two halves, relative to the truth. Example (the spirals of BENCHMARKS.md):

    python benchmarks/estimate/extrapolate.py --raw benchmarks/estimate/results/raw-spirals --seeds 0,1 \\
        --labels spiral-critic spiral-critic-embed8 --full spiral-critic \\
        --halves spiral-critic-rows0-2500 spiral-critic-rows2500-5000
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from report import read_rows, within10  # this directory's report.py: the same rows, the same hit rule


def load(raw: Path, label: str, n: int, seeds: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """(task, seed) -> estimate, truth and CPU seconds of one label's rows."""
    return {(r["task"], r["seed"]): {k: float(r[k]) for k in ("estimate", "truth", "cpu_seconds")}
            for r in read_rows(raw, n, seeds, label)}


def summary(ratios: list[float]) -> str:
    """Mean ratio, hits within 10% and the ratio's range."""
    hits = sum(within10(r, 1.0) for r in ratios)
    off = statistics.mean(abs(r - 1) for r in ratios)
    return (f"mean estimate/truth {statistics.mean(ratios):.3f}, within 10%: {hits}/{len(ratios)}, "
            f"range {min(ratios):.3f}-{max(ratios):.3f}, mean |ratio - 1| {off:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True, type=Path, help="run.py's output directory")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--labels", nargs="*", default=[], help="labels to summarize")
    ap.add_argument("--full", help="the label run on all rows (for the extrapolation)")
    ap.add_argument("--halves", nargs=2, metavar="LABEL", help="the labels run on the two halves")
    args = ap.parse_args()
    seeds = args.seeds.split(",")
    for label in args.labels:
        rows = load(args.raw, label, args.n, seeds)
        cpu = statistics.mean(r["cpu_seconds"] for r in rows.values())
        ratios = [r["estimate"] / r["truth"] for r in rows.values()]
        print(f"{label}: {summary(ratios)}, CPU s/task {cpu:.1f}")
    if args.full and args.halves:
        full = load(args.raw, args.full, args.n, seeds)
        a, b = (load(args.raw, h, args.n, seeds) for h in args.halves)
        keys = sorted(full)
        est = {k: (2 * full[k]["estimate"] - (a[k]["estimate"] + b[k]["estimate"]) / 2) for k in keys}
        extrapolated = [est[k] / full[k]["truth"] for k in keys]
        print(f"extrapolated, 2 x {args.full} - mean(halves): {summary(extrapolated)}")
        gaps = [(a[k]["estimate"] - b[k]["estimate"]) / full[k]["truth"] for k in keys]
        print(f"halves minus each other / truth: sd {statistics.pstdev(gaps):.3f} ({len(keys)} task-seeds)")


if __name__ == "__main__":
    main()
