"""Dump the 40 Beyond-Normal tasks (bmi 0.1.3) as seeded samples + true MI, one .npz per task and seed.

Runs under a separate virtualenv that has ``benchmark-mi==0.1.3`` and JAX (never the project's), e.g.:

    python3 -m venv <venvs>/bmi
    <venvs>/bmi/bin/pip install "benchmark-mi==0.1.3" "jax[cpu]==0.4.26" "jaxlib==0.4.26" "numpy<2"
    <venvs>/bmi/bin/python benchmarks/estimate/dump_bmi.py --out <cache>/bmi --n 5000 --seeds 0,1,2

Each file ``<out>/n<N>/s<seed>/<task id>.npz`` holds ``x`` (N, dx), ``y`` (N, dy), ``mi`` (true MI, nats),
``name`` and ``task`` (strings). ``<out>/tasks.csv`` lists the tasks (id, name, dx, dy, true MI).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="cache directory (outside the repository)")
    ap.add_argument("--n", type=int, default=5000, help="samples per task (default 5000)")
    ap.add_argument("--seeds", default="0", help="comma-separated sampling seeds (default 0)")
    ap.add_argument("--tasks", default="", help="comma-separated task ids (default: all 40)")
    args = ap.parse_args()
    import bmi

    tasks = bmi.benchmark.BENCHMARK_TASKS
    ids = [t for t in args.tasks.split(",") if t] or list(tasks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "tasks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "name", "dx", "dy", "mi"])
        for k, t in tasks.items():
            w.writerow([k, t.name, t.dim_x, t.dim_y, f"{t.mutual_information:.6f}"])
    for seed in (int(s) for s in args.seeds.split(",")):
        d = out / f"n{args.n}" / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        for k in ids:
            t = tasks[k]
            x, y = t.sample(args.n, seed=seed)
            tmp = d / f".{k}.tmp.npz"
            np.savez(tmp, x=np.asarray(x, np.float64), y=np.asarray(y, np.float64),
                     mi=np.float64(t.mutual_information), name=np.str_(t.name), task=np.str_(k))
            os.replace(tmp, d / f"{k}.npz")
            print(seed, k, flush=True)


if __name__ == "__main__":
    main()
