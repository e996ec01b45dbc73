"""The bmi package's own KSG and CCA estimators on the dumped tasks (run under the bmi virtualenv).

    <venvs>/bmi/bin/python benchmarks/estimate/peer_bmi.py --cache <cache>/bmi --n 5000 --seeds 0 \
        --out benchmarks/estimate/results/raw

writes ``bmi-ksg_n<N>_s<seed>.csv`` (KSGEnsembleFirstEstimator, neighborhoods=(5,)) and
``bmi-cca_n<N>_s<seed>.csv`` (CCAMutualInformationEstimator), same columns as run.py (no interval).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--out", required=True)
    ap.add_argument("--estimators", default="ksg,cca")
    args = ap.parse_args()
    import bmi

    make = {
        "ksg": lambda: bmi.estimators.KSGEnsembleFirstEstimator(neighborhoods=(5,), n_jobs=1),
        "cca": lambda: bmi.estimators.CCAMutualInformationEstimator(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        files = sorted((Path(args.cache) / f"n{args.n}" / f"s{seed}").glob("*.npz"))
        for name in args.estimators.split(","):
            rows = []
            for f in files:
                with np.load(f, allow_pickle=False) as z:
                    x, y, truth = z["x"], z["y"], float(z["mi"])
                t0 = time.perf_counter()
                est = float(make[name]().estimate(x, y))
                sec = time.perf_counter() - t0
                rows.append({"task": f.stem, "seed": seed, "n": args.n, "estimator": f"bmi-{name}",
                             "truth": truth, "estimate": est, "low": "", "high": "", "chosen": "",
                             "seconds": round(sec, 3)})
                print(f"bmi-{name} {f.stem:50s} truth {truth:.3f} est {est:.3f} {sec:.1f}s", flush=True)
            with open(out / f"bmi-{name}_n{args.n}_s{seed}.csv", "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)


if __name__ == "__main__":
    main()
