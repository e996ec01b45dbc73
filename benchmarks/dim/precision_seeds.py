"""bf16 vs float32 training at equal wall-clock time, over training seeds, judged by the claims rule.

Reads finished runs of ``infomax train`` (their ``metrics.json``): one group of run directories per
precision, one run per training seed, and writes a markdown table (steps and final linear-probe test
accuracy per layer, mean and sample sd over seeds) with the verdict of
:func:`infomax.evaluation.claims.compare` per layer (bf16 against float32; >= 3 seeds a side, a gap
beyond two standard errors of the seed-to-seed spread).

Example::

    for s in 0 1 2; do for p in 32-true bf16-mixed; do
      infomax train dim-l-cross --data cifar10 --max-minutes 5 --threads 1 --no-baselines \\
          --set precision=$p --set seed=$s --out runs/$p-$s &
    done; wait; done
    python benchmarks/dim/precision_seeds.py --float32 runs/32-true-* --bf16 runs/bf16-mixed-* \\
        --out benchmarks/dim/results/precision_seeds.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from infomax.evaluation.claims import compare  # noqa: E402


def _read(run: Path) -> dict:
    m = json.loads((run / "metrics.json").read_text())
    return {"steps": m["train"]["steps"],
            "acc": {layer: v["trained"] for layer, v in m["final"]["accuracy"].items()}}


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--float32", nargs="+", type=Path, required=True, help="runs trained in float32")
    ap.add_argument("--bf16", nargs="+", type=Path, required=True, help="runs trained with bf16-mixed")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    groups = {"32-true": [_read(r) for r in args.float32], "bf16-mixed": [_read(r) for r in args.bf16]}
    layers = list(groups["32-true"][0]["acc"])
    lines = ["| precision | seeds | steps | " + " | ".join(f"{la} (%)" for la in layers) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in layers) + " |"]
    for name, runs in groups.items():
        cells = [_ms([100 * r["acc"][la] for r in runs]) for la in layers]
        steps = _ms([r["steps"] for r in runs])
        lines.append(f"| {name} | {len(runs)} | {steps} | " + " | ".join(cells) + " |")
    lines.append("")
    for la in layers:
        c = compare([100 * r["acc"][la] for r in groups["bf16-mixed"]],
                    [100 * r["acc"][la] for r in groups["32-true"]])
        lines.append(f"- {la}: bf16-mixed vs 32-true (equal in time, not in steps): {c}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
