"""Summarize the raw csv files of run.py and the peers: per-task table, summary, plot (estimate vs truth).

    python benchmarks/estimate/report.py --raw benchmarks/estimate/results/raw --n 5000 --seeds 100 \
        --out benchmarks/estimate/results

writes ``<out>/tasks_<tag>.csv`` (every estimator's estimate per task), ``<out>/table_<tag>.md`` (the
summary and the per-task table) and ``<out>/estimate_vs_truth_<tag>.png``, tag = n<N>_s<seeds>.

Summary per estimator: mean absolute error (nats), tasks within 10% of the truth, tasks within 0.1 nats of
the truth (an absolute criterion; NOT checked to be the MMG paper's own), wall seconds per task (mean), CPU
seconds per task (where the runner records them), where the estimator gives one, the coverage of its
90% interval, and the machine the rows ran on: the ``device`` column of the rows where the runner records
one (peer_diffusion_mi.py: the GPU, with its number of concurrent worker processes), else the shared 2-core
CPU machine every other runner used. Timings of rows from different machines are not comparable; the table
says so under the summary.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path


def _f(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


CPU_ROWS = "CPU, 2 shared cores"  # where every runner without a device column ran


def read_rows(raw: str | Path, n: int, seeds: list[str], label: str = "*") -> list[dict]:
    """The raw csv rows of ``label`` (every estimator: ``*``) at ``n`` samples, seed after seed (exits naming
    the expected files when there are none: a table of nothing is a wrong path or label)."""
    rows: list[dict] = []
    for s in seeds:
        for f in sorted(Path(raw).glob(f"{label}_n{n}_s{s}.csv")):
            with open(f) as fh:
                rows += list(csv.DictReader(fh))
    if not rows:
        raise SystemExit(f"no rows: expected {raw}/{label}_n{n}_s<seed>.csv for seeds {seeds}")
    return rows


def within10(estimate: float, truth: float) -> bool:
    """The suite's hit rule: strictly less than 10% of the truth away from it."""
    return abs(estimate - truth) / truth < 0.1


def _device(rs: list[dict]) -> str:
    """The machine a set of rows ran on, as the rows record it (several: joined)."""
    names = sorted({(r.get("device") or "").strip() or CPU_ROWS for r in rs})
    workers = sorted({r.get("workers") for r in rs if r.get("workers")})
    label = " / ".join(names)
    if not workers:
        return label
    return f"{label} ({', '.join(workers)} worker process{'' if workers == ['1'] else 'es'} at once)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="100")
    ap.add_argument("--out", required=True)
    ap.add_argument("--suite", default="Beyond-Normal", help="the tasks' name in the titles")
    args = ap.parse_args()
    seeds = args.seeds.split(",")
    rows = read_rows(args.raw, args.n, seeds)
    by = defaultdict(list)
    for r in rows:
        by[r["estimator"]].append(r)
    tag = f"n{args.n}_s{'-'.join(seeds)}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for est, rs in sorted(by.items()):
        errs = [abs(_f(r["estimate"]) - _f(r["truth"])) for r in rs]
        mmg = [e < 0.1 for e in errs]
        cov = [_f(r["low"]) <= _f(r["truth"]) <= _f(r["high"]) for r in rs if math.isfinite(_f(r["low"]))]
        finite = [e for e in errs if math.isfinite(e)]
        summary.append({
            "estimator": est, "tasks": len(rs),
            "mae": sum(finite) / len(finite) if finite else math.nan,
            "within10": sum(within10(_f(r["estimate"]), _f(r["truth"])) for r in rs),
            "mmg": sum(mmg),
            "sec": sum(_f(r["seconds"]) for r in rs) / len(rs),
            "cpu": sum(_f(r.get("cpu_seconds", "")) for r in rs) / len(rs),
            "coverage": (f"{sum(cov)}/{len(cov)}" if cov else "-"),
            "device": _device(rs),
        })
    tasks = sorted({(r["task"], r["seed"]) for r in rows})
    ests = sorted(by)
    lookup = {(r["task"], r["seed"], r["estimator"]): r for r in rows}
    truth = {(r["task"], r["seed"]): _f(r["truth"]) for r in rows}
    with open(out / f"tasks_{tag}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["task", "seed", "truth", *ests])
        for t in tasks:
            w.writerow([*t, f"{truth[t]:.4f}", *(f"{_f(lookup[(*t, e)]['estimate']):.4f}"
                                                  if (*t, e) in lookup else "" for e in ests)])
    lines = [f"{args.suite} tasks, N = {args.n}, sampling seed(s) {', '.join(seeds)}.", "",
             "| estimator | tasks | MAE (nats) | within 10% | within 0.1 nats | s/task | CPU s/task "
             "| 90% covers | ran on |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['estimator']} | {s['tasks']} | {s['mae']:.4f} | {s['within10']} | {s['mmg']} | "
                     f"{s['sec']:.1f} | {'-' if math.isnan(s['cpu']) else format(s['cpu'], '.1f')} | "
                     f"{s['coverage']} | {s['device']} |")
    others = sorted({s["device"] for s in summary} - {CPU_ROWS})
    if others:
        lines += ["", f"Timings are comparable only between rows that ran on the same machine: the rows on "
                      f"{'; '.join(others)} are not comparable in time with the rows on the {CPU_ROWS} "
                      f"(the s/task of those rows is the wall time of one task while the other worker "
                      f"processes shared the machine)."]
    counts = sorted({s["tasks"] for s in summary})
    if len(counts) > 1:
        lines += ["", f"Not every estimator has every task ({', '.join(map(str, counts))} rows): each "
                      f"summary row averages over its own tasks only, so rows with fewer tasks are not "
                      f"compared on the same set."]
    lines += ["", "| task | seed | truth | " + " | ".join(ests) + " |", "|---|---|---|" + "---|" * len(ests)]
    for t in tasks:
        cells = []
        for e in ests:
            r = lookup.get((*t, e))
            v = _f(r["estimate"]) if r else math.nan
            bad = math.isfinite(v) and not within10(v, truth[t])
            cells.append(f"{'**' if bad else ''}{v:.3f}{'**' if bad else ''}" if r else "")
        lines.append(f"| {t[0]} | {t[1]} | {truth[t]:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "Bold: more than 10% from the truth."]
    (out / f"table_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:4 + len(summary) + (2 if others else 0) + (2 if len(counts) > 1 else 0)]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({t[0] for t in tasks})
    fig, ax = plt.subplots(figsize=(14, 6))
    idx = {n: i for i, n in enumerate(names)}
    for k, e in enumerate(ests):
        xs = [idx[t[0]] + 0.12 * (k - len(ests) / 2) for t in tasks if (*t, e) in lookup]
        ys = [_f(lookup[(*t, e)]["estimate"]) / truth[t] for t in tasks if (*t, e) in lookup]
        ax.scatter(xs, ys, s=14, label=e)
    ax.axhline(1.0, color="k", lw=1)
    ax.axhspan(0.9, 1.1, color="grey", alpha=0.2, label="within 10%")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylabel("estimate / true MI")
    ax.set_ylim(-0.2, 1.6)
    ax.set_title(f"{args.suite}, N = {args.n}, seeds {', '.join(seeds)}: estimate / truth per task")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(out / f"estimate_vs_truth_{tag}.png", dpi=110)


if __name__ == "__main__":
    main()
