"""Time `infomax eval` protocols on a run: wall and CPU seconds (CPU is the figure to compare on a shared
machine), and the headline value of each, as a Markdown table row per protocol.

Each protocol runs as its own `infomax eval RUN --protocol P --layer L --threads 1 --json` process, with
progress off (INFOMAX_PROGRESS=0, stderr not a terminal). PYTHONPATH picks the source tree, so two trees
(before / after a change) can be compared one right after the other in the same conditions:

    infomax train dim-l-noprior --max-epochs 2 --no-baselines --threads 1 --out /tmp/evs/run
    PYTHONPATH=OLD/src python benchmarks/evaluation/eval_speed.py /tmp/evs/run --label before
    PYTHONPATH=NEW/src python benchmarks/evaluation/eval_speed.py /tmp/evs/run --label after

Results and commands: BENCHMARKS.md, "Evaluation speed".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HEADLINE = ("mi", "ndm", "accuracy")


def headline(result: dict) -> str:
    """``key value`` of the first headline figure of every layer, e.g. ``mi 5.04 +- 0.13``."""
    parts = []
    for key, r in result.items():
        for h in HEADLINE:
            if h in r:
                std = r.get(f"{h}_std")
                spread = f" +- {std:.2f}" if std is not None else ""
                parts.append(f"{key.split('/', 2)[2]}: {h} {r[h]:.4f}{spread}")
                break
    return "; ".join(parts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--protocols", nargs="+", default=["mine:y", "ndm:y", "linear:all", "svm:fc"],
                   metavar="PROTOCOL:LAYER")
    p.add_argument("--label", default="", help="a first column, e.g. before / after")
    p.add_argument("--infomax", default=shutil.which("infomax") or "infomax", help="the infomax executable")
    args = p.parse_args()
    env = {**os.environ, "INFOMAX_PROGRESS": "0"}
    print("| tree | protocol | layer | wall s | CPU s | load (1 min) | result |")
    print("|---|---|---|---|---|---|---|")
    for spec in args.protocols:
        protocol, layer = spec.split(":")
        with tempfile.TemporaryDirectory() as tmp:  # a copy: metrics.json of the run stays as it was
            run = os.path.join(tmp, "run")
            shutil.copytree(args.run_dir, run)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            out = subprocess.run([args.infomax, "eval", run, "--protocol", protocol, "--layer", layer,
                                  "--threads", "1", "--json"], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result = headline(json.loads(out.stdout))
        print(f"| {args.label} | {protocol} | {layer} | {wall:.1f} | {cpu:.1f} | {os.getloadavg()[0]:.1f} | "
              f"{result} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
