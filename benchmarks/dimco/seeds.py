"""Codes vs ProtoNet vs post-hoc compression across training seeds: means, standard errors and verdicts.

Reads one ``compare.py`` csv per training seed (the same episodes and queries in each: compare.py seeds
them) and, at one bit budget, takes the DIMCO codes row, the ProtoNet float row and the post-hoc rows (faiss
PQ, sign random projection) of that budget. Per metric: the mean over seeds with its standard error, and
the verdict of the codes against each other row by the project's rule (``infomax.evaluation.claims``:
>= 3 seeds, a difference beyond two standard errors of the seed-to-seed spread).

    python benchmarks/dimco/seeds.py results/compare-omniglot.csv results/compare-omniglot-s1.csv \\
        results/compare-omniglot-s2.csv --bits 256 --name omniglot-256

``--baseline CSV ...`` (the same protocol's csvs for another setting, e.g. training without ``shift``)
adds a table of every row against the same row of that setting, by the same rule (unpaired: the two
settings' seeds are separate training runs), labelled ``--baseline-label``.

A csv holding several DIMCO rows at the bits (e.g. an ablation's rows beside the setting's) needs
``--codes-label`` (the row's full label); otherwise the script stops and names them.

Writes ``results/seeds-<name>.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from pathlib import Path

METRICS = ("5-way 1-shot", "20-way 1-shot", "5-way 5-shot", "20-way 5-shot", "precision@1", "mAP")


def main() -> None:
    from infomax.evaluation.claims import compare

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csvs", nargs="+", type=Path, help="one compare.py csv per training seed")
    ap.add_argument("--bits", type=int, default=256)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--baseline", nargs="+", type=Path, default=[],
                    help="compare.py csvs (one per seed) of another setting to compare every row with")
    ap.add_argument("--baseline-label", default="the baseline setting")
    ap.add_argument("--codes-label", default=None,
                    help="the DIMCO row's label, where a csv has several at --bits")
    args = ap.parse_args()

    per_seed = [_rows_at(p, args.bits, args.codes_label) for p in args.csvs]  # [{kind: row}]
    kinds = [k for k in ("codes", "protonet", "pq", "sign") if all(k in s for s in per_seed)]
    metrics = [m for m in METRICS if all(s[k].get(m) for s in per_seed for k in kinds)]
    table, verdicts = [], []
    for k in kinds:
        row = {"representation": per_seed[0][k]["representation"], "bits": int(float(per_seed[0][k]["bits"]))}
        for m in metrics:
            vals = [100 * float(s[k][m]) for s in per_seed]
            mean = statistics.fmean(vals)
            se = statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else math.nan
            row[m] = f"{mean:.1f} ± {se:.1f}"
            row[m + " per seed"] = " / ".join(f"{v:.1f}" for v in vals)
        table.append(row)
        if k != "codes":
            for m in metrics:
                a = [100 * float(s["codes"][m]) for s in per_seed]
                c = compare(a, [100 * float(s[k][m]) for s in per_seed])
                verdicts.append({"codes vs": row["representation"], "metric": m, "verdict": c.verdict,
                                 "difference (points)": f"{c.diff:+.1f} ± {c.se:.1f}"})
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"seeds-{args.name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    lines = [f"{len(per_seed)} training seeds ({', '.join(p.name for p in args.csvs)}), {args.bits} bits; "
             "mean ± standard error over the seeds, in %; per-seed values in the csv. Verdicts by "
             "`infomax.evaluation.claims.compare` (>= 3 seeds, beyond 2 standard errors).", "",
             "| representation | bits | " + " | ".join(metrics) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in metrics) + " |"]
    lines += ["| " + " | ".join([r["representation"], str(r["bits"])] + [r[m] for m in metrics]) + " |"
              for r in table]
    lines += ["", "| codes vs | metric | difference (points) | verdict |", "| --- | --- | ---: | --- |"]
    lines += [f"| {v['codes vs']} | {v['metric']} | {v['difference (points)']} | {v['verdict']} |"
              for v in verdicts]
    if args.baseline:
        base = [_rows_at(p, args.bits, args.codes_label) for p in args.baseline]
        lines += ["", *_against_baseline(per_seed, base, kinds, metrics, args.baseline_label)]
    (args.out / f"seeds-{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _against_baseline(per_seed: list[dict], base: list[dict], kinds: list[str], metrics: list[str],
                      label: str) -> list[str]:
    """Markdown lines: each row kind of these seeds against the same kind in ``base``'s seeds, per metric."""
    from infomax.evaluation.claims import compare

    lines = [f"Against {label} ({len(base)} seeds):", "", "| representation | metric | this setting | "
             f"{label} | difference (points) | verdict |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for k in (k for k in kinds if all(k in b for b in base)):
        for m in metrics:
            a = [100 * float(s[k][m]) for s in per_seed]
            b = [100 * float(s[k][m]) for s in base]
            c = compare(a, b)
            lines.append(f"| {per_seed[0][k]['representation']} | {m} | {statistics.fmean(a):.1f} | "
                         f"{statistics.fmean(b):.1f} | {c.diff:+.1f} ± {c.se:.1f} | {c.verdict} |")
    return lines


def _rows_at(path: Path, bits: int, codes_label: str | None = None) -> dict[str, dict[str, str]]:
    """The codes / ProtoNet float / PQ / sign rows of one compare.py csv at ``bits`` (ProtoNet: any bits);
    the codes row is the one labelled ``codes_label``, or the only DIMCO row at ``bits``."""
    out: dict[str, dict[str, str]] = {}
    codes = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            name, b = r["representation"], float(r["bits"])
            if name.startswith("DIMCO codes") and b == bits:
                codes.append(r)
            elif name.startswith("ProtoNet `"):
                out["protonet"] = r
            elif "PQ" in name and b == bits:
                out["pq"] = r
            elif "sign random projection" in name and b == bits:
                out["sign"] = r
    if codes_label is not None:
        codes = [r for r in codes if r["representation"] == codes_label]
        if not codes:
            raise SystemExit(f"{path}: no DIMCO row labelled {codes_label!r} at {bits} bits")
    if len(codes) > 1:
        names = "; ".join(repr(r["representation"]) for r in codes)
        raise SystemExit(f"{path}: {len(codes)} DIMCO rows at {bits} bits ({names}): "
                         "pick one with --codes-label")
    if codes:
        out["codes"] = codes[0]
    return out


if __name__ == "__main__":
    main()
