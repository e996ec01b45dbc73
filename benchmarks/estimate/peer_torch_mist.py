"""torch-mist 0.2.17's ``estimate_mi`` (SMILE, its README's call) on the dumped tasks, in its own virtualenv.

    <venvs>/torchmist/bin/python benchmarks/estimate/peer_torch_mist.py --cache <cache>/bmi --n 5000 \
        --seeds 100 --out benchmarks/estimate/results/raw

Settings: ``estimate_mi(data=(x, y), estimator="smile", hidden_dims=[256, 256], batch_size=128,
max_iterations=2000)``, the rest torch-mist's defaults (early stopping
on its validation split). Inputs standardized (z-score), one torch thread. Writes
``torch-mist-smile_n<N>_s<seed>.csv`` with the same columns as run.py (no interval).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-iterations", type=int, default=2000)
    args = ap.parse_args()
    from torch_mist import estimate_mi

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        rows = []
        for f in sorted((Path(args.cache) / f"n{args.n}" / f"s{seed}").glob("*.npz")):
            with np.load(f, allow_pickle=False) as z:
                x, y, truth = z["x"], z["y"], float(z["mi"])
            x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
            y = ((y - y.mean(0)) / y.std(0)).astype(np.float32)
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            est = estimate_mi(data=(x, y), estimator="smile", hidden_dims=[256, 256], batch_size=128,
                              max_iterations=args.max_iterations, verbose=False)
            est = float(est[0] if isinstance(est, tuple) else est)
            sec = time.perf_counter() - t0
            rows.append({"task": f.stem, "seed": seed, "n": args.n, "estimator": "torch-mist-smile",
                         "truth": truth, "estimate": est, "low": "", "high": "", "chosen": "",
                         "seconds": round(sec, 3)})
            print(f"torch-mist {f.stem:50s} truth {truth:.3f} est {est:.3f} {sec:.1f}s", flush=True)
        with open(out / f"torch-mist-smile_n{args.n}_s{seed}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
