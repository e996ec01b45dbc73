"""Merge the budget-probe tables of the quiet-machine protocol into one summary: issue 3's table.

Reads ``results/budget_probe-*min*.csv`` (the runs named by budget; the reduced 2-minute runs are named
``budget_probe-<data>.csv`` and are left out) and writes ``results/budget_summary.{csv,md,png}``: one
row per (dataset, encoder), the linear-probe accuracy on fc after each budget, the training steps, and
one verdict line per (dataset, budget) with the difference in points and its standard error (binomial,
``sqrt(p(1-p)/n)`` per accuracy on the n test items, the two added in quadrature). Nothing is trained.

Run from the repository root::

    python benchmarks/dim/budget_table.py

Example:
    >>> diff_se(0.60, 0.50, 10_000), pct("0.6265")
    (0.7, '62.7')
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

#: Display order and labels of the encoders.
ENCODER_LABELS = {"random": "random (untrained)", "dim-l-noprior": "DIM(L) `dim-l-noprior`",
            "dim-l-cosine": "DIM(L), cosine lr `dim-l-cosine`",
            "dim-l-cross": "DIM(L), two augmented views `dim-l-cross`",
            "dim-g-noprior": "DIM(G) `dim-g-noprior`",
            "simclr-lightly": "lightly 1.6 SimCLR", "supervised": "supervised (same encoder)"}
#: The DIM(L) variants judged against the others (a verdict line each where measured), and their names.
LOCAL = {"dim-l-noprior": "DIM(L)", "dim-l-cosine": "DIM(L) cosine", "dim-l-cross": "DIM(L) cross-view"}
#: Test-set sizes of the official splits (the quiet protocol probes on all of them).
N_TEST = {"cifar10": 10_000, "fashion-mnist": 10_000, "mnist": 10_000}


def diff_se(p: float, q: float, n: int) -> float:
    """Standard error, in points, of the difference of two accuracies each measured on ``n`` items."""
    return round(100 * math.sqrt((p * (1 - p) + q * (1 - q)) / n), 2)


def pct(fraction: str) -> str:
    """A fraction as written in the CSV ("0.6265") as a percentage with one decimal, half up ("62.7")."""
    return str(Decimal(fraction).scaleb(2).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def read_rows(paths: list[Path], layer: str = "fc") -> list[dict]:
    """Rows of the given CSVs with an accuracy for ``layer``; later files override earlier ones for the
    same (data, budget, encoder)."""
    key = f"acc_{layer}"
    out: dict[tuple, dict] = {}
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if not r.get(key):
                    continue
                row = {"data": r["data"], "budget_min": float(r["budget_min"]), "encoder": r["encoder"],
                       "steps": int(float(r["steps"] or 0)), "acc": float(r[key]), "acc_text": r[key]}
                out[(row["data"], row["budget_min"], row["encoder"])] = row
    return list(out.values())


def summarize(rows: list[dict], budgets: list[float]) -> tuple[list[dict], list[str]]:
    """The summary table (one row per dataset and encoder) and the verdict lines."""
    table, lines = [], []
    datas = list(dict.fromkeys(r["data"] for r in sorted(rows, key=lambda r: r["data"] != "fashion-mnist")))
    for data in datas:
        # the untrained encoder has one row (budget 0) that stands in every budget's column
        at = {(r["encoder"], r["budget_min"]): r for r in rows if r["data"] == data}
        at.update({("random", b): at[("random", 0.0)] for b in budgets if ("random", 0.0) in at})
        for enc, label in ENCODER_LABELS.items():
            cells = {}
            for b in budgets:
                r = at.get((enc, b))
                cells[f"acc_{b:g}min"] = pct(r["acc_text"]) if r else ""
                cells[f"steps_{b:g}min"] = r["steps"] if r and enc != "random" else ""
            if any(cells.values()):
                table.append({"data": data, "encoder": label, **cells})
        n = N_TEST.get(data, 10_000)
        for local, name in LOCAL.items():
            if not any(enc == local for enc, _ in at):
                continue
            for b in budgets:
                acc = {enc: at[(enc, b)]["acc"] for enc in ENCODER_LABELS if (enc, b) in at}
                parts = []
                for other in ("dim-g-noprior", "simclr-lightly", "random"):
                    if local not in acc or other not in acc:
                        parts.append(f"{name} vs {other}: not measured")
                        continue
                    d = 100 * (acc[local] - acc[other])
                    se = diff_se(acc[local], acc[other], n)
                    # one training seed: a test-set-noise reading, not a claim (infomax.evaluation.claims)
                    word = ("above" if d > 2 * se else "below" if d < -2 * se
                            else "within 2 s.e. of test-set noise")
                    parts.append(f"{name} vs {other}: {d:+.1f} points (s.e. {se:.1f}), {word}")
                lines.append(f"{data}, {b:g} min: " + "; ".join(parts))
    return table, lines


def _plot(rows: list[dict], budgets: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datas = list(dict.fromkeys(r["data"] for r in rows))
    fig, axes = plt.subplots(1, len(datas), figsize=(5 * len(datas), 3.6), squeeze=False)
    for ax, data in zip(axes[0], datas):
        for enc, label in ENCODER_LABELS.items():
            pts = sorted((r["budget_min"], 100 * r["acc"]) for r in rows
                         if r["data"] == data and r["encoder"] == enc and r["budget_min"] in budgets)
            if enc == "random":
                base = [100 * r["acc"] for r in rows if r["data"] == data and r["encoder"] == "random"]
                if base:
                    ax.axhline(base[0], color="grey", linestyle="--", label=label)
            elif pts:
                ax.plot(*zip(*pts), marker="o", label=label)
        ax.set_xticks(budgets)
        ax.set_title(f"{data}: linear probe on fc (2 cores)")
        ax.set_xlabel("training budget (wall-clock minutes)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=Path, nargs="*", default=None,
                   help="budget_probe CSVs (default: results/budget_probe-*min*.csv, in name order)")
    p.add_argument("--budgets", type=float, nargs="+", default=[10.0, 30.0])
    p.add_argument("--out", type=Path, default=common.RESULTS / "budget_summary")
    args = p.parse_args(argv)
    paths = args.inputs if args.inputs is not None else sorted(common.RESULTS.glob("budget_probe-*min*.csv"))
    missing = [str(x) for x in paths if not x.is_file()]
    if missing or not paths:
        print(f"error: no budget_probe table at {missing or common.RESULTS / 'budget_probe-*min*.csv'}",
              file=sys.stderr)
        return 2
    rows = read_rows(paths)
    table, lines = summarize(rows, args.budgets)
    notes = ["linear probe (PROTOCOLS['linear']) on standardized fc(1024) features, full official train / "
             "10k test splits, one seed; accuracies in %, steps = optimizer steps in the budget",
             "one training seed per cell: every comparison is untested by the claims rule (>= 3 seeds, "
             "beyond 2 s.e. of the seed-to-seed spread); above / below: beyond 2 s.e. of test noise only; "
             "budgets are equal in time, not in steps",
             "sources: " + ", ".join(x.name for x in paths), *lines]
    common.write_table(table, args.out, "Linear probe after a wall-clock budget on 2 CPU cores", notes)
    _plot(rows, args.budgets, args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
