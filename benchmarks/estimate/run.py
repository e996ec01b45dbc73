"""Run ``infomax estimate`` (the CLI, in-process) on dumped Beyond-Normal tasks; one csv row per task.

The task files come from ``dump_bmi.py`` (run under the bmi virtualenv): ``<cache>/n<N>/s<seed>/<task>.npz``
with arrays x, y and the true MI. Each task is estimated as a user would:

    infomax estimate FILE.npz:x FILE.npz:y --json --quiet --threads 1 [extra options]

and the row records the estimate, the 90% interval, the truth, the wall time and the CPU time of the
process (on a loaded machine the CPU time is the closer measure of the time on an idle core). Example:

    python benchmarks/estimate/run.py --cache <cache>/bmi --n 5000 --seeds 0 --label auto \
        --out benchmarks/estimate/results/raw

``--rows A:B`` estimates on rows A to B of each sample only (e.g. ``0:2500``, the first half), to see how a
reading moves with the sample size on the same draw.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import tempfile
import time
from pathlib import Path

#: the estimators `--method auto` may report
READINGS = ("gaussian", "ksg", "ksg_scaled", "radial", "projected", "critic")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="dump_bmi.py output directory")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--label", default="infomax", help="estimator name in the csv")
    ap.add_argument("--out", required=True, help="directory for <label>_n<N>_s<seed>.csv")
    ap.add_argument("--tasks", default="", help="comma-separated task ids (default: all)")
    ap.add_argument("--rows", default="", metavar="A:B", help="estimate on rows A to B of each sample only")
    ap.add_argument("extra", nargs="*", help="extra `infomax estimate` options (after --)")
    args = ap.parse_args()
    import numpy as np

    from infomax.cli import main as cli

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_slice = slice(*(int(v) for v in args.rows.split(":"))) if args.rows else slice(None)
    scratch = tempfile.TemporaryDirectory() if args.rows else None  # the sliced samples
    for seed in (int(s) for s in args.seeds.split(",")):
        d = Path(args.cache) / f"n{args.n}" / f"s{seed}"
        files = sorted(d.glob("*.npz"))
        if args.tasks:
            files = [f for f in files if f.stem in args.tasks.split(",")]
        path = out / f"{args.label}_n{args.n}_s{seed}.csv"
        rows = []
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                truth = float(z["mi"])
                source = f
                if scratch is not None:  # the asked rows, as a file the command reads
                    source = Path(scratch.name) / f.name
                    np.savez(source, x=z["x"][rows_slice], y=z["y"][rows_slice])
            buf = io.StringIO()
            t0, c0 = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
                rc = cli(["estimate", f"{source}:x", f"{source}:y", "--json", "--quiet", "--threads", "1",
                          *args.extra])
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
            r = json.loads(buf.getvalue()) if rc == 0 else {}
            lo, hi = (r.get("interval_nats") or [float("nan")] * 2)
            rows.append({
                "task": f.stem, "seed": seed, "n": args.n, "rows": args.rows or "all",
                "estimator": args.label, "truth": truth,
                "estimate": r.get("mi_nats"), "low": lo, "high": hi, "chosen": r.get("chosen"),
                **{f"est_{k}": r.get("estimates", {}).get(k) for k in READINGS},
                "seconds": round(sec, 3), "cpu_seconds": round(cpu, 3),
            })
            print(f"{f.stem:50s} truth {truth:.3f} est {r.get('mi_nats', float('nan')):.3f} "
                  f"[{lo:.3f}, {hi:.3f}] {r.get('chosen')} {sec:.1f}s", flush=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
